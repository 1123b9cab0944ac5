// adapters/ajp: the adapter behind a real Server on 127.0.0.1:0, spoken to
// as mod_jk and mod_proxy_ajp speak to it (packet by packet, answering
// GET_BODY_CHUNK), including what a hostile peer of the port can send.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "ajp/codec.hpp"
#include "ajp_client.hpp"
#include "core/log.hpp"
#include "in_process_gateway.hpp"
#include "postern/server.hpp"
#include "socket_client.hpp"
#include "stderr_capture.hpp"
#include "test_data.hpp"

namespace postern {
namespace {

using namespace std::chrono_literals;
using test::SocketClient;
namespace wire = ajp;
using test::deterministic_bytes;
using test::fnv1a;
using test::ajp::body_packets;
using test::ajp::Exchange;
using test::ajp::read_exchange;

wire::ForwardRequest request(const std::string& method, const std::string& uri,
                             const std::string& secret = "s3cret") {
    wire::ForwardRequest r;
    r.method = method;
    r.protocol = "HTTP/1.1";
    r.req_uri = uri;
    r.remote_addr = "192.0.2.7";
    r.server_name = "example.test";
    r.server_port = 80;
    r.headers = {{"host", "example.test"}, {"user-agent", "test"}};
    if (!secret.empty())
        r.secret = secret;
    r.attributes = {{"AJP_REMOTE_PORT", "40404"}, {"AJP_LOCAL_ADDR", "127.0.0.1"}};
    return r;
}

std::string forward(const wire::ForwardRequest& r) {
    return wire::encode_forward_request(r, wire::method_code(r.method));
}

std::map<std::string, std::string> env_of(const std::string& body) {
    std::map<std::string, std::string> env;
    std::size_t at = 0;
    while (at < body.size()) {
        auto eol = body.find('\n', at);
        if (eol == std::string::npos)
            eol = body.size();
        const std::string line = body.substr(at, eol - at);
        const auto eq = line.find('=');
        if (eq != std::string::npos)
            env[line.substr(0, eq)] = line.substr(eq + 1);
        at = eol + 1;
    }
    return env;
}

class AjpAdapter : public ::testing::Test {
  protected:
    AjpAdapter() {
        options_.threads = 4;
        options_.ajp.allowed_attributes = {"SSL_CLIENT_S_DN"};
        // The AJP-only paths, before the test application's own.
        gateway_.app().extra = [](Request& req, Response& res) {
            const std::string_view path = req.path_info();
            if (path == "/ignore-body") {
                res.write("not read");
            } else if (path == "/big-headers") {
                res.header("X-Big", std::string(10000, 'x'));
                res.write("never seen");
            } else if (path == "/big-body") {
                res.write(std::string(100'000, 'b'));
            } else {
                return false;
            }
            return true;
        };
    }

    void start() {
        gateway_.start();
        address_ = gateway_.address();
    }
    void release() { gateway_.app().release(); }

    SocketClient connect() const { return SocketClient(address_); }

    Exchange round_trip(const wire::ForwardRequest& r, const std::string& body = {},
                        bool chunked = false) {
        SocketClient c = connect();
        return send(c, r, body, chunked);
    }

    /// Sends a request as the front ends do: with a Content-Length the first
    /// body packet goes unasked; chunked, every packet waits to be asked.
    Exchange send(SocketClient& c, wire::ForwardRequest r, const std::string& body = {},
                  bool chunked = false) {
        if (!chunked && (!body.empty() || r.method == "POST"))
            r.headers.emplace_back("content-length", std::to_string(body.size()));
        if (chunked)
            r.headers.emplace_back("Transfer-Encoding", "chunked");
        std::deque<std::string> packets = body_packets(body, chunked);
        std::string out = forward(r);
        if (!chunked && !packets.empty()) {
            out += packets.front();
            packets.pop_front();
        }
        c.send(out);
        return read_exchange(c, std::move(packets));
    }

    int calls() const { return gateway_.app().calls(); }

    test::InProcessGateway gateway_{{"ajp"}};
    Options& options_ = gateway_.options();
    std::string address_;
};

// --- requests as a front end sends them -----------------------------------

TEST_F(AjpAdapter, GetAnswersWithHeadersBodyAndOneEndResponse) {
    start();
    Exchange ex = round_trip(request("GET", "/app/hello"));
    ASSERT_TRUE(ex.ended);
    EXPECT_TRUE(ex.reuse);
    EXPECT_EQ(ex.status, 200);
    EXPECT_EQ(ex.reason, "OK");
    EXPECT_EQ(ex.header("Content-Type"), "text/plain");
    EXPECT_EQ(ex.header("Content-Length"), "14");
    EXPECT_EQ(ex.body, "Hello, world!\n");
    EXPECT_EQ(ex.body_requests, 0) << "a GET has no body to ask for";
}

TEST_F(AjpAdapter, ManyRequestsAndCpingsOnOneConnection) {
    start();
    SocketClient c = connect();
    for (int i = 0; i < 3; ++i) {
        c.send(std::string("\x12\x34\x00\x01\x0a", 5));
        Exchange pong = read_exchange(c, {}, true);
        EXPECT_TRUE(pong.cpong);
        Exchange ex = send(c, request("GET", "/app/hello"));
        ASSERT_TRUE(ex.ended) << i;
        EXPECT_TRUE(ex.reuse);
        EXPECT_EQ(ex.body, "Hello, world!\n");
    }
}

TEST_F(AjpAdapter, RequestsAndCpingSentBackToBackInOneWriteAreAllAnswered) {
    // The adapter serves what it already buffered before it waits for the
    // socket again: a front end that wrote a CPING and two requests at once
    // (and nothing more) gets every answer, in order, and the connection
    // stays in step for the next request.
    start();
    SocketClient c = connect();
    const std::string cping("\x12\x34\x00\x01\x0a", 5);
    ASSERT_TRUE(c.send(cping + forward(request("GET", "/app/hello")) +
                       forward(request("GET", "/app/hello")) + cping));
    // The packets' types, in order, up to the fourth answer (read_exchange
    // would drop what it read past one exchange).
    std::string types;
    std::string body;
    std::string buf;
    int answers = 0;
    const auto length_of = [](const std::string& b) {
        return std::size_t{static_cast<unsigned char>(b[2])} << 8 |
               static_cast<unsigned char>(b[3]);
    };
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (answers < 4 && std::chrono::steady_clock::now() < deadline) {
        buf += c.recv_some(200ms);
        while (buf.size() >= 4 && buf.size() >= 4 + length_of(buf)) {
            const std::size_t len = length_of(buf);
            const char type = buf[4];
            types += static_cast<char>('0' + type);
            if (type == 3)  // SEND_BODY_CHUNK: length, bytes, NUL
                body += buf.substr(7, len - 4);
            if (type == 5 || type == 9)  // END_RESPONSE, CPONG
                ++answers;
            buf.erase(0, 4 + len);
        }
    }
    EXPECT_EQ(types, "94354359");  // CPONG, two responses, CPONG
    EXPECT_EQ(body, "Hello, world!\nHello, world!\n");
    Exchange next = send(c, request("GET", "/app/hello"));
    ASSERT_TRUE(next.ended);
    EXPECT_EQ(next.body, "Hello, world!\n");
    EXPECT_EQ(calls(), 3);
}

TEST_F(AjpAdapter, FrontEndResettingAnIdlePooledConnectionIsNotAWarning) {
    // A front end that closes a pooled connection with the end of a
    // response unread resets it: between requests, its own business.
    start();
    test::StderrCapture log;
    const log::Level was = log::level();
    log::set_level(log::Level::debug);
    {
        SocketClient c = connect();
        ASSERT_TRUE(send(c, request("GET", "/app/hello")).ended);
        const linger reset{1, 0};  // close(2) sends RST
        ASSERT_EQ(::setsockopt(c.fd(), SOL_SOCKET, SO_LINGER, &reset, sizeof(reset)), 0);
    }
    const bool seen = log.wait_for(" reset its idle AJP connection", 5000ms);
    log::set_level(was);
    EXPECT_TRUE(seen) << log.text();
    EXPECT_EQ(log.text().find("warn: reading an AJP packet"), std::string::npos) << log.text();
    const Exchange ex = round_trip(request("GET", "/app/hello"));
    ASSERT_TRUE(ex.ended);
    EXPECT_EQ(ex.body, "Hello, world!\n");
}

TEST_F(AjpAdapter, ShutdownIsIgnored) {
    start();
    SocketClient c = connect();
    c.send(std::string("\x12\x34\x00\x01\x07", 5));
    Exchange ex = send(c, request("GET", "/app/hello"));
    ASSERT_TRUE(ex.ended);
    EXPECT_EQ(ex.body, "Hello, world!\n");
}

TEST_F(AjpAdapter, EnvironFromTheForwardRequest) {
    start();
    wire::ForwardRequest r = request("GET", "/app/env/a%20b");
    r.query_string = "q=1&r=%20";
    r.is_ssl = true;
    r.ssl_cipher = "TLS_AES_128_GCM_SHA256";
    r.remote_user = "alice";
    r.headers.emplace_back("X-Custom", "1");
    r.headers.emplace_back("Proxy", "evil");
    r.attributes.emplace_back("SSL_CLIENT_S_DN", "CN=alice");
    r.attributes.emplace_back("javax.servlet.include.path_info", "/WEB-INF/web.xml");
    Exchange ex = round_trip(r);
    ASSERT_TRUE(ex.ended);
    auto env = env_of(ex.body);
    EXPECT_EQ(env["REQUEST_METHOD"], "GET");
    EXPECT_EQ(env["REQUEST_URI"], "/app/env/a%20b?q=1&r=%20");
    EXPECT_EQ(env["SCRIPT_NAME"], "/app");
    EXPECT_EQ(env["PATH_INFO"], "/env/a b");
    EXPECT_EQ(env["QUERY_STRING"], "q=1&r=%20");
    EXPECT_EQ(env["SERVER_NAME"], "example.test");
    EXPECT_EQ(env["SERVER_PORT"], "80");
    EXPECT_EQ(env["SERVER_PROTOCOL"], "HTTP/1.1");
    EXPECT_EQ(env["REMOTE_ADDR"], "192.0.2.7");
    EXPECT_EQ(env["REMOTE_PORT"], "40404");
    EXPECT_EQ(env["SERVER_ADDR"], "127.0.0.1");
    EXPECT_EQ(env["HTTPS"], "on");
    EXPECT_EQ(env["SSL_CIPHER"], "TLS_AES_128_GCM_SHA256");
    EXPECT_EQ(env["REMOTE_USER"], "alice");
    EXPECT_EQ(env["HTTP_HOST"], "example.test");
    EXPECT_EQ(env["HTTP_X_CUSTOM"], "1");
    EXPECT_EQ(env["AJP_ATTR_SSL_CLIENT_S_DN"], "CN=alice") << "allow-listed";
    EXPECT_EQ(env.count("HTTP_PROXY"), 0u) << "httpoxy";
    for (const auto& [k, v] : env) {
        EXPECT_EQ(k.find("javax"), std::string::npos) << "not allow-listed: " << k;
        EXPECT_EQ(v.find("s3cret"), std::string::npos) << "the secret leaked as " << k;
        EXPECT_EQ(v.find("WEB-INF"), std::string::npos) << k;
    }
}

TEST_F(AjpAdapter, StoredMethodReachesTheCallback) {
    start();
    Exchange ex = round_trip(request("BREW", "/app/env"));
    ASSERT_TRUE(ex.ended);
    EXPECT_EQ(env_of(ex.body)["REQUEST_METHOD"], "BREW");
}

TEST_F(AjpAdapter, HeadHasContentLengthAndNoBody) {
    start();
    Exchange ex = round_trip(request("HEAD", "/app/hello"));
    ASSERT_TRUE(ex.ended);
    EXPECT_TRUE(ex.reuse);
    EXPECT_EQ(ex.status, 200);
    EXPECT_EQ(ex.header("Content-Length"), "14");
    EXPECT_TRUE(ex.chunks.empty());
}

// --- request bodies ---------------------------------------------------------

class AjpBodies : public AjpAdapter, public ::testing::WithParamInterface<std::size_t> {};

TEST_P(AjpBodies, KnownLengthArrivesIntactAndConnectionIsKept) {
    start();
    const std::string body = deterministic_bytes(GetParam(), 7);
    SocketClient c = connect();
    for (int i = 0; i < 2; ++i) {
        Exchange ex = send(c, request("POST", "/app/sum"), body);
        ASSERT_TRUE(ex.ended);
        EXPECT_TRUE(ex.reuse);
        EXPECT_EQ(ex.body,
                  "bytes=" + std::to_string(body.size()) + " fnv=" + std::to_string(fnv1a(body)));
        const std::size_t packets = (body.size() + 8185) / 8186;
        EXPECT_EQ(ex.body_requests, packets > 0 ? static_cast<int>(packets) - 1 : 0)
            << "the first packet comes unasked; none is asked past the length";
    }
}

TEST_P(AjpBodies, ChunkedArrivesIntactWhenAsked) {
    start();
    const std::string body = deterministic_bytes(GetParam(), 9);
    SocketClient c = connect();
    Exchange ex = send(c, request("POST", "/app/sum"), body, true);
    ASSERT_TRUE(ex.ended);
    EXPECT_TRUE(ex.reuse);
    EXPECT_EQ(ex.body,
              "bytes=" + std::to_string(body.size()) + " fnv=" + std::to_string(fnv1a(body)));
    Exchange again = send(c, request("GET", "/app/hello"));
    EXPECT_EQ(again.body, "Hello, world!\n");
}

INSTANTIATE_TEST_SUITE_P(Sizes, AjpBodies,
                         ::testing::Values(0, 1, 8185, 8186, 8187, 8192, 100'000, 1 << 20));

TEST_F(AjpAdapter, ChunkedEndedByAZeroLengthChunkAsModProxyAjpSends) {
    start();
    wire::ForwardRequest r = request("POST", "/app/sum");
    r.headers.emplace_back("Transfer-Encoding", "chunked");
    SocketClient c = connect();
    c.send(forward(r));
    std::deque<std::string> packets =
        body_packets("abc", true, std::string("\x12\x34\x00\x02\x00\x00", 6));
    Exchange ex = read_exchange(c, packets);
    ASSERT_TRUE(ex.ended);
    EXPECT_TRUE(ex.reuse);
    EXPECT_EQ(ex.body, "bytes=3 fnv=" + std::to_string(fnv1a("abc")));
}

TEST_F(AjpAdapter, ChunkedFirstPacketSentUnaskedIsTaken) {
    start();
    wire::ForwardRequest r = request("POST", "/app/sum");
    r.headers.emplace_back("Transfer-Encoding", "chunked");
    SocketClient c = connect();
    std::deque<std::string> packets = body_packets("unasked+asked", true);
    c.send(forward(r) + packets.front());
    packets.pop_front();
    Exchange ex = read_exchange(c, packets);
    ASSERT_TRUE(ex.ended);
    EXPECT_EQ(ex.body, "bytes=13 fnv=" + std::to_string(fnv1a("unasked+asked")));
}

TEST_F(AjpAdapter, UnreadBodyIsDrainedAndTheConnectionKept) {
    start();
    SocketClient c = connect();
    Exchange ex = send(c, request("POST", "/app/ignore-body"), deterministic_bytes(30'000, 1));
    ASSERT_TRUE(ex.ended);
    EXPECT_TRUE(ex.reuse);
    EXPECT_EQ(ex.body, "not read");
    EXPECT_EQ(send(c, request("GET", "/app/hello")).body, "Hello, world!\n");
}

TEST_F(AjpAdapter, OversizedBodyIs413WithEndResponseReuseZero) {
    options_.limits.max_body_bytes = 1000;
    start();
    SocketClient c = connect();
    wire::ForwardRequest r = request("POST", "/app/sum");
    r.headers.emplace_back("content-length", "5000");
    c.send(forward(r) + wire::encode_body_packet(std::string(5000, 'x')));
    Exchange ex = read_exchange(c);
    ASSERT_TRUE(ex.ended);
    EXPECT_EQ(ex.status, 413);
    EXPECT_FALSE(ex.reuse);
    EXPECT_TRUE(c.wait_closed(5000ms));
    EXPECT_EQ(calls(), 0);
}

TEST_F(AjpAdapter, OversizedChunkedBodyIs413) {
    options_.limits.max_body_bytes = 10'000;
    start();
    Exchange ex = round_trip(request("POST", "/app/sum"), std::string(30'000, 'x'), true);
    ASSERT_TRUE(ex.ended);
    EXPECT_EQ(ex.status, 413);
    EXPECT_FALSE(ex.reuse);
}

// --- responses --------------------------------------------------------------

TEST_F(AjpAdapter, FlushSendsABodyChunkAtOnce) {
    start();
    SocketClient c = connect();
    c.send(forward(request("GET", "/app/stream")));
    // The head and "first" arrive while the callback still waits.
    std::string got;
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (got.find("first") == std::string::npos && std::chrono::steady_clock::now() < deadline)
        got += c.recv_some(500ms);
    ASSERT_NE(got.find("first"), std::string::npos);
    EXPECT_NE(got.find(std::string("AB\x00\x04\x03\x00\x00\x00", 8)), std::string::npos)
        << "an empty SEND_BODY_CHUNK asks the front end to flush";
    EXPECT_EQ(got.find(std::string("\x05\x01", 2)), std::string::npos) << "not ended yet";
    release();
    std::string rest = c.recv_until(std::string("AB\x00\x02\x05\x01", 6));
    EXPECT_NE(rest.find("second"), std::string::npos);
}

TEST_F(AjpAdapter, LargeBodyIsSplitIntoPacketSizedChunks) {
    start();
    Exchange ex = round_trip(request("GET", "/app/big-body"));
    ASSERT_TRUE(ex.ended);
    EXPECT_EQ(ex.body.size(), 100'000u);
    for (const auto& chunk : ex.chunks)
        EXPECT_LE(chunk.size(), wire::max_response_chunk(8192));
}

TEST_F(AjpAdapter, ThrowIs500AndTheConnectionKept) {
    start();
    SocketClient c = connect();
    Exchange ex = send(c, request("GET", "/app/throw"));
    ASSERT_TRUE(ex.ended);
    EXPECT_EQ(ex.status, 500);
    EXPECT_TRUE(ex.reuse);
    EXPECT_EQ(send(c, request("GET", "/app/hello")).body, "Hello, world!\n");
}

TEST_F(AjpAdapter, ThrowAfterFlushCutsTheResponseOffWithoutEndResponse) {
    start();
    Exchange ex = round_trip(request("GET", "/app/flush-then-throw"));
    EXPECT_FALSE(ex.ended);
    EXPECT_TRUE(ex.closed);
    EXPECT_EQ(ex.body, "partial");
}

TEST_F(AjpAdapter, HeadersLargerThanAPacketBecome500) {
    start();
    Exchange ex = round_trip(request("GET", "/app/big-headers"));
    ASSERT_TRUE(ex.ended);
    EXPECT_EQ(ex.status, 500);
    EXPECT_TRUE(ex.body.empty());
}

TEST_F(AjpAdapter, LargerPacketSizeCarriesLargerHeaders) {
    options_.ajp.packet_size = 65536;
    start();
    Exchange ex = round_trip(request("GET", "/app/big-headers"));
    ASSERT_TRUE(ex.ended);
    EXPECT_EQ(ex.status, 200);
    EXPECT_EQ(ex.header("X-Big").size(), 10000u);
}

// --- the secret --------------------------------------------------------------

TEST_F(AjpAdapter, MissingSecretIs403AndTheCallbackNeverRuns) {
    start();
    SocketClient c = connect();
    Exchange ex = send(c, request("GET", "/app/hello", ""));
    ASSERT_TRUE(ex.ended);
    EXPECT_EQ(ex.status, 403);
    EXPECT_FALSE(ex.reuse);
    EXPECT_TRUE(c.wait_closed(5000ms));
    EXPECT_EQ(calls(), 0);
}

TEST_F(AjpAdapter, WrongSecretIs403) {
    start();
    for (const char* wrong : {"s3cre", "s3cret!", "S3CRET", "x"}) {
        Exchange ex = round_trip(request("POST", "/app/sum", wrong), "body");
        ASSERT_TRUE(ex.ended) << wrong;
        EXPECT_EQ(ex.status, 403) << wrong;
        EXPECT_FALSE(ex.reuse);
    }
    EXPECT_EQ(calls(), 0);
}

TEST_F(AjpAdapter, RefusesToStartWithoutASecret) {
    options_.ajp.secret.clear();
    try {
        start();
        FAIL() << "started without a secret";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("--ajp-secret"), std::string::npos) << e.what();
    }
}

TEST_F(AjpAdapter, InsecureAcceptsRequestsWithoutASecret) {
    options_.ajp.secret.clear();
    options_.ajp.insecure = true;
    start();
    EXPECT_EQ(round_trip(request("GET", "/app/hello", "")).body, "Hello, world!\n");
}

// --- bad input -----------------------------------------------------------------

class AjpBadInput : public AjpAdapter, public ::testing::WithParamInterface<const char*> {};

std::string bad_input(const std::string& name) {
    std::string ok = forward(request("GET", "/app/hello"));
    if (name == "bad_magic")
        return "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    if (name == "response_magic")
        return "AB" + ok.substr(2);
    if (name == "oversized_packet")
        return std::string("\x12\x34\x40\x00", 4) + std::string(0x4000, 'x');
    if (name == "bad_boolean") {
        // is_ssl sits just before num_headers: find it by re-encoding.
        wire::ForwardRequest r = request("GET", "/app/hello");
        std::string s = forward(r);
        r.is_ssl = true;
        std::string t = forward(r);
        for (std::size_t i = 0; i < s.size(); ++i)
            if (s[i] != t[i])
                s[i] = 2;
        return s;
    }
    if (name == "truncated_length")
        return ok.substr(0, 4) + ok.substr(4, 10);  // says more, then the peer stops writing
    if (name == "unknown_type")
        return std::string("\x12\x34\x00\x01\x63", 5);
    return ok;
}

TEST_P(AjpBadInput, ClosesWithoutAResponseAndTheNextConnectionWorks) {
    options_.limits.read_timeout = 500ms;
    start();
    {
        SocketClient c = connect();
        c.send(bad_input(GetParam()));
        Exchange ex = read_exchange(c);
        EXPECT_FALSE(ex.ended);
        EXPECT_TRUE(ex.closed);
    }
    EXPECT_EQ(round_trip(request("GET", "/app/hello")).body, "Hello, world!\n");
    EXPECT_EQ(calls(), 1);
}

INSTANTIATE_TEST_SUITE_P(Packets, AjpBadInput,
                         ::testing::Values("bad_magic", "response_magic", "oversized_packet",
                                           "bad_boolean", "truncated_length", "unknown_type"));

TEST_F(AjpAdapter, BadBodyPacketEndsTheConnection) {
    start();
    wire::ForwardRequest r = request("POST", "/app/sum");
    r.headers.emplace_back("content-length", "10");
    SocketClient c = connect();
    c.send(forward(r) + std::string("\x12\x34\x00\x03\x00\x09x", 7));
    Exchange ex = read_exchange(c);
    EXPECT_TRUE(ex.closed || !ex.reuse);
    EXPECT_TRUE(c.wait_closed(5000ms));
}

// --max-connections reached: a 503 with a correct END_RESPONSE that forbids
// reuse; served again once a connection goes.
TEST_F(AjpAdapter, OverloadIsAnswered503WithEndResponse) {
    options_.limits.max_connections = 1;
    start();
    std::optional<SocketClient> held(std::in_place, address_);
    ASSERT_TRUE(send(*held, request("GET", "/app/hello")).ended);  // kept: the one connection
    Exchange refused = round_trip(request("GET", "/app/hello"));
    ASSERT_TRUE(refused.ended);
    EXPECT_FALSE(refused.reuse);
    EXPECT_EQ(refused.status, 503);
    EXPECT_EQ(refused.header("Retry-After"), "1");
    EXPECT_EQ(refused.body, "503 Service Unavailable\n");
    held.reset();
    Exchange ex;
    for (int i = 0; i < 50 && ex.status != 200; ++i) {
        std::this_thread::sleep_for(50ms);
        ex = round_trip(request("GET", "/app/hello"));
    }
    EXPECT_EQ(ex.status, 200);
    EXPECT_EQ(ex.body, "Hello, world!\n");
}

}  // namespace
}  // namespace postern
