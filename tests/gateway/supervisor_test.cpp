#include "core/supervisor.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <set>

namespace postern {
namespace {

TEST(RecycleAfter, ZeroMeansNever) {
    EXPECT_EQ(recycle_after(0, 0, 12345), 0u);
    EXPECT_EQ(recycle_after(0, 100, 12345), 0u);
}

TEST(RecycleAfter, WithoutJitterItIsTheLimit) {
    EXPECT_EQ(recycle_after(1000, 0, 0), 1000u);
    EXPECT_EQ(recycle_after(1000, 0, UINT64_MAX), 1000u);
}

TEST(RecycleAfter, JitterStaysWithinItsBoundsAndCoversThem) {
    std::mt19937_64 random(20240611);  // fixed seed: the same run every time
    std::set<std::uint64_t> seen;
    for (int i = 0; i < 2000; ++i) {
        const std::uint64_t n = recycle_after(1000, 10, random());
        ASSERT_GE(n, 1000u);
        ASSERT_LE(n, 1010u);
        seen.insert(n);
    }
    EXPECT_EQ(seen.size(), 11u) << "every value from 1000 to 1010 comes up";
    EXPECT_EQ(recycle_after(1000, 10, 10), 1010u);
    EXPECT_EQ(recycle_after(1000, 10, 11), 1000u);
}

TEST(RecycleAfter, Saturates) {
    EXPECT_EQ(recycle_after(UINT64_MAX - 1, 10, 5), UINT64_MAX);
    EXPECT_EQ(recycle_after(5, UINT64_MAX, UINT64_MAX), UINT64_MAX);
    EXPECT_EQ(recycle_after(5, UINT64_MAX, 7), 12u);
}

}  // namespace
}  // namespace postern
