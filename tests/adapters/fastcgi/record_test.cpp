// adapters/fastcgi/record.cpp: the name-value pair decoder and the split of
// a request's head into its params and the records libfcgi reads.
#include "fastcgi/record.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fcgi_client.hpp"

namespace postern::fastcgi {
namespace {

namespace wire = postern::test::fcgi;

using Pairs = std::vector<std::pair<std::string, std::string>>;

/// Every pair of `bytes`, and what was left when no whole pair was.
std::pair<Pairs, std::string> decode_all(std::string_view bytes) {
    Pairs out;
    std::string_view name;
    std::string_view value;
    while (take_name_value(bytes, name, value))
        out.emplace_back(name, value);
    return {out, std::string(bytes)};
}

TEST(NameValue, OneAndFourByteLengthsDecodeAsEncoded) {
    const std::string long_value(300, 'v');
    const std::string long_name(128, 'N');
    std::string bytes;
    append_name_value(bytes, "REQUEST_METHOD", "GET");
    append_name_value(bytes, "HTTP_X", long_value);
    append_name_value(bytes, long_name, "");
    append_name_value(bytes, "EMPTY", "");
    append_name_value(bytes, std::string("NUL\0NAME", 8), std::string("a\0b=c", 5));
    const auto [pairs, left] = decode_all(bytes);
    const Pairs expected{{"REQUEST_METHOD", "GET"},
                         {"HTTP_X", long_value},
                         {long_name, ""},
                         {"EMPTY", ""},
                         {std::string("NUL\0NAME", 8), std::string("a\0b=c", 5)}};
    EXPECT_EQ(pairs, expected);
    EXPECT_EQ(left, "");
}

TEST(NameValue, APairCutAnywhereIsNotTakenAndNothingIsConsumed) {
    std::string pair;
    append_name_value(pair, "SCRIPT_FILENAME", std::string(200, 'x'));
    for (std::size_t cut = 0; cut < pair.size(); ++cut) {
        std::string_view in(pair.data(), cut);
        std::string_view name = "untouched";
        std::string_view value = "untouched";
        EXPECT_FALSE(take_name_value(in, name, value)) << "cut at " << cut;
        EXPECT_EQ(in.size(), cut) << "cut at " << cut;
        EXPECT_EQ(name, "untouched");
        EXPECT_EQ(value, "untouched");
    }
}

TEST(NameValue, LengthsPastTheBytesAreNotTaken) {
    // A four-byte length of 0x7fffffff for the name, one byte for the
    // value: the sum must not wrap into something that fits.
    std::string in("\xff\xff\xff\xff\x01xy", 7);
    std::string_view view = in;
    std::string_view name;
    std::string_view value;
    EXPECT_FALSE(take_name_value(view, name, value));
    std::string one("\x05\x7f", 2);
    one += "abc";
    view = one;
    EXPECT_FALSE(take_name_value(view, name, value));
}

/// The records around the params: BEGIN_REQUEST and the empty PARAMS.
struct Head {
    std::string begin = wire::begin_request(1, true);
    std::string end_params = wire::record(kParams, 1, "");
};

TEST(TakeParams, ParamsSplitAcrossPaddedRecordsComeOutWholeAndTheRestIsKept) {
    std::string pairs;
    append_name_value(pairs, "REQUEST_METHOD", "POST");
    append_name_value(pairs, "HTTP_COOKIE", std::string(150, 'c'));
    append_name_value(pairs, "CONTENT_LENGTH", "4");
    // Records of 7 bytes of content and 3 of padding: every pair spans a
    // boundary, the four-byte length too.
    std::string records;
    for (std::size_t at = 0; at < pairs.size(); at += 7)
        records += wire::record(kParams, 1, std::string_view(pairs).substr(at, 7), 3);
    const Head h;
    const std::string abort = wire::record(kAbortRequest, 1, "");
    const std::string body = wire::stdin_stream(1, "body");
    // The abort record between the first params record and the second.
    const std::size_t first = kHeaderLength + 7 + 3;
    std::string bytes =
        h.begin + records.substr(0, first) + abort + records.substr(first) + h.end_params + body;
    std::string params;
    ASSERT_TRUE(take_params(bytes, params));
    EXPECT_EQ(params, pairs);
    EXPECT_EQ(bytes, h.begin + abort + h.end_params + body)
        << "every record but the params', as it was";
}

TEST(TakeParams, OneRecordAsNginxSendsIt) {
    std::string pairs;
    append_name_value(pairs, "REQUEST_METHOD", "GET");
    append_name_value(pairs, "REQUEST_URI", "/hello");
    const Head h;
    std::string out;
    append_record(out, kParams, 1, pairs);  // padded to a multiple of 8
    std::string bytes = h.begin + out + h.end_params;
    std::string params;
    ASSERT_TRUE(take_params(bytes, params));
    EXPECT_EQ(params, pairs);
    EXPECT_EQ(bytes, h.begin + h.end_params);
}

TEST(TakeParams, NoParamsAtAllLeavesTheBytesAlone) {
    const Head h;
    const std::string whole = h.begin + h.end_params + wire::stdin_stream(1, "");
    std::string bytes = whole;
    std::string params;
    ASSERT_TRUE(take_params(bytes, params));
    EXPECT_EQ(params, "");
    EXPECT_EQ(bytes, whole);
}

TEST(TakeParams, AHeadCutAnywhereIsNotTakenAndTheBytesStayAsTheyWere) {
    std::string pairs;
    append_name_value(pairs, "REQUEST_METHOD", "GET");
    const Head h;
    // Padding on the empty record too: the head ends after it.
    const std::string whole =
        h.begin + wire::record(kParams, 1, pairs, 5) + wire::record(kParams, 1, "", 4);
    for (std::size_t cut = 0; cut < whole.size(); ++cut) {
        std::string bytes = whole.substr(0, cut);
        std::string params;
        EXPECT_FALSE(take_params(bytes, params)) << "cut at " << cut;
        EXPECT_EQ(bytes, whole.substr(0, cut)) << "cut at " << cut;
    }
    std::string bytes = whole;
    std::string params;
    ASSERT_TRUE(take_params(bytes, params));
    EXPECT_EQ(params, pairs);
    EXPECT_EQ(bytes, h.begin + wire::record(kParams, 1, "", 4));
}

}  // namespace
}  // namespace postern::fastcgi
