// adapters/scgi/codec: the encoder against exact bytes, the decoder
// table-driven (each input with its expected outcome), and every truncation
// point of a valid header.
#include "scgi/codec.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "corpus_replay.hpp"

namespace postern::scgi {
namespace {

using namespace std::string_literals;

// The example of the SCGI protocol text, section "Request format".
const std::string kSpecExample =
    "70:"
    "CONTENT_LENGTH\0"
    "27\0"
    "SCGI\0"
    "1\0"
    "REQUEST_METHOD\0"
    "POST\0"
    "REQUEST_URI\0"
    "/deepthought\0"
    ","
    "What is the answer to life?"s;

TEST(ScgiEncode, SpecExampleExactBytes) {
    const std::string out = encode_request({{"CONTENT_LENGTH", "27"},
                                            {"SCGI", "1"},
                                            {"REQUEST_METHOD", "POST"},
                                            {"REQUEST_URI", "/deepthought"}});
    EXPECT_EQ(out + "What is the answer to life?", kSpecExample);
}

TEST(ScgiEncode, EmptyValue) {
    EXPECT_EQ(encode_request({{"CONTENT_LENGTH", "0"}, {"SCGI", "1"}, {"X", ""}}),
              "27:CONTENT_LENGTH\0"
              "0\0SCGI\0"
              "1\0X\0\0,"s);
}

TEST(ScgiDecode, SpecExample) {
    Request req;
    const Result r = decode_request(kSpecExample, DecodeLimits{}, req);
    ASSERT_EQ(r.status, Status::done) << r.reason;
    EXPECT_EQ(r.consumed, kSpecExample.size() - 27);
    EXPECT_EQ(req.content_length, 27u);
    const std::vector<std::pair<std::string, std::string>> want = {{"CONTENT_LENGTH", "27"},
                                                                   {"SCGI", "1"},
                                                                   {"REQUEST_METHOD", "POST"},
                                                                   {"REQUEST_URI", "/deepthought"}};
    EXPECT_EQ(req.params, want);
}

TEST(ScgiDecode, EveryTruncationNeedsMore) {
    const std::size_t header = kSpecExample.size() - 27;
    for (std::size_t n = 0; n < header; ++n) {
        Request req;
        const Result r =
            decode_request(std::string_view(kSpecExample).substr(0, n), DecodeLimits{}, req);
        EXPECT_EQ(r.status, Status::need_more) << "at " << n << ": " << r.reason;
    }
}

TEST(ScgiDecode, EmptyValuesAreValid) {
    Request req;
    const Result r =
        decode_request(encode_request({{"CONTENT_LENGTH", "0"}, {"SCGI", "1"}, {"HTTP_X", ""}}),
                       DecodeLimits{}, req);
    ASSERT_EQ(r.status, Status::done) << r.reason;
    EXPECT_EQ(req.params.back(), (std::pair<std::string, std::string>{"HTTP_X", ""}));
}

TEST(ScgiDecode, RepeatedHeadersOnlyWhenAllowed) {
    const std::string in =
        encode_request({{"CONTENT_LENGTH", "0"}, {"SCGI", "1"}, {"HTTP_X", "a"}, {"HTTP_X", "b"}});
    Request req;
    EXPECT_EQ(decode_request(in, DecodeLimits{}, req).code, Error::duplicate_name);
    DecodeLimits lenient;
    lenient.allow_repeated_headers = true;
    const Result r = decode_request(in, lenient, req);
    ASSERT_EQ(r.status, Status::done) << r.reason;
    EXPECT_EQ(req.params.size(), 4u);
    // Never a repeated CGI variable.
    const std::string twice = encode_request(
        {{"CONTENT_LENGTH", "0"}, {"SCGI", "1"}, {"REQUEST_URI", "/a"}, {"REQUEST_URI", "/b"}});
    EXPECT_EQ(decode_request(twice, lenient, req).code, Error::duplicate_name);
}

struct BadCase {
    const char* name;
    std::string input;
    Error code;
    std::size_t offset;
};

void PrintTo(const BadCase& c, std::ostream* os) {
    *os << c.name;
}

class ScgiDecodeBad : public ::testing::TestWithParam<BadCase> {};

TEST_P(ScgiDecodeBad, IsRefused) {
    const BadCase& c = GetParam();
    DecodeLimits limits;
    limits.max_header_bytes = 1000;
    limits.max_params = 4;
    Request req;
    const Result r = decode_request(c.input, limits, req);
    EXPECT_EQ(r.status, Status::error);
    EXPECT_EQ(r.code, c.code) << error_name(r.code) << ": " << r.reason;
    EXPECT_EQ(r.offset, c.offset) << r.reason;
    EXPECT_FALSE(r.reason.empty());
}

const std::string kCl0 =
    "CONTENT_LENGTH\0"
    "0\0"s;
const std::string kScgi =
    "SCGI\0"
    "1\0"s;

std::string net(const std::string& block) {
    return std::to_string(block.size()) + ":" + block + ",";
}

INSTANTIATE_TEST_SUITE_P(
    Table, ScgiDecodeBad,
    ::testing::Values(
        BadCase{"http_request", "GET / HTTP/1.1\r\n", Error::bad_length, 0},
        BadCase{"empty_length", ":" + kCl0 + kScgi + ",", Error::bad_length, 0},
        BadCase{"leading_zero", "023:" + kCl0 + kScgi + ",", Error::leading_zero, 0},
        BadCase{"sign", "+23:", Error::bad_length, 0},
        BadCase{"over_limit", "1001:", Error::header_too_large, 0},
        BadCase{"eleven_digits", "12345678901", Error::header_too_large, 0},
        BadCase{"no_comma", "23:" + kCl0 + kScgi + ";", Error::missing_comma, 26},
        BadCase{"empty_block", "0:,", Error::content_length_first, 2},
        BadCase{"not_first", net(kScgi + kCl0), Error::content_length_first, 3},
        BadCase{"cl_missing_value", net("CONTENT_LENGTH\0"s), Error::bad_pair, 18},
        BadCase{"cl_empty", net("CONTENT_LENGTH\0\0"s + kScgi), Error::bad_content_length, 18},
        BadCase{"cl_letters",
                net("CONTENT_LENGTH\0"
                    "1x\0"s +
                    kScgi),
                Error::bad_content_length, 19},
        BadCase{"cl_negative",
                net("CONTENT_LENGTH\0"
                    "-1\0"s +
                    kScgi),
                Error::bad_content_length, 18},
        BadCase{"cl_twenty_digits",
                net("CONTENT_LENGTH\0"
                    "12345678901234567890\0"s +
                    kScgi),
                Error::bad_content_length, 18},
        BadCase{"no_scgi", net(kCl0), Error::scgi_version, 20},
        BadCase{"scgi_2",
                net(kCl0 + "SCGI\0"
                           "2\0"s),
                Error::scgi_version, 25},
        BadCase{"empty_name", net(kCl0 + kScgi + "\0x\0"s), Error::bad_pair, 27},
        BadCase{"value_without_nul", net(kCl0 + kScgi + "A\0x"s), Error::bad_pair, 29},
        BadCase{"duplicate", net(kCl0 + kScgi + kScgi), Error::duplicate_name, 27},
        BadCase{"too_many", net(kCl0 + kScgi + "A\0\0B\0\0C\0\0"s), Error::too_many_params, 33}),
    [](const auto& info) { return std::string(info.param.name); });

// ---------------------------------------------------------------- corpus
// Requests recorded from nginx 1.22.1 (scgi_pass with postern_scgi_params)
// and Apache 2.4.71 (mod_proxy_scgi with postern-proxy-scgi.conf), as
// shipped, on Debian 12: tests/data/scgi/, replayed by
// tests/support/corpus_replay.hpp.

/// The decoder as the adapter uses it.
struct ScgiCodec {
    static constexpr std::string_view kDataDir = "scgi";
    using Request = scgi::Request;
    static Result decode(std::string_view bytes, Request& req) {
        DecodeLimits limits;
        limits.allow_repeated_headers = true;  // as the adapter decodes
        return decode_request(bytes, limits, req);
    }
    static std::uint64_t content_length(const Request& req) { return req.content_length; }
    static void check_protocol(const Request& req) {
        EXPECT_EQ(req.params.front().first, "CONTENT_LENGTH");
        EXPECT_EQ(test::values_of(req.params, "SCGI"), std::vector<std::string>{"1"});
    }
};

using ScgiCorpus = test::CorpusReplay<ScgiCodec>;

TEST_P(ScgiCorpus, Whole) {
    replay_whole();
}
TEST_P(ScgiCorpus, OneByteAtATime) {
    replay_one_byte_at_a_time();
}
TEST_P(ScgiCorpus, SplitAtEveryOffset) {
    replay_split_at_every_offset();
}

INSTANTIATE_TEST_SUITE_P(Recorded, ScgiCorpus, ::testing::ValuesIn(test::kOneRequestRecordings),
                         test::recorded_name);

// The netstring length, read through core/decimal.hpp: a prefix is refused
// with what a digit-by-digit reading meets first, and a prefix that could
// still be valid waits for more.
TEST(ScgiNetstringLength, EveryPrefixIsJudgedAsADigitByDigitReadingWould) {
    struct Case {
        std::string in;
        Status status;
        Error code;
        std::size_t offset;
    };
    DecodeLimits big;
    big.max_header_bytes = std::size_t{1} << 40;
    for (const Case& c : {Case{"0", Status::need_more, Error::none, 0},
                          Case{"1234567890", Status::need_more, Error::none, 0},
                          Case{"12345678901", Status::error, Error::header_too_large, 10},
                          Case{"1234567890x", Status::error, Error::bad_length, 10},
                          Case{"05", Status::error, Error::leading_zero, 0},
                          Case{"0x", Status::error, Error::bad_length, 1},
                          Case{"12a", Status::error, Error::bad_length, 2},
                          Case{":", Status::error, Error::bad_length, 0}}) {
        Request req;
        const Result r = decode_request(c.in, big, req);
        EXPECT_EQ(r.status, c.status) << c.in;
        EXPECT_EQ(r.code, c.code) << c.in << ": " << r.reason;
        EXPECT_EQ(r.offset, c.offset) << c.in << ": " << r.reason;
    }
}

}  // namespace
}  // namespace postern::scgi
