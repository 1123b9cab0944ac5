// adapters/uwsgi/codec and response_head: encoders against exact bytes, the
// decoder table-driven (each input with its expected outcome), and every
// truncation point of a valid packet.
#include "uwsgi/codec.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "corpus_replay.hpp"
#include "uwsgi/response_head.hpp"

namespace postern::uwsgi {
namespace {

using namespace std::string_literals;

TEST(UwsgiEncode, ExactBytes) {
    // modifier1 0, datasize 21 (0x15 0x00), modifier2 0; then
    // 0E 00 "REQUEST_METHOD" 03 00 "GET".
    EXPECT_EQ(encode_request({{"REQUEST_METHOD", "GET"}}),
              "\x00\x15\x00\x00"
              "\x0E\x00REQUEST_METHOD\x03\x00GET"s);
    EXPECT_EQ(encode_request({}, 5, 0), "\x05\x00\x00\x00"s);
}

TEST(UwsgiEncode, ResponseHeadExactBytes) {
    const HeaderList headers = {{"Content-Type", "text/plain"}, {"X-A", "1"}};
    ResponseHead head;
    head.status = 404;
    head.headers = &headers;
    head.content_length = 10;
    EXPECT_EQ(encode_response_head(head),
              "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nX-A: 1\r\n"
              "Content-Length: 10\r\n\r\n");
    head.status = 200;
    head.content_length.reset();
    EXPECT_EQ(encode_response_head(head),
              "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-A: 1\r\n\r\n");
    head.status = 304;
    head.content_length = 5;
    EXPECT_EQ(encode_response_head(head),
              "HTTP/1.1 304 Not Modified\r\nContent-Type: text/plain\r\nX-A: 1\r\n\r\n");
}

const std::vector<std::pair<std::string, std::string>> kVars = {
    {"REQUEST_METHOD", "POST"},
    {"REQUEST_URI", "/app/x?y=1"},
    {"CONTENT_LENGTH", "5"},
    {"HTTP_X", "a"},
    {"HTTP_X", "b"},
    {"EMPTY", ""},
};

TEST(UwsgiDecode, RoundTrip) {
    const std::string in = encode_request(kVars) + "hello";
    Request req;
    const Result r = decode_request(in, DecodeLimits{}, req);
    ASSERT_EQ(r.status, Status::done) << r.reason;
    EXPECT_EQ(r.consumed, in.size() - 5);
    EXPECT_EQ(req.params, kVars);  // repeated keys kept, empty values valid
    EXPECT_EQ(req.content_length, 5u);
}

TEST(UwsgiDecode, EveryTruncationNeedsMore) {
    const std::string in = encode_request(kVars);
    for (std::size_t n = 0; n < in.size(); ++n) {
        Request req;
        const Result r = decode_request(std::string_view(in).substr(0, n), DecodeLimits{}, req);
        EXPECT_EQ(r.status, Status::need_more) << "at " << n << ": " << r.reason;
    }
}

TEST(UwsgiDecode, NoContentLengthIsNoBody) {
    Request req;
    ASSERT_EQ(decode_request(encode_request({{"REQUEST_METHOD", "GET"}, {"CONTENT_LENGTH", ""}}),
                             DecodeLimits{}, req)
                  .status,
              Status::done);
    EXPECT_FALSE(req.content_length.has_value());
}

TEST(UwsgiDecode, TheLargestBlockNginxSends) {
    // 65,535 bytes of variables: one value of 65,535 - 2 - 1 - 2 bytes.
    const std::string big(kMaxDataSize - 5, 'v');
    const std::string in = encode_request({{"X", big}});
    ASSERT_EQ(in.size(), kHeaderSize + kMaxDataSize);
    Request req;
    const Result r = decode_request(in, DecodeLimits{}, req);
    ASSERT_EQ(r.status, Status::done) << r.reason;
    EXPECT_EQ(req.params.at(0).second.size(), big.size());
}

TEST(UwsgiDecode, VariablesAreDataOnly) {
    // uWSGI's magic variables are plain variables here.
    Request req;
    ASSERT_EQ(decode_request(encode_request({{"UWSGI_FILE", "/tmp/evil.py"},
                                             {"UWSGI_SETENV", "LD_PRELOAD=/tmp/x.so"}}),
                             DecodeLimits{}, req)
                  .status,
              Status::done);
    EXPECT_EQ(req.params.size(), 2u);
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

class UwsgiDecodeBad : public ::testing::TestWithParam<BadCase> {};

TEST_P(UwsgiDecodeBad, IsRefused) {
    const BadCase& c = GetParam();
    DecodeLimits limits;
    limits.max_header_bytes = 1000;
    limits.max_params = 3;
    Request req;
    const Result r = decode_request(c.input, limits, req);
    EXPECT_EQ(r.status, Status::error);
    EXPECT_EQ(r.code, c.code) << error_name(r.code) << ": " << r.reason;
    EXPECT_EQ(r.offset, c.offset) << r.reason;
    EXPECT_FALSE(r.reason.empty());
}

std::string packet(const std::string& block) {
    return "\x00"s + static_cast<char>(block.size() & 0xFF) + static_cast<char>(block.size() >> 8) +
           "\x00"s + block;
}

INSTANTIATE_TEST_SUITE_P(
    Table, UwsgiDecodeBad,
    ::testing::Values(BadCase{"http_request", "GET / HTTP/1.1\r\n", Error::bad_modifier1, 0},
                      BadCase{"psgi_first_byte_only", "\x05", Error::bad_modifier1, 0},
                      BadCase{"modifier2", "\x00\x00\x00\x01"s, Error::bad_modifier2, 3},
                      BadCase{"over_limit", "\x00\xE9\x03\x00"s, Error::header_too_large, 1},
                      BadCase{"key_length_cut", packet("\x01"), Error::truncated, 4},
                      BadCase{"key_cut",
                              packet("\x05\x00"
                                     "AB"s),
                              Error::truncated, 4},
                      BadCase{"value_length_cut",
                              packet("\x01\x00"
                                     "A\x01"s),
                              Error::truncated, 7},
                      BadCase{"value_cut",
                              packet("\x01\x00"
                                     "A\x05\x00"
                                     "xy"s),
                              Error::truncated, 7},
                      BadCase{"empty_key", packet("\x00\x00\x00\x00"s), Error::empty_name, 4},
                      BadCase{"cl_letters", encode_request({{"CONTENT_LENGTH", "1x"}}),
                              Error::bad_content_length, 23},
                      BadCase{"cl_twenty_digits",
                              encode_request({{"CONTENT_LENGTH", "12345678901234567890"}}),
                              Error::bad_content_length, 22},
                      BadCase{"too_many",
                              encode_request({{"A", ""}, {"B", ""}, {"C", ""}, {"D", ""}}),
                              Error::too_many_params, 19}),
    [](const auto& info) { return std::string(info.param.name); });

// ---------------------------------------------------------------- corpus
// Requests recorded from nginx 1.22.1 (uwsgi_pass with postern_uwsgi_params)
// and Apache 2.4.71 (mod_proxy_uwsgi with postern-proxy-uwsgi.conf), as
// shipped, on Debian 12: tests/data/uwsgi/, replayed by
// tests/support/corpus_replay.hpp.

/// The decoder as the adapter uses it.
struct UwsgiCodec {
    static constexpr std::string_view kDataDir = "uwsgi";
    using Request = uwsgi::Request;
    static Result decode(std::string_view bytes, Request& req) {
        return decode_request(bytes, DecodeLimits{}, req);
    }
    static std::uint64_t content_length(const Request& req) {
        return req.content_length.value_or(0);
    }
    static void check_protocol(const Request&) {}
};

using UwsgiCorpus = test::CorpusReplay<UwsgiCodec>;

TEST_P(UwsgiCorpus, Whole) {
    replay_whole();
}
TEST_P(UwsgiCorpus, OneByteAtATime) {
    replay_one_byte_at_a_time();
}
TEST_P(UwsgiCorpus, SplitAtEveryOffset) {
    replay_split_at_every_offset();
}

INSTANTIATE_TEST_SUITE_P(Recorded, UwsgiCorpus, ::testing::ValuesIn(test::kOneRequestRecordings),
                         test::recorded_name);

}  // namespace
}  // namespace postern::uwsgi
