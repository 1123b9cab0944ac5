// adapters/ajp/codec: encoders against exact bytes, decoders table-driven
// (each input with its expected outcome), every truncation point of valid
// packets, and the packets mod_jk and mod_proxy_ajp really sent
// (tests/data/ajp/, captured on Debian 12 with Apache 2.4 and mod_jk 1.2.48).
#include "ajp/codec.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <optional>
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

// ---------------------------------------------------------------- the corpus, replayed
// tests/data/ajp/ holds packets captured from mod_jk 1.2.48 and mod_proxy_ajp
// (Apache 2.4) on Debian 12. Each capture, and each conversation of captures
// in the order a front end sends them on one connection, is fed to the codec
// the way a connection receives it: whole, one byte at a time, and in two
// reads split at every offset. Every way must decode to the same packets,
// and each request to the one written out below field by field (from the
// capture's bytes, AJPv13 "Request Packet Structure").

/// One packet a front end sent, as the codec should see it.
struct Packet {
    Code type = Code::forward_request;  ///< forward_request, cping; send_body_chunk: a body packet
    ForwardRequest request;             ///< forward_request
    std::string body;                   ///< a body packet's data ("" ends a chunked body)
};

/// Every field of a packet, one per line, so that a mismatch names the field.
std::string describe(const Packet& p) {
    std::ostringstream o;
    if (p.type == Code::send_body_chunk) {
        o << "body packet, " << p.body.size() << " bytes: \"" << p.body << "\"\n";
        return o.str();
    }
    if (p.type != Code::forward_request) {
        o << "packet type " << static_cast<int>(p.type) << "\n";
        return o.str();
    }
    const ForwardRequest& r = p.request;
    auto opt = [](const std::optional<std::string>& v) {
        return v ? "\"" + *v + "\"" : std::string("(none)");
    };
    o << "method: " << r.method << "\nprotocol: " << r.protocol << "\nreq_uri: " << r.req_uri
      << "\nremote_addr: " << r.remote_addr << "\nremote_host: " << r.remote_host
      << "\nserver_name: " << r.server_name << "\nserver_port: " << r.server_port
      << "\nis_ssl: " << r.is_ssl << "\n";
    for (const auto& [name, value] : r.headers)
        o << "header " << name << ": " << value << "\n";
    o << "query_string: " << opt(r.query_string) << "\nremote_user: " << opt(r.remote_user)
      << "\nauth_type: " << opt(r.auth_type) << "\nroute: " << opt(r.route)
      << "\nssl_cert: " << opt(r.ssl_cert) << "\nssl_cipher: " << opt(r.ssl_cipher)
      << "\nssl_session: " << opt(r.ssl_session)
      << "\nssl_key_size: " << (r.ssl_key_size ? std::to_string(*r.ssl_key_size) : "(none)")
      << "\nsecret: " << opt(r.secret) << "\n";
    for (const auto& [name, value] : r.attributes)
        o << "attribute " << name << ": " << value << "\n";
    return o.str();
}

/// The codec driven as a connection drives it: bytes arrive in pieces; a
/// request packet is decoded when the front end is between requests, body
/// packets while a request's body is due (up to its content-length, or to
/// the empty packet that ends a chunked body). Stops at the first error.
class Replay {
  public:
    /// `in_chunked_body`: the stream starts inside a chunked request body.
    explicit Replay(bool in_chunked_body = false)
        : body_due_(in_chunked_body), chunked_(in_chunked_body) {}

    /// Appends `bytes` and decodes every packet they complete.
    void feed(std::string_view bytes) {
        buffer_.append(bytes);
        while (error_.empty()) {
            Result r;
            Packet p;
            if (body_due_) {
                std::string_view data;
                r = decode_body_packet(buffer_, kDefaultPacketSize - kHeaderSize, data);
                if (r.status == Status::done) {
                    p.type = Code::send_body_chunk;
                    p.body = std::string(data);
                    if (chunked_) {
                        body_due_ = !data.empty();
                    } else {
                        // The front end never sends more than the length.
                        left_ -= std::min<std::uint64_t>(left_, data.size());
                        body_due_ = left_ != 0 && !data.empty();
                    }
                }
            } else {
                RequestPacket rp;
                r = decode_request_packet(buffer_, DecodeLimits{}, rp);
                if (r.status == Status::done) {
                    p.type = rp.type;
                    p.request = std::move(rp.request);
                    start_body(p.request);
                }
            }
            if (r.status == Status::need_more)
                return;
            if (r.status == Status::error) {
                error_ = std::string(error_name(r.code)) + ": " + r.reason + " at " +
                         std::to_string(consumed_ + r.offset);
                return;
            }
            packets_.push_back(std::move(p));
            buffer_.erase(0, r.consumed);
            consumed_ += r.consumed;
        }
    }
    const std::vector<Packet>& packets() const noexcept { return packets_; }
    /// Bytes of a packet not complete yet.
    std::size_t pending() const noexcept { return buffer_.size(); }
    const std::string& error() const noexcept { return error_; }

  private:
    void start_body(const ForwardRequest& r) {
        left_ = 0;
        chunked_ = false;
        for (const auto& [name, value] : r.headers) {
            std::string n;
            for (char c : name)
                n += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            if (n == "content-length")
                left_ = std::stoull(value);
            if (n == "transfer-encoding")
                chunked_ = true;
        }
        body_due_ = chunked_ || left_ != 0;
    }

    std::string buffer_;
    std::size_t consumed_ = 0;
    bool body_due_ = false;
    bool chunked_ = false;
    std::uint64_t left_ = 0;
    std::vector<Packet> packets_;
    std::string error_;
};

/// What both front ends send in every request of the captures.
ForwardRequest captured(const char* method, const char* uri, int port) {
    ForwardRequest r;
    r.method = method;
    r.protocol = "HTTP/1.1";
    r.req_uri = uri;
    r.remote_addr = "127.0.0.1";
    r.server_name = "127.0.0.1";
    r.server_port = static_cast<std::uint16_t>(port);
    r.headers = {{"host", "127.0.0.1:" + std::to_string(port)},
                 {"user-agent", "curl/7.88.1"},
                 {"accept", "*/*"}};
    r.secret = "s3cret";
    return r;
}

Packet forward(ForwardRequest r) {
    Packet p;
    p.request = std::move(r);
    return p;
}

Packet body(std::string data) {
    Packet p;
    p.type = Code::send_body_chunk;
    p.body = std::move(data);
    return p;
}

Packet cping() {
    Packet p;
    p.type = Code::cping;
    return p;
}

// The requests of the captures, as the front ends built them.
Packet jk_get_query() {
    // mod_jk (JkOptions +ForwardURIProxy) sends the path encoded again, a
    // request without a body with content-length 0, and JK_LB_ACTIVATION.
    ForwardRequest r = captured("GET", "/app/a%20b%25c/%C3%A9;x", 18081);
    r.headers.insert(r.headers.end(), {{"X-Test", "1, 2"}, {"content-length", "0"}});
    r.query_string = "x=1&y=%20z";
    r.attributes = {
        {"AJP_REMOTE_PORT", "45436"}, {"AJP_LOCAL_ADDR", "127.0.0.1"}, {"JK_LB_ACTIVATION", "ACT"}};
    return forward(r);
}
Packet proxy_ajp_get_query() {
    ForwardRequest r = captured("GET", "/app/a%20b%2Fc/%C3%A9", 18082);
    r.headers.emplace_back("X-Test", "1, 2");
    r.query_string = "x=1&y=%20z";
    r.attributes = {{"AJP_REMOTE_PORT", "56960"}, {"AJP_LOCAL_ADDR", "127.0.0.1"}};
    return forward(r);
}
Packet proxy_ajp_post() {
    ForwardRequest r = captured("POST", "/app/post", 18082);
    r.headers.insert(r.headers.end(), {{"content-length", "5"},
                                       {"content-type", "application/x-www-form-urlencoded"}});
    r.attributes = {{"AJP_REMOTE_PORT", "56976"}, {"AJP_LOCAL_ADDR", "127.0.0.1"}};
    return forward(r);
}
Packet proxy_ajp_chunked() {
    // The header's name as the client spelled it: it has no 0xA0xx code.
    ForwardRequest r = captured("POST", "/app/chunked", 18082);
    r.headers.insert(r.headers.end(), {{"Transfer-Encoding", "chunked"},
                                       {"content-type", "application/x-www-form-urlencoded"}});
    r.attributes = {{"AJP_REMOTE_PORT", "56984"}, {"AJP_LOCAL_ADDR", "127.0.0.1"}};
    return forward(r);
}
Packet proxy_ajp_head() {
    ForwardRequest r = captured("HEAD", "/app/head", 18082);
    r.attributes = {{"AJP_REMOTE_PORT", "57004"}, {"AJP_LOCAL_ADDR", "127.0.0.1"}};
    return forward(r);
}
Packet proxy_ajp_stored_method() {
    // A method without a code: 0xFF, and the name in attribute 0x0D.
    ForwardRequest r = captured("BREW", "/app/brew", 18082);
    r.attributes = {{"AJP_REMOTE_PORT", "56996"}, {"AJP_LOCAL_ADDR", "127.0.0.1"}};
    return forward(r);
}

struct Stream {
    const char* name;
    std::vector<const char*> files;  ///< concatenated, in this order
    std::vector<Packet> packets;     ///< what the codec must make of them
    /// The stream starts inside a chunked request body.
    bool in_body = false;
};

void PrintTo(const Stream& s, std::ostream* os) {
    *os << s.name;
}

std::vector<Stream> streams() {
    return {
        // Each capture alone.
        {"mod_jk_forward_get_query", {"mod_jk-forward-get-query.bin"}, {jk_get_query()}},
        {"mod_jk_cping", {"mod_jk-cping.bin"}, {cping()}},
        {"mod_proxy_ajp_forward_get_query",
         {"mod_proxy_ajp-forward-get-query.bin"},
         {proxy_ajp_get_query()}},
        {"mod_proxy_ajp_forward_head", {"mod_proxy_ajp-forward-head.bin"}, {proxy_ajp_head()}},
        {"mod_proxy_ajp_forward_stored_method",
         {"mod_proxy_ajp-forward-stored-method.bin"},
         {proxy_ajp_stored_method()}},
        // Body packets alone, replayed as the middle of a chunked body.
        {"mod_proxy_ajp_body_hello", {"mod_proxy_ajp-body-hello.bin"}, {body("hello")}, true},
        {"mod_proxy_ajp_body_end", {"mod_proxy_ajp-body-end.bin"}, {body("")}, true},
        // mod_jk ends a body with an empty payload, not an empty chunk.
        {"mod_jk_body_end", {"mod_jk-body-end.bin"}, {body("")}, true},
        // A request with a body is followed by its body packets.
        {"mod_proxy_ajp_post_and_body",
         {"mod_proxy_ajp-forward-post.bin", "mod_proxy_ajp-body-hello.bin"},
         {proxy_ajp_post(), body("hello")}},
        {"mod_proxy_ajp_chunked_post_and_body",
         {"mod_proxy_ajp-forward-chunked.bin", "mod_proxy_ajp-body-hello.bin",
          "mod_proxy_ajp-body-end.bin"},
         {proxy_ajp_chunked(), body("hello"), body("")}},
        // Several requests on one kept connection; mod_jk (ping_mode=A)
        // sends a CPING before each.
        {"mod_jk_cping_then_get",
         {"mod_jk-cping.bin", "mod_jk-forward-get-query.bin", "mod_jk-cping.bin"},
         {cping(), jk_get_query(), cping()}},
        {"mod_proxy_ajp_keep_alive",
         {"mod_proxy_ajp-forward-head.bin", "mod_proxy_ajp-forward-post.bin",
          "mod_proxy_ajp-body-hello.bin", "mod_proxy_ajp-forward-stored-method.bin"},
         {proxy_ajp_head(), proxy_ajp_post(), body("hello"), proxy_ajp_stored_method()}},
    };
}

std::string describe(const std::vector<Packet>& packets) {
    std::string out;
    for (std::size_t i = 0; i < packets.size(); ++i)
        out += "-- packet " + std::to_string(i) + "\n" + describe(packets[i]);
    return out;
}

class AjpCorpus : public ::testing::TestWithParam<Stream> {
  protected:
    void SetUp() override {
        for (const char* file : GetParam().files) {
            const std::string bytes = data_file(file);
            ASSERT_FALSE(bytes.empty()) << "missing tests/data/ajp/" << file;
            wire_ += bytes;
        }
        want_ = describe(GetParam().packets);
    }
    /// The packets and the bytes left over must be the expected ones.
    void check(const Replay& r, const std::string& how) {
        ASSERT_EQ(r.error(), "") << how;
        EXPECT_EQ(r.pending(), 0u) << how;
        EXPECT_EQ(describe(r.packets()), want_) << how;
    }
    std::string wire_;
    std::string want_;
};

TEST_P(AjpCorpus, Whole) {
    Replay r(GetParam().in_body);
    r.feed(wire_);
    check(r, "fed whole");
}

TEST_P(AjpCorpus, OneByteAtATime) {
    Replay r(GetParam().in_body);
    for (std::size_t i = 0; i < wire_.size(); ++i) {
        r.feed(std::string_view(wire_).substr(i, 1));
        ASSERT_EQ(r.error(), "") << "after byte " << i;
    }
    check(r, "fed one byte at a time");
}

TEST_P(AjpCorpus, SplitAtEveryOffset) {
    for (std::size_t at = 1; at < wire_.size(); ++at) {
        Replay r(GetParam().in_body);
        r.feed(std::string_view(wire_).substr(0, at));
        ASSERT_EQ(r.error(), "") << "first read of " << at << " bytes";
        r.feed(std::string_view(wire_).substr(at));
        check(r, "split at " + std::to_string(at));
        if (HasFailure())
            return;  // one split's message says it all
    }
}

INSTANTIATE_TEST_SUITE_P(Captured, AjpCorpus, ::testing::ValuesIn(streams()),
                         [](const auto& info) { return std::string(info.param.name); });

// ---------------------------------------------------------------- truncation

class AjpCapturedTruncated : public ::testing::TestWithParam<const char*> {};

TEST_P(AjpCapturedTruncated, EveryShortPayloadIsAnErrorEveryPrefixNeedsMore) {
    const std::string wire = data_file(GetParam());
    ASSERT_FALSE(wire.empty()) << "missing tests/data/ajp/" << GetParam();
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
    Real, AjpCapturedTruncated,
    ::testing::Values("mod_jk-forward-get-query.bin", "mod_proxy_ajp-forward-get-query.bin",
                      "mod_proxy_ajp-forward-post.bin", "mod_proxy_ajp-forward-chunked.bin",
                      "mod_proxy_ajp-forward-stored-method.bin", "mod_proxy_ajp-forward-head.bin"),
    [](const auto& info) {
        std::string n = info.param;
        for (char& ch : n)
            if (!std::isalnum(static_cast<unsigned char>(ch)))
                ch = '_';
        return n;
    });

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
