// Tests gateway/src/toolkit/params.cpp: urlencoded decoding and typed access.
#include "postern/params.hpp"

#include <gtest/gtest.h>

#include <climits>
#include <string>
#include <vector>

#include "postern/request.hpp"

namespace postern {
namespace {

using Pairs = std::vector<Params::value_type>;

Pairs pairs_of(const Params& p) {
    return Pairs(p.begin(), p.end());
}

/// The status and reason of the RequestError `f` throws.
template <class F>
std::pair<int, std::string> refusal(F&& f) {
    try {
        f();
    } catch (const RequestError& e) {
        return {e.status(), e.what()};
    }
    ADD_FAILURE() << "expected RequestError";
    return {0, ""};
}

struct Decoding {
    std::string input;
    Pairs expected;
};

class UrlencodedDecodes : public testing::TestWithParam<Decoding> {};

TEST_P(UrlencodedDecodes, AsTheFormEncodingSays) {
    EXPECT_EQ(pairs_of(Params::parse_urlencoded(GetParam().input)), GetParam().expected)
        << GetParam().input;
}

INSTANTIATE_TEST_SUITE_P(
    Params, UrlencodedDecodes,
    testing::Values(Decoding{"", {}}, Decoding{"a=1", {{"a", "1"}}},
                    Decoding{"a=1&b=x+y&c=%41", {{"a", "1"}, {"b", "x y"}, {"c", "A"}}},
                    // '+' is a space, an encoded '+' is a plus, in names too.
                    Decoding{"a+b=c%2Bd", {{"a b", "c+d"}}},
                    // A name without '=' has the empty value; "=" alone the empty name.
                    Decoding{"flag&x=", {{"flag", ""}, {"x", ""}}}, Decoding{"=v", {{"", "v"}}},
                    // Empty pieces between '&' are skipped.
                    Decoding{"&&a=1&&&b=2&", {{"a", "1"}, {"b", "2"}}},
                    // Only the first '=' splits; the rest belongs to the value.
                    Decoding{"a=b=c", {{"a", "b=c"}}},
                    // Order and repeats are kept.
                    Decoding{"x=2&y=1&x=1", {{"x", "2"}, {"y", "1"}, {"x", "1"}}},
                    // Lower- and upper-case hex digits; bytes above 0x7F as they are
                    // (UTF-8 "é"), not checked as UTF-8.
                    Decoding{"e=%c3%A9&raw=%FF", {{"e", "\xc3\xa9"}, {"raw", "\xff"}}},
                    // ';' is no separator (WHATWG URL §5.1), '?' and '/' are bytes.
                    Decoding{"a=1;b=2&c=?/", {{"a", "1;b=2"}, {"c", "?/"}}}));

TEST(Params, PercentZeroZeroDecodesToANulByte) {
    // Decided: %00 is a byte like any other, kept (values are sized, not
    // NUL-terminated); an application passing a value to a C API checks.
    const Params p = Params::parse_urlencoded("a=x%00y");
    ASSERT_TRUE(p.get("a"));
    EXPECT_EQ(*p.get("a"), std::string_view("x\0y", 3));
}

class MalformedEscape : public testing::TestWithParam<std::string> {};

TEST_P(MalformedEscape, IsRefusedWith400NamingTheByte) {
    const auto [status, reason] = refusal([&] { Params::parse_urlencoded(GetParam()); });
    EXPECT_EQ(status, 400) << GetParam();
    EXPECT_NE(reason.find("byte"), std::string::npos) << reason;
}

INSTANTIATE_TEST_SUITE_P(Params, MalformedEscape,
                         testing::Values("%", "a=%", "a=%4", "a=%zz", "a=%4g", "%zz=1", "a=1&b=%",
                                         "a=%%41", "a=%+1", "a=% 1", "a=%-1"));

TEST(Params, TheReasonGivesTheOffsetNotTheInput) {
    const std::string input = "ok=1&bad=" + std::string(100, 'x') + "%4";
    const auto [status, reason] = refusal([&] { Params::parse_urlencoded(input); });
    EXPECT_EQ(status, 400);
    EXPECT_NE(reason.find("byte 109"), std::string::npos) << reason;
    EXPECT_EQ(reason.find("xxxx"), std::string::npos) << "the client's bytes stay out: " << reason;
    const auto [status2, reason2] = refusal([] { Params::parse_urlencoded("a=%zz"); });
    EXPECT_NE(reason2.find("byte 2"), std::string::npos) << reason2;
}

std::string pairs_query(std::size_t n) {
    std::string q;
    for (std::size_t i = 0; i < n; ++i)
        q += (i ? "&k" : "k") + std::to_string(i) + "=v";
    return q;
}

TEST(Params, TenThousandPairsAreRefusedByDefault) {
    const std::string q = pairs_query(10'000);
    const auto [status, reason] = refusal([&] { Params::parse_urlencoded(q); });
    EXPECT_EQ(status, 400);
    EXPECT_NE(reason.find("1000"), std::string::npos) << reason;
}

TEST(Params, TenThousandPairsAreTakenWhenTheBoundAllows) {
    const Params p = Params::parse_urlencoded(pairs_query(10'000), 10'000);
    EXPECT_EQ(p.size(), 10'000u);
    EXPECT_EQ(p.get("k9999"), "v");
    EXPECT_THROW(Params::parse_urlencoded(pairs_query(10'001), 10'000), RequestError);
}

TEST(Params, TheBoundCountsPairsNotEmptyPieces) {
    EXPECT_EQ(Params::parse_urlencoded(std::string(5000, '&') + "a=1&b=2", 2).size(), 2u);
    EXPECT_EQ(Params::parse_urlencoded(pairs_query(Params::kMaxPairs)).size(), Params::kMaxPairs);
    EXPECT_THROW(Params::parse_urlencoded(pairs_query(Params::kMaxPairs + 1)), RequestError);
}

TEST(Params, GetAllAndFallback) {
    const Params p = Params::parse_urlencoded("x=2&y=&x=1");
    EXPECT_EQ(p.get("x"), "2");
    EXPECT_EQ(p.get("y"), "");
    EXPECT_FALSE(p.get("z").has_value());
    EXPECT_EQ(p.get("z", "none"), "none");
    EXPECT_EQ(p.get("y", "none"), "") << "present but empty is not absent";
    EXPECT_EQ(p.all("x"), (std::vector<std::string_view>{"2", "1"}));
    EXPECT_TRUE(p.all("z").empty());
    EXPECT_TRUE(p.contains("y"));
    EXPECT_FALSE(p.contains("X")) << "names are case-sensitive";
}

TEST(Params, GetIntReadsDecimalIntegers) {
    const Params p = Params::parse_urlencoded(
        "a=42&b=-7&c=007&d=9223372036854775807&e=-9223372036854775808&f=0&g=-0");
    EXPECT_EQ(p.get_int("a", 0), 42);
    EXPECT_EQ(p.get_int("b", 0), -7);
    EXPECT_EQ(p.get_int("c", 0), 7);
    EXPECT_EQ(p.get_int("d", 0), LLONG_MAX);
    EXPECT_EQ(p.get_int("e", 0), LLONG_MIN);
    EXPECT_EQ(p.get_int("f", 1), 0);
    EXPECT_EQ(p.get_int("g", 1), 0);
    EXPECT_EQ(p.get_int("missing", 5), 5);
    EXPECT_EQ(p.get_int("missing", 500, 1, 10), 500) << "the fallback is the caller's, unchecked";
    EXPECT_EQ(p.get_int("a", 0, 42, 42), 42) << "the bounds are inclusive";
}

class GetIntMalformed : public testing::TestWithParam<std::string> {};

TEST_P(GetIntMalformed, IsRefusedWith400NamingTheParameter) {
    const Params p({{"page", GetParam()}});
    const auto [status, reason] = refusal([&] { p.get_int("page", 1); });
    EXPECT_EQ(status, 400) << GetParam();
    EXPECT_NE(reason.find("parameter \"page\""), std::string::npos) << reason;
}

INSTANTIATE_TEST_SUITE_P(Params, GetIntMalformed,
                         testing::Values("", "-", "+1", " 1", "1 ", "12abc", "0x10", "1e3", "1.0",
                                         "--1", "١", std::string("1\0", 2),
                                         // One past each end of long long.
                                         "9223372036854775808", "-9223372036854775809",
                                         "99999999999999999999999999"));

TEST(Params, GetIntOutOfRangeIs400) {
    const Params p = Params::parse_urlencoded("n=11&m=-1");
    const auto [status, reason] = refusal([&] { p.get_int("n", 1, 1, 10); });
    EXPECT_EQ(status, 400);
    EXPECT_NE(reason.find("parameter \"n\""), std::string::npos) << reason;
    EXPECT_NE(reason.find("[1, 10]"), std::string::npos) << reason;
    EXPECT_THROW(p.get_int("m", 1, 0, 10), RequestError);
    EXPECT_EQ(p.get_int("m", 1, -1, 10), -1);
}

}  // namespace
}  // namespace postern
