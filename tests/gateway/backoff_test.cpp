#include "core/backoff.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace postern {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(Backoff, FirstDeathIsReplacedAtOnceThenDoublingUpToTheCap) {
    Backoff b(milliseconds(100), milliseconds(1000), seconds(10));
    std::vector<long> got;
    for (int i = 0; i < 8; ++i)
        got.push_back(static_cast<long>(b.failure(milliseconds(5)).count()));
    EXPECT_EQ(got, (std::vector<long>{0, 100, 200, 400, 800, 1000, 1000, 1000}));
    EXPECT_EQ(b.streak(), 8u);
}

TEST(Backoff, AWorkerThatServedLongEnoughEndsTheStreak) {
    Backoff b(milliseconds(100), milliseconds(1000), seconds(10));
    b.failure(milliseconds(0));
    b.failure(milliseconds(0));
    EXPECT_EQ(b.failure(milliseconds(0)).count(), 200);
    // Crashed after ten seconds of service: a crash, not a crash loop.
    EXPECT_EQ(b.failure(seconds(10)).count(), 0);
    EXPECT_EQ(b.streak(), 1u);
    EXPECT_EQ(b.failure(seconds(9)).count(), 100);
}

TEST(Backoff, DefaultsAreBoundedAndNeverOverflow) {
    Backoff b;
    milliseconds last{};
    for (int i = 0; i < 200; ++i)
        last = b.failure(milliseconds(0));
    EXPECT_EQ(last, milliseconds(10'000));
    EXPECT_EQ(b.streak(), 200u);
}

}  // namespace
}  // namespace postern
