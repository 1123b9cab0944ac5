// adapters/ajp/codec: encoders against exact bytes, decoders table-driven
// (each input with its expected outcome), every truncation point of valid
// packets, and the packets mod_jk and mod_proxy_ajp really sent
// (tests/data/ajp/, captured on Debian 12 with Apache 2.4 and mod_jk 1.2.48).
#include "ajp/codec.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace postern::ajp {
namespace {

using namespace std::string_literals;

std::string bytes(std::initializer_list<int> list) {
    std::string s;
    for (int b : list)
        s += static_cast<char>(b);
    return s;
}

std::string data_file(const std::string& name) {
    const char* dir = std::getenv("POSTERN_SOURCE_DIR");
    std::ifstream in(std::string(dir ? dir : ".") + "/tests/data/ajp/" + name, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

ForwardRequest sample() {
    ForwardRequest r;
    r.method = "POST";
    r.protocol = "HTTP/1.1";
    r.req_uri = "/app/x%2Fy";
    r.remote_addr = "192.0.2.7";
    r.server_name = "example.org";
    r.server_port = 443;
    r.is_ssl = true;
    r.headers = {{"host", "example.org"}, {"content-length", "5"}, {"X-Custom", "a b"}};
    r.query_string = "q=1&r=%20";
    r.secret = "s3cret";
    r.ssl_key_size = 256;
    r.attributes = {{"AJP_REMOTE_PORT", "51234"}, {"javax.servlet.include.path", "/etc"}};
    return r;
}

// ---------------------------------------------------------------- encoders

TEST(AjpEncode, Cpong) {
    std::string out;
    encode_cpong(out);
    EXPECT_EQ(out, bytes({'A', 'B', 0, 1, 9}));
}

TEST(AjpEncode, EndResponse) {
    std::string out;
    encode_end_response(out, true);
    encode_end_response(out, false);
    EXPECT_EQ(out, bytes({'A', 'B', 0, 2, 5, 1, 'A', 'B', 0, 2, 5, 0}));
}

TEST(AjpEncode, GetBodyChunk) {
    std::string out;
    encode_get_body_chunk(out, 8186);
    EXPECT_EQ(out, bytes({'A', 'B', 0, 3, 6, 0x1F, 0xFA}));
}

TEST(AjpEncode, SendBodyChunk) {
    std::string out;
    encode_send_body_chunk(out, "hi");
    EXPECT_EQ(out, bytes({'A', 'B', 0, 6, 3, 0, 2, 'h', 'i', 0}));
    out.clear();
    encode_send_body_chunk(out, "");  // the explicit flush
    EXPECT_EQ(out, bytes({'A', 'B', 0, 4, 3, 0, 0, 0}));
}

TEST(AjpEncode, SendHeadersCodesCommonNames) {
    std::string out;
    ASSERT_TRUE(
        encode_send_headers(out, 404, "Not Found", {{"Content-Type", "text/plain"}, {"X-A", "b"}}));
    EXPECT_EQ(out, "AB"s + bytes({0, 42, 4, 0x01, 0x94, 0, 9}) + "Not Found" +
                       bytes({0, 0, 2, 0xA0, 0x01, 0, 10}) + "text/plain" + bytes({0, 0, 3}) +
                       "X-A" + bytes({0, 0, 1}) + "b" + bytes({0}));
    out.clear();
    ASSERT_TRUE(encode_send_headers(
        out, 302, "Found", {{"location", "/x"}, {"SET-COOKIE", "a=1"}, {"Content-Length", "0"}}));
    EXPECT_NE(out.find(bytes({0xA0, 0x06, 0, 2}) + "/x"), std::string::npos);
    EXPECT_NE(out.find(bytes({0xA0, 0x07, 0, 3}) + "a=1"), std::string::npos);
    EXPECT_NE(out.find(bytes({0xA0, 0x03, 0, 1}) + "0"), std::string::npos);
}

TEST(AjpEncode, SendHeadersThatDoNotFitAreRefused) {
    std::string out = "keep";
    EXPECT_FALSE(encode_send_headers(out, 200, "OK", {{"X-Big", std::string(9000, 'x')}}));
    EXPECT_EQ(out, "keep") << "nothing appended";
    EXPECT_TRUE(encode_send_headers(out, 200, "OK", {{"X-Big", std::string(9000, 'x')}}, 65536));
}

TEST(AjpEncode, ForwardRequestRoundTrips) {
    const ForwardRequest r = sample();
    const std::string wire = encode_forward_request(r, method_code(r.method));
    RequestPacket p;
    DecodeLimits limits;
    Result res = decode_request_packet(wire, limits, p);
    ASSERT_EQ(res.status, Status::done) << res.reason;
    EXPECT_EQ(res.consumed, wire.size());
    const ForwardRequest& d = p.request;
    EXPECT_EQ(d.method, "POST");
    EXPECT_EQ(d.req_uri, "/app/x%2Fy");
    EXPECT_EQ(d.server_port, 443);
    EXPECT_TRUE(d.is_ssl);
    EXPECT_EQ(d.headers, r.headers);
    EXPECT_EQ(d.query_string, r.query_string);
    EXPECT_EQ(d.secret, r.secret);
    EXPECT_EQ(d.ssl_key_size, r.ssl_key_size);
    EXPECT_EQ(d.attributes, r.attributes);
}

TEST(AjpEncode, MethodCodes) {
    EXPECT_EQ(method_code("OPTIONS"), 1);
    EXPECT_EQ(method_code("GET"), 2);
    EXPECT_EQ(method_code("HEAD"), 3);
    EXPECT_EQ(method_code("MKACTIVITY"), 27);
    EXPECT_EQ(method_code("BREW"), 0xFF);
}

// ---------------------------------------------------------------- request packets

struct PacketCase {
    const char* name;
    std::string input;
    Status status;
    Error code = Error::none;
    std::string method = {};
};

void PrintTo(const PacketCase& c, std::ostream* os) {
    *os << c.name;
}

std::string forward_with(const std::string& after_prefix) {
    std::string payload = "\x02"s + after_prefix;
    std::string out = bytes({0x12, 0x34});
    out += static_cast<char>(payload.size() >> 8);
    out += static_cast<char>(payload.size() & 0xFF);
    return out + payload;
}

// A minimal FORWARD_REQUEST body after the method byte: protocol, uri,
// remote_addr, remote_host (null), server_name, port 80, then is_ssl.
std::string fields(int is_ssl) {
    return bytes({0, 8}) + "HTTP/1.1" + bytes({0, 0, 2}) + "/a" + bytes({0, 0, 1}) + "1" +
           bytes({0, 0xFF, 0xFF, 0, 1}) + "h" + bytes({0, 0, 80, is_ssl});
}

std::vector<PacketCase> packet_cases() {
    const std::string ok_tail = bytes({0, 0}) + "\xff";  // no headers, terminator
    return {
        {"minimal_get", forward_with("\x02" + fields(0) + ok_tail), Status::done, Error::none,
         "GET"},
        {"ssl_true", forward_with("\x02" + fields(1) + ok_tail), Status::done, Error::none, "GET"},
        {"boolean_2_refused", forward_with("\x02" + fields(2) + ok_tail), Status::error,
         Error::bad_boolean},
        {"boolean_ff_refused", forward_with("\x02" + fields(0xFF) + ok_tail), Status::error,
         Error::bad_boolean},
        {"method_0_refused", forward_with("\x00"s + fields(0) + ok_tail), Status::error,
         Error::bad_method},
        {"method_28_refused", forward_with("\x1c" + fields(0) + ok_tail), Status::error,
         Error::bad_method},
        {"stored_method",
         forward_with("\xff" + fields(0) + bytes({0, 0, 0x0D, 0, 4}) + "BREW" + bytes({0, 0xFF})),
         Status::done, Error::none, "BREW"},
        {"stored_method_missing", forward_with("\xff" + fields(0) + ok_tail), Status::error,
         Error::bad_method},
        {"coded_header",
         forward_with("\x02" + fields(0) + bytes({0, 1, 0xA0, 0x0B, 0, 1}) + "h" +
                      bytes({0, 0xFF})),
         Status::done, Error::none, "GET"},
        {"unknown_header_code",
         forward_with("\x02" + fields(0) + bytes({0, 1, 0xA0, 0x0F, 0, 1}) + "h" +
                      bytes({0, 0xFF})),
         Status::error, Error::bad_header},
        {"header_code_zero",
         forward_with("\x02" + fields(0) + bytes({0, 1, 0xA0, 0x00, 0, 1}) + "h" +
                      bytes({0, 0xFF})),
         Status::error, Error::bad_header},
        {"header_count_over_packet",
         forward_with("\x02" + fields(0) + bytes({0, 50, 0xA0, 0x0B, 0, 1}) + "h" +
                      bytes({0, 0xFF})),
         Status::error, Error::truncated},
        {"too_many_headers", forward_with("\x02" + fields(0) + bytes({0x7F, 0xFF, 0xFF})),
         Status::error, Error::too_many_headers},
        {"string_past_packet", forward_with("\x02" + bytes({0x10, 0})), Status::error,
         Error::truncated},
        {"string_without_nul", forward_with("\x02" + bytes({0, 2}) + "ab" + "X" + fields(0)),
         Status::error, Error::bad_string},
        {"unknown_attribute", forward_with("\x02" + fields(0) + bytes({0, 0, 0x0E, 0, 0, 0, 0xFF})),
         Status::error, Error::bad_attribute},
        {"no_terminator", forward_with("\x02" + fields(0) + bytes({0, 0})), Status::error,
         Error::truncated},
        {"bytes_after_terminator", forward_with("\x02" + fields(0) + ok_tail + "x"), Status::error,
         Error::trailing_bytes},
        {"attribute_string_past_packet",
         forward_with("\x02" + fields(0) + bytes({0, 0, 0x05, 0x7F, 0x00})), Status::error,
         Error::truncated},
        {"cping", bytes({0x12, 0x34, 0, 1, 10}), Status::done},
        {"shutdown", bytes({0x12, 0x34, 0, 1, 7}), Status::done},
        {"cping_with_extra", bytes({0x12, 0x34, 0, 2, 10, 0}), Status::error,
         Error::trailing_bytes},
        {"bad_magic_first_byte", "GET / HTTP/1.1\r\n", Status::error, Error::bad_magic},
        {"bad_magic_second_byte", bytes({0x12, 0x35}), Status::error, Error::bad_magic},
        {"response_magic", bytes({'A', 'B', 0, 1, 9}), Status::error, Error::bad_magic},
        {"empty_request_packet", bytes({0x12, 0x34, 0, 0}), Status::error, Error::empty_packet},
        {"body_where_request_expected", bytes({0x12, 0x34, 0, 3, 0, 1, 'x'}), Status::error,
         Error::unknown_type},
        {"send_headers_type_refused", bytes({0x12, 0x34, 0, 1, 4}), Status::error,
         Error::unknown_type},
        {"over_packet_size", bytes({0x12, 0x34, 0x1F, 0xFD}), Status::error,
         Error::packet_too_large},
        {"at_packet_size_needs_more", bytes({0x12, 0x34, 0x1F, 0xFC}), Status::need_more},
        {"nothing", "", Status::need_more},
        {"magic_only", bytes({0x12, 0x34}), Status::need_more},
    };
}

class AjpRequestPacket : public ::testing::TestWithParam<PacketCase> {};

TEST_P(AjpRequestPacket, Decodes) {
    const PacketCase& c = GetParam();
    RequestPacket p;
    Result r = decode_request_packet(c.input, DecodeLimits{}, p);
    EXPECT_EQ(r.status, c.status) << r.reason;
    EXPECT_EQ(error_name(r.code), error_name(c.code)) << r.reason;
    if (c.status == Status::done) {
        EXPECT_EQ(r.consumed, c.input.size());
        if (!c.method.empty()) {
            EXPECT_EQ(p.request.method, c.method);
        }
    }
    if (c.status == Status::error) {
        EXPECT_FALSE(r.reason.empty());
        EXPECT_LE(r.offset, c.input.size());
    }
}

INSTANTIATE_TEST_SUITE_P(Table, AjpRequestPacket, ::testing::ValuesIn(packet_cases()),
                         [](const auto& info) { return std::string(info.param.name); });

// ---------------------------------------------------------------- truncation

struct CapturedCase {
    const char* file;
    const char* method;
    const char* uri;
    const char* query;  // nullptr: no query_string attribute
};

void PrintTo(const CapturedCase& c, std::ostream* os) {
    *os << c.file;
}

class AjpCaptured : public ::testing::TestWithParam<CapturedCase> {};

TEST_P(AjpCaptured, DecodesAndEveryTruncationNeedsMore) {
    const CapturedCase& c = GetParam();
    const std::string wire = data_file(c.file);
    ASSERT_FALSE(wire.empty()) << "missing tests/data/ajp/" << c.file;
    RequestPacket p;
    Result r = decode_request_packet(wire, DecodeLimits{}, p);
    ASSERT_EQ(r.status, Status::done) << r.reason << " at " << r.offset;
    EXPECT_EQ(p.request.method, c.method);
    EXPECT_EQ(p.request.req_uri, c.uri);
    EXPECT_EQ(p.request.secret, std::optional<std::string>("s3cret"));
    if (c.query) {
        EXPECT_EQ(p.request.query_string, std::optional<std::string>(c.query));
    } else {
        EXPECT_FALSE(p.request.query_string);
    }
    bool has_port = false;
    for (const auto& [k, v] : p.request.attributes)
        has_port |= k == "AJP_REMOTE_PORT" && !v.empty();
    EXPECT_TRUE(has_port);

    // Every prefix is a partial packet, never an error.
    for (std::size_t n = 0; n < wire.size(); ++n) {
        RequestPacket q;
        Result t = decode_request_packet(std::string_view(wire).substr(0, n), DecodeLimits{}, q);
        EXPECT_EQ(t.status, Status::need_more) << "prefix of " << n << " bytes: " << t.reason;
    }
    // Every payload cut short with a length that says so is an error,
    // never a read past the packet.
    for (std::size_t n = 1; n + kHeaderSize < wire.size(); ++n) {
        std::string cut = wire.substr(0, kHeaderSize + n);
        cut[2] = static_cast<char>(n >> 8);
        cut[3] = static_cast<char>(n & 0xFF);
        RequestPacket q;
        Result t = decode_request_packet(cut, DecodeLimits{}, q);
        EXPECT_EQ(t.status, Status::error) << "payload cut to " << n << " bytes";
        EXPECT_LE(t.offset, cut.size());
    }
}

INSTANTIATE_TEST_SUITE_P(
    Real, AjpCaptured,
    ::testing::Values(
        CapturedCase{"mod_jk-forward-get-query.bin", "GET", "/app/a%20b%25c/%C3%A9;x",
                     "x=1&y=%20z"},
        CapturedCase{"mod_proxy_ajp-forward-get-query.bin", "GET", "/app/a%20b%2Fc/%C3%A9",
                     "x=1&y=%20z"},
        CapturedCase{"mod_proxy_ajp-forward-post.bin", "POST", "/app/post", nullptr},
        CapturedCase{"mod_proxy_ajp-forward-chunked.bin", "POST", "/app/chunked", nullptr},
        CapturedCase{"mod_proxy_ajp-forward-stored-method.bin", "BREW", "/app/brew", nullptr},
        CapturedCase{"mod_proxy_ajp-forward-head.bin", "HEAD", "/app/head", nullptr}),
    [](const auto& info) {
        std::string n = info.param.file;
        for (char& ch : n)
            if (!std::isalnum(static_cast<unsigned char>(ch)))
                ch = '_';
        return n;
    });

TEST(AjpCapturedPackets, CpingFromModJk) {
    RequestPacket p;
    Result r = decode_request_packet(data_file("mod_jk-cping.bin"), DecodeLimits{}, p);
    ASSERT_EQ(r.status, Status::done);
    EXPECT_EQ(p.type, Code::cping);
}

// ---------------------------------------------------------------- body packets

struct BodyCase {
    const char* name;
    std::string input;
    Status status;
    std::string data = {};
};

void PrintTo(const BodyCase& c, std::ostream* os) {
    *os << c.name;
}

class AjpBodyPacket : public ::testing::TestWithParam<BodyCase> {};

TEST_P(AjpBodyPacket, Decodes) {
    const BodyCase& c = GetParam();
    std::string_view data;
    Result r = decode_body_packet(c.input, kDefaultPacketSize - kHeaderSize, data);
    EXPECT_EQ(r.status, c.status) << r.reason;
    if (r.status == Status::done) {
        EXPECT_EQ(data, c.data);
        EXPECT_EQ(r.consumed, c.input.size());
    }
}

INSTANTIATE_TEST_SUITE_P(
    Table, AjpBodyPacket,
    ::testing::Values(
        BodyCase{"mod_proxy_ajp_hello", data_file("mod_proxy_ajp-body-hello.bin"), Status::done,
                 "hello"},
        BodyCase{"mod_jk_end", data_file("mod_jk-body-end.bin"), Status::done, ""},
        BodyCase{"mod_proxy_ajp_end", data_file("mod_proxy_ajp-body-end.bin"), Status::done, ""},
        BodyCase{"one_spare_byte", bytes({0x12, 0x34, 0, 4, 0, 1, 'x', 0}), Status::done, "x"},
        BodyCase{"chunk_longer_than_packet", bytes({0x12, 0x34, 0, 3, 0, 2, 'x'}), Status::error},
        BodyCase{"chunk_much_shorter", bytes({0x12, 0x34, 0, 5, 0, 1, 'x', 'y', 'z'}),
                 Status::error},
        BodyCase{"one_byte_payload", bytes({0x12, 0x34, 0, 1, 0}), Status::error},
        BodyCase{"partial", bytes({0x12, 0x34, 0, 7, 0, 5, 'h'}), Status::need_more},
        BodyCase{"bad_magic", bytes({0x13, 0x34, 0, 0}), Status::error},
        BodyCase{"too_large", bytes({0x12, 0x34, 0xFF, 0xFF}), Status::error}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(AjpBodyPacket, EncodeDecodeRoundTrip) {
    const std::string chunk(max_request_chunk(kDefaultPacketSize), 'z');
    const std::string wire = encode_body_packet(chunk);
    EXPECT_EQ(wire.size(), kDefaultPacketSize);
    std::string_view data;
    Result r = decode_body_packet(wire, kDefaultPacketSize - kHeaderSize, data);
    ASSERT_EQ(r.status, Status::done);
    EXPECT_EQ(data, chunk);
    for (std::size_t n = 0; n < wire.size(); n += 97) {
        Result t = decode_body_packet(std::string_view(wire).substr(0, n),
                                      kDefaultPacketSize - kHeaderSize, data);
        EXPECT_EQ(t.status, Status::need_more) << n;
    }
}

}  // namespace
}  // namespace postern::ajp
