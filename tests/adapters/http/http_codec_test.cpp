// Tests adapters/http/http_codec.cpp: the request head parser and the
// chunked decoder, byte by byte, as a spec: each input with its outcome.
#include "http/http_codec.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <ostream>
#include <random>
#include <string>
#include <vector>

namespace postern::http {
namespace {

HeadResult parse(std::string_view in, RequestHead& head, HeadLimits limits = {}) {
    return parse_request_head(in, limits, head);
}

// --- Valid heads -----------------------------------------------------------

TEST(HttpHeadParser, ParsesAMinimalGet) {
    const std::string in = "GET /a/b?c=d HTTP/1.1\r\nHost: example.com\r\n\r\n";
    RequestHead h;
    HeadResult r = parse(in, h);
    ASSERT_EQ(r.status, Status::done) << r.reason;
    EXPECT_EQ(r.consumed, in.size());
    EXPECT_EQ(h.method, "GET");
    EXPECT_EQ(h.target, "/a/b?c=d");
    EXPECT_EQ(h.path, "/a/b?c=d");
    EXPECT_EQ(h.authority, "example.com");
    EXPECT_EQ(h.minor, 1);
    EXPECT_EQ(h.framing, Framing::none);
    EXPECT_TRUE(h.keep_alive);
    EXPECT_FALSE(h.expect_continue);
    ASSERT_EQ(h.fields.size(), 1u);
    EXPECT_EQ(h.fields[0].name, "Host");
    EXPECT_EQ(h.fields[0].value, "example.com");
}

TEST(HttpHeadParser, StopsAtTheEndOfTheHead) {
    const std::string head = "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n";
    RequestHead h;
    HeadResult r = parse(head + "helloGET / HTTP/1.1\r\n", h);
    ASSERT_EQ(r.status, Status::done) << r.reason;
    EXPECT_EQ(r.consumed, head.size());
    EXPECT_EQ(h.framing, Framing::length);
    EXPECT_EQ(h.content_length, 5u);
}

TEST(HttpHeadParser, KeepsRepeatedFieldsApartAndValuesRaw) {
    const std::string in =
        "GET / HTTP/1.1\r\nHost: h\r\nCookie: a=1\r\nX-Y:   spaced value \t\r\nCookie: b=2\r\n"
        "X-Enc: =?UTF-8?B?SGVsbG8=?=\r\n\r\n";
    RequestHead h;
    ASSERT_EQ(parse(in, h).status, Status::done);
    ASSERT_EQ(h.fields.size(), 5u);
    EXPECT_EQ(h.fields[1].value, "a=1");
    EXPECT_EQ(h.fields[2].value, "spaced value");
    EXPECT_EQ(h.fields[3].value, "b=2");
    EXPECT_EQ(h.fields[4].value, "=?UTF-8?B?SGVsbG8=?=");  // no RFC 2047 decoding
}

TEST(HttpHeadParser, SkipsEmptyLinesBeforeTheRequestLine) {
    // RFC 9112 §2.2.
    const std::string in = "\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
    RequestHead h;
    HeadResult r = parse(in, h);
    ASSERT_EQ(r.status, Status::done);
    EXPECT_EQ(r.consumed, in.size());
    RequestHead h2;
    HeadResult only = parse("\r\n\r\n", h2);
    EXPECT_EQ(only.status, Status::need_more);
    EXPECT_EQ(only.consumed, 4u);
}

TEST(HttpHeadParser, ReadsChunkedFraming) {
    RequestHead h;
    ASSERT_EQ(parse("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n", h).status,
              Status::done);
    EXPECT_EQ(h.framing, Framing::chunked);
}

TEST(HttpHeadParser, ZeroLengthMeansNoBody) {
    RequestHead h;
    ASSERT_EQ(parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 000\r\n\r\n", h).status,
              Status::done);
    EXPECT_EQ(h.framing, Framing::none);
}

TEST(HttpHeadParser, KeepAliveFollowsVersionAndConnection) {
    struct Case {
        std::string head;
        bool keep;
    };
    const std::vector<Case> cases = {
        {"GET / HTTP/1.1\r\nHost: h\r\n\r\n", true},
        {"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", false},
        {"GET / HTTP/1.1\r\nHost: h\r\nConnection: TE, Close\r\n\r\n", false},
        {"GET / HTTP/1.0\r\n\r\n", false},
        {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
        {"GET / HTTP/1.0\r\nConnection: Keep-Alive, close\r\n\r\n", false},
    };
    for (const auto& c : cases) {
        RequestHead h;
        ASSERT_EQ(parse(c.head, h).status, Status::done) << c.head;
        EXPECT_EQ(h.keep_alive, c.keep) << c.head;
    }
}

TEST(HttpHeadParser, ExpectContinueOnlyWithABodyInHttp11) {
    RequestHead h;
    ASSERT_EQ(
        parse("PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: 100-Continue\r\n\r\n", h)
            .status,
        Status::done);
    EXPECT_TRUE(h.expect_continue);
    ASSERT_EQ(parse("PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n", h).status,
              Status::done);
    EXPECT_FALSE(h.expect_continue);  // no body to wait for
    ASSERT_EQ(
        parse("PUT / HTTP/1.0\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n", h).status,
        Status::done);
    EXPECT_FALSE(h.expect_continue);  // RFC 9110 §10.1.1: ignored in HTTP/1.0
}

TEST(HttpHeadParser, AbsoluteFormTakesItsAuthorityAndPath) {
    RequestHead h;
    ASSERT_EQ(parse("GET http://Example.com:8080/p/q?x HTTP/1.1\r\nHost: other\r\n\r\n", h).status,
              Status::done);
    EXPECT_EQ(h.path, "/p/q?x");
    EXPECT_EQ(h.authority, "Example.com:8080");
    ASSERT_EQ(parse("GET HTTPS://h?x HTTP/1.1\r\nHost: h\r\n\r\n", h).status, Status::done);
    EXPECT_EQ(h.path, "?x");
    ASSERT_EQ(parse("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", h).status, Status::done);
    EXPECT_EQ(h.path, "*");
}

TEST(HttpHeadParser, HigherMinorVersionIsHttp11) {
    RequestHead h;
    ASSERT_EQ(parse("GET / HTTP/1.7\r\nHost: h\r\n\r\n", h).status, Status::done);
    EXPECT_EQ(h.minor, 1);
}

TEST(HttpHeadParser, EveryTruncationOfAValidHeadNeedsMore) {
    const std::string in =
        "POST /upload?x=1 HTTP/1.1\r\nHost: example.com:8080\r\nContent-Type: text/plain\r\n"
        "Transfer-Encoding: chunked\r\nCookie: a=1\r\n\r\n";
    for (std::size_t n = 0; n < in.size(); ++n) {
        RequestHead h;
        HeadResult r = parse(std::string_view(in).substr(0, n), h);
        EXPECT_EQ(r.status, Status::need_more) << "prefix of " << n << " bytes: " << r.reason;
        EXPECT_EQ(r.consumed, 0u);
    }
    RequestHead h;
    EXPECT_EQ(parse(in, h).status, Status::done);
}

TEST(HttpHeadParser, AHeadOfExactlyTheLimitIsAccepted) {
    std::string in = "GET / HTTP/1.1\r\nHost: h\r\nX: ";
    const std::size_t limit = 200;
    in += std::string(limit - in.size() - 4, 'a');
    in += "\r\n\r\n";
    ASSERT_EQ(in.size(), limit);
    RequestHead h;
    EXPECT_EQ(parse(in, h, {limit, 10}).status, Status::done);
    EXPECT_EQ(parse(in, h, {limit - 1, 10}).code, 431);
}

// --- Refused heads -------------------------------------------------------

struct BadHead {
    const char* name;
    std::string input;
    int code;
};

void PrintTo(const BadHead& b, std::ostream* os) {
    *os << b.name;
}

class HttpHeadRefusal : public ::testing::TestWithParam<BadHead> {};

TEST_P(HttpHeadRefusal, IsRefusedWithItsStatus) {
    RequestHead h;
    HeadResult r = parse(GetParam().input, h, {256, 8});
    EXPECT_EQ(r.status, Status::error);
    EXPECT_EQ(r.code, GetParam().code) << r.reason;
    EXPECT_FALSE(r.reason.empty());
}

const std::string kHost = "Host: h\r\n";
constexpr char kNulHead[] = "GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n";

INSTANTIATE_TEST_SUITE_P(
    Spec, HttpHeadRefusal,
    ::testing::Values(
        // Request line (RFC 9112 §3).
        BadHead{"TlsHandshake", std::string("\x16\x03\x01\x02\x00\x01", 6), 400},
        BadHead{"LowercaseVersion", "GET / http/1.1\r\n" + kHost + "\r\n", 400},
        BadHead{"NoVersion", "GET /\r\n" + kHost + "\r\n", 400},
        BadHead{"TwoSpaces", "GET  / HTTP/1.1\r\n" + kHost + "\r\n", 400},
        BadHead{"TabSeparator", "GET\t/ HTTP/1.1\r\n" + kHost + "\r\n", 400},
        BadHead{"ControlInTarget", "GET /a\x01 HTTP/1.1\r\n" + kHost + "\r\n", 400},
        BadHead{"Http2", "GET / HTTP/2.0\r\n" + kHost + "\r\n", 505},
        BadHead{"BareLfRequestLine", "GET / HTTP/1.1\n", 400},
        BadHead{"BareLfField", "GET / HTTP/1.1\r\nHost: h\n", 400},
        BadHead{"BareCrInValue", "GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", 400},
        BadHead{"AuthorityForm", "CONNECT h:443 HTTP/1.1\r\n" + kHost + "\r\n", 400},
        BadHead{"RelativeTarget", "GET a/b HTTP/1.1\r\n" + kHost + "\r\n", 400},
        BadHead{"UserinfoInAbsoluteForm", "GET http://u@h/ HTTP/1.1\r\n" + kHost + "\r\n", 400},
        BadHead{"RequestLineTooLong", "GET /" + std::string(300, 'a'), 414},
        // Fields (RFC 9112 §5).
        BadHead{"SpaceBeforeColon", "GET / HTTP/1.1\r\n" + kHost + "X-A : 1\r\n\r\n", 400},
        BadHead{"TeSpaceBeforeColon",
                "POST / HTTP/1.1\r\n" + kHost + "Transfer-Encoding : chunked\r\n\r\n", 400},
        BadHead{"NoColon", "GET / HTTP/1.1\r\n" + kHost + "nocolon\r\n\r\n", 400},
        BadHead{"EmptyName", "GET / HTTP/1.1\r\n" + kHost + ": v\r\n\r\n", 400},
        BadHead{"ObsFold", "GET / HTTP/1.1\r\n" + kHost + "X-A: 1\r\n 2\r\n\r\n", 400},
        BadHead{"NulInValue", std::string(kNulHead, sizeof(kNulHead) - 1), 400},
        BadHead{"HeadTooLong", "GET / HTTP/1.1\r\n" + kHost + "X: " + std::string(300, 'a'), 431},
        BadHead{"TooManyFields",
                "GET / HTTP/1.1\r\n" + kHost +
                    "A: 1\r\nA: 2\r\nA: 3\r\nA: 4\r\nA: 5\r\nA: 6\r\nA: 7\r\nA: 8\r\n\r\n",
                431},
        // Host (RFC 9112 §3.2).
        BadHead{"NoHostIn11", "GET / HTTP/1.1\r\n\r\n", 400},
        BadHead{"TwoHosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
        BadHead{"BadHost", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
        BadHead{"BadHostPort", "GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", 400},
        // Framing (RFC 9112 §6): the request smuggling cases.
        BadHead{"LengthAndChunked",
                "POST / HTTP/1.1\r\n" + kHost +
                    "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
                400},
        BadHead{"DuplicateLength",
                "POST / HTTP/1.1\r\n" + kHost + "Content-Length: 5\r\nContent-Length: 5\r\n\r\n",
                400},
        BadHead{"LengthList", "POST / HTTP/1.1\r\n" + kHost + "Content-Length: 5,5\r\n\r\n", 400},
        BadHead{"LengthPlus", "POST / HTTP/1.1\r\n" + kHost + "Content-Length: +5\r\n\r\n", 400},
        BadHead{"LengthMinus", "POST / HTTP/1.1\r\n" + kHost + "Content-Length: -5\r\n\r\n", 400},
        BadHead{"LengthVerticalTab",
                "POST / HTTP/1.1\r\n" + kHost +
                    "Content-Length: \x0b"
                    "5\r\n\r\n",
                400},
        BadHead{"LengthInnerSpace", "POST / HTTP/1.1\r\n" + kHost + "Content-Length: 5 5\r\n\r\n",
                400},
        BadHead{"LengthHex", "POST / HTTP/1.1\r\n" + kHost + "Content-Length: 0x5\r\n\r\n", 400},
        BadHead{"LengthEmpty", "POST / HTTP/1.1\r\n" + kHost + "Content-Length:\r\n\r\n", 400},
        BadHead{"LengthOverflow",
                "POST / HTTP/1.1\r\n" + kHost + "Content-Length: 99999999999999999999\r\n\r\n",
                400},
        BadHead{"Gzip", "POST / HTTP/1.1\r\n" + kHost + "Transfer-Encoding: gzip\r\n\r\n", 400},
        BadHead{"GzipChunked",
                "POST / HTTP/1.1\r\n" + kHost + "Transfer-Encoding: gzip, chunked\r\n\r\n", 400},
        BadHead{"ChunkedTwice",
                "POST / HTTP/1.1\r\n" + kHost + "Transfer-Encoding: chunked, chunked\r\n\r\n", 400},
        BadHead{"TwoTeFields",
                "POST / HTTP/1.1\r\n" + kHost +
                    "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
                400},
        BadHead{"XChunked", "POST / HTTP/1.1\r\n" + kHost + "Transfer-Encoding: xchunked\r\n\r\n",
                400},
        BadHead{"ChunkedInHttp10", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
        BadHead{"UnknownExpectation", "GET / HTTP/1.1\r\n" + kHost + "Expect: magic\r\n\r\n", 417}),
    [](const ::testing::TestParamInfo<BadHead>& info) { return std::string(info.param.name); });

// --- Host helpers ----------------------------------------------------------

TEST(HttpHost, Validates) {
    for (std::string_view ok : {"", "h", "example.com", "example.com:8080", "[::1]", "[::1]:80",
                                "127.0.0.1:1", "xn--d1acufc.xn--p1ai", "a-b_c~d"})
        EXPECT_TRUE(valid_host(ok)) << ok;
    for (std::string_view bad :
         {"a b", "a/b", "[::1", "[::1]x", "h:80:80x", "h:123456", "a@b", "[]", "h:p"})
        EXPECT_FALSE(valid_host(bad)) << bad;
}

TEST(HttpHost, StripsThePortAndLowercases) {
    EXPECT_EQ(host_without_port("Example.COM:8080"), "example.com");
    EXPECT_EQ(host_without_port("example.com"), "example.com");
    EXPECT_EQ(host_without_port("[::1]:8080"), "[::1]");
    EXPECT_EQ(host_without_port("[::1]"), "[::1]");
    EXPECT_EQ(host_without_port(""), "");
}

// --- Chunked bodies ------------------------------------------------------

struct Decoded {
    Status status = Status::need_more;
    std::string body;
    int code = 0;
    std::size_t consumed = 0;
};

// Feeds `in` in pieces of `piece` bytes with an output buffer of `out_size`.
Decoded decode(std::string_view in, std::size_t piece = 1 << 20, std::size_t out_size = 1 << 20) {
    ChunkedDecoder d(64, 128);
    Decoded r;
    std::string out(out_size, '\0');
    std::string pending;
    std::size_t fed = 0;
    while (true) {
        if (pending.empty() && fed < in.size()) {
            std::size_t n = std::min(piece, in.size() - fed);
            pending.assign(in.substr(fed, n));
            fed += n;
        }
        ChunkedDecoder::Step s = d.decode(pending, out.data(), out.size());
        r.consumed += s.consumed;
        r.body.append(out.data(), s.produced);
        pending.erase(0, s.consumed);
        if (s.status == Status::error) {
            r.status = Status::error;
            r.code = s.code;
            return r;
        }
        if (s.status == Status::done) {
            r.status = Status::done;
            return r;
        }
        if (pending.empty() && fed == in.size())
            return r;  // need_more
    }
}

TEST(HttpChunkedDecoder, DecodesABody) {
    const std::string in = "5\r\nhello\r\n7;ext=\"v\"\r\n, world\r\n0\r\nTrailer: x\r\n\r\nNEXT";
    Decoded r = decode(in);
    ASSERT_EQ(r.status, Status::done);
    EXPECT_EQ(r.body, "hello, world");
    EXPECT_EQ(r.consumed, in.size() - 4);  // the next request is left alone
}

TEST(HttpChunkedDecoder, DecodesEveryWayOfSplittingIt) {
    const std::string in = "A\r\n0123456789\r\n1 ;x\r\n!\r\n00\r\n\r\n";
    for (std::size_t piece = 1; piece <= in.size(); ++piece) {
        for (std::size_t out : {1, 3, 64}) {
            Decoded r = decode(in, piece, out);
            ASSERT_EQ(r.status, Status::done) << "piece " << piece << " out " << out;
            EXPECT_EQ(r.body, "0123456789!");
        }
    }
}

TEST(HttpChunkedDecoder, EveryTruncationNeedsMore) {
    const std::string in = "3\r\nabc\r\n0\r\nT: v\r\n\r\n";
    for (std::size_t n = 0; n < in.size(); ++n)
        EXPECT_EQ(decode(std::string_view(in).substr(0, n)).status, Status::need_more) << n;
}

TEST(HttpChunkedDecoder, LetsTheCallerReceiveDataDirectly) {
    ChunkedDecoder d;
    char out[16];
    auto s = d.decode("10\r\n", out, sizeof(out));
    EXPECT_EQ(s.consumed, 4u);
    EXPECT_EQ(d.data_left(), 16u);
    d.consume_data(16);
    EXPECT_EQ(d.data_left(), 0u);
    s = d.decode("\r\n0\r\n\r\n", out, sizeof(out));
    EXPECT_EQ(s.status, Status::done);
    EXPECT_TRUE(d.done());
}

struct BadChunk {
    const char* name;
    std::string input;
    int code;
};

void PrintTo(const BadChunk& b, std::ostream* os) {
    *os << b.name;
}

class HttpChunkedRefusal : public ::testing::TestWithParam<BadChunk> {};

TEST_P(HttpChunkedRefusal, IsRefused) {
    Decoded r = decode(GetParam().input);
    EXPECT_EQ(r.status, Status::error);
    EXPECT_EQ(r.code, GetParam().code);
    // Byte by byte too: the decoder is resumable, the outcome the same.
    Decoded slow = decode(GetParam().input, 1, 1);
    EXPECT_EQ(slow.status, Status::error);
    EXPECT_EQ(slow.code, GetParam().code);
}

INSTANTIATE_TEST_SUITE_P(
    Spec, HttpChunkedRefusal,
    ::testing::Values(BadChunk{"NotHex", "zz\r\nxx\r\n0\r\n\r\n", 400},
                      BadChunk{"Empty", "\r\n", 400},
                      BadChunk{"Sign", "+5\r\nhello\r\n0\r\n\r\n", 400},
                      BadChunk{"HexPrefix", "0x5\r\nhello\r\n0\r\n\r\n", 400},
                      BadChunk{"TrailingSpace", "5 \r\nhello\r\n0\r\n\r\n", 400},
                      BadChunk{"LeadingSpace", " 5\r\nhello\r\n0\r\n\r\n", 400},
                      BadChunk{"BareLf", "5\nhello\r\n0\r\n\r\n", 400},
                      BadChunk{"DataTooLong", "5\r\nhello!\r\n0\r\n\r\n", 400},
                      BadChunk{"NoCrlfAfterData", "5\r\nhelloX", 400},
                      BadChunk{"Overflow", "fffffffffffffffff\r\n", 400},
                      BadChunk{"ControlInExtension", "5;a\x01\r\nhello\r\n0\r\n\r\n", 400},
                      BadChunk{"LineTooLong", "5;" + std::string(100, 'x') + "\r\n", 400},
                      BadChunk{"BadTrailer", "0\r\nno colon\r\n\r\n", 400},
                      BadChunk{"TrailerTooLong", "0\r\nT: " + std::string(200, 'x') + "\r\n\r\n",
                               431},
                      BadChunk{"NoFinalCrlf", "0\r\n\r\r", 400}),
    [](const ::testing::TestParamInfo<BadChunk>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace postern::http

namespace postern::http {
namespace {

// --- Robustness: mutated inputs, a fixed seed --------------------------------

std::string mutate(std::string s, std::mt19937& rng) {
    static const char kInteresting[] = "\r\n :;,\t\0\x7f\x80-0aF/?%";
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !s.empty(); ++e) {
        std::size_t at = rng() % s.size();
        char c = (rng() % 2) ? kInteresting[rng() % (sizeof(kInteresting) - 1)]
                             : static_cast<char>(rng() % 256);
        switch (rng() % 3) {
            case 0:
                s[at] = c;
                break;
            case 1:
                s.insert(at, 1, c);
                break;
            default:
                s.erase(at, 1);
                break;
        }
    }
    return s;
}

TEST(HttpHeadParser, MutatedHeadsGiveAnOutcomeAndNeverOverrun) {
    const std::vector<std::string> seeds = {
        "GET /a?b HTTP/1.1\r\nHost: h:1\r\nConnection: close\r\n\r\n",
        "POST http://h/x HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\nExpect: 100-continue\r\n\r\n",
        "\r\nPUT /u HTTP/1.0\r\nTransfer-Encoding: chunked\r\nCookie: a\r\n\r\n",
    };
    std::mt19937 rng(20240611);
    const std::vector<int> codes = {400, 414, 417, 431, 505};
    for (int i = 0; i < 30000; ++i) {
        std::string in = mutate(seeds[i % seeds.size()], rng);
        RequestHead h;
        HeadResult r = parse_request_head(in, {128, 6}, h);
        ASSERT_LE(r.consumed, in.size());
        if (r.status == Status::error) {
            EXPECT_NE(std::find(codes.begin(), codes.end(), r.code), codes.end()) << r.code;
            EXPECT_LE(r.offset, in.size());
        } else if (r.status == Status::done) {
            // Done means the same head alone parses the same way.
            RequestHead again;
            HeadResult alone =
                parse_request_head(std::string_view(in).substr(0, r.consumed), {128, 6}, again);
            EXPECT_EQ(alone.status, Status::done);
            EXPECT_EQ(alone.consumed, r.consumed);
            EXPECT_EQ(again.framing, h.framing);
            EXPECT_EQ(again.content_length, h.content_length);
        }
    }
}

TEST(HttpChunkedDecoder, MutatedBodiesDecodeTheSameHoweverSplit) {
    const std::string seed = "5\r\nhello\r\n1;a=b\r\n!\r\n0\r\nT: v\r\n\r\n";
    std::mt19937 rng(77);
    for (int i = 0; i < 5000; ++i) {
        std::string in = mutate(seed, rng);
        Decoded whole = decode(in);
        Decoded slow = decode(in, 1 + rng() % 7, 1 + rng() % 5);
        ASSERT_EQ(whole.status, slow.status) << testing::PrintToString(in);
        EXPECT_EQ(whole.code, slow.code);
        if (whole.status != Status::error) {
            EXPECT_EQ(whole.body, slow.body);
            EXPECT_EQ(whole.consumed, slow.consumed);
        }
    }
}

}  // namespace
}  // namespace postern::http
