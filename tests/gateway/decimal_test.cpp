#include "core/decimal.hpp"

#include <gtest/gtest.h>

namespace postern {
namespace {

struct LengthCase {
    std::string text;
    std::optional<std::uint64_t> expected;
};

class ParseLength : public ::testing::TestWithParam<LengthCase> {};

TEST_P(ParseLength, ReadsOnlyDigits) {
    EXPECT_EQ(parse_length(GetParam().text), GetParam().expected)
        << "\"" << GetParam().text << "\"";
}

INSTANTIATE_TEST_SUITE_P(
    Rfc9110, ParseLength,
    ::testing::Values(LengthCase{"0", 0}, LengthCase{"5", 5}, LengthCase{"007", 7},
                      LengthCase{"1073741824", 1073741824},
                      LengthCase{"9999999999999999999", 9999999999999999999ull},
                      LengthCase{"10000000000000000000", std::nullopt},  // 20 digits
                      LengthCase{"", std::nullopt}, LengthCase{"+5", std::nullopt},
                      LengthCase{"-5", std::nullopt}, LengthCase{" 5", std::nullopt},
                      LengthCase{"5 ", std::nullopt}, LengthCase{"5,5", std::nullopt},
                      LengthCase{"0x10", std::nullopt}, LengthCase{"\v5", std::nullopt}));

TEST(LeadingDigits, StopsAtTheFirstByteThatIsNotOne) {
    EXPECT_EQ(leading_digits(""), 0u);
    EXPECT_EQ(leading_digits("123"), 3u);
    EXPECT_EQ(leading_digits("12:3"), 2u);
    EXPECT_EQ(leading_digits("+1"), 0u);
    EXPECT_EQ(leading_digits("0x10"), 1u);
    EXPECT_EQ(leading_digits(std::string_view("4\0"
                                              "5",
                                              3)),
              1u);
}

}  // namespace
}  // namespace postern
