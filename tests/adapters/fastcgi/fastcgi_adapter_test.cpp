// adapters/fastcgi: the adapter behind a real Server on 127.0.0.1:0, spoken
// to as nginx or Apache would (tests/support/fcgi_client.hpp), including
// the malformed and hostile input a front end (or whatever reaches the
// port) can send.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/blocking.hpp"
#include "core/log.hpp"
#include "fcgi_client.hpp"
#include "in_process_gateway.hpp"
#include "postern/server.hpp"
#include "process.hpp"
#include "socket_client.hpp"
#include "stderr_capture.hpp"
#include "test_data.hpp"
#include "wait.hpp"

namespace postern {
namespace {

using namespace std::chrono_literals;
namespace wire = test::fcgi;
using test::deterministic_bytes;
using test::fnv1a;
using test::SocketClient;
using test::StderrCapture;
using Clock = std::chrono::steady_clock;

/// Lets this process open the ~2,200 descriptors the crowd tests need.
bool raise_descriptor_limit(rlim_t needed) {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return false;
    rl.rlim_cur = rl.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &rl) != 0)
        return false;
    return rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= needed;
}

void set_param(wire::Params& params, const std::string& name, const std::string& value) {
    for (auto& [k, v] : params)
        if (k == name) {
            v = value;
            return;
        }
    params.emplace_back(name, value);
}

wire::Request request(const std::string& method, const std::string& uri, bool keep_conn = false,
                      std::uint16_t id = 1) {
    wire::Request r;
    r.id = id;
    r.keep_conn = keep_conn;
    r.params = wire::cgi_params(method, uri);
    return r;
}

wire::Request post(const std::string& uri, std::string body) {
    wire::Request r = request("POST", uri);
    set_param(r.params, "CONTENT_LENGTH", std::to_string(body.size()));
    set_param(r.params, "CONTENT_TYPE", "application/octet-stream");
    r.body = std::move(body);
    return r;
}

/// The lines "NAME=value" the /env handler writes.
std::map<std::string, std::string> env_of(const wire::Response& r) {
    std::map<std::string, std::string> env;
    std::string body = wire::parse_cgi(r.out).body;
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

std::string local_endpoint(const SocketClient& c) {
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    ::getsockname(c.fd(), reinterpret_cast<sockaddr*>(&ss), &len);
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&ss);
    return "127.0.0.1:" + std::to_string(ntohs(sin->sin_port));
}

class FastCgiAdapter : public ::testing::Test {
  protected:
    FastCgiAdapter() { options_.threads = 4; }

    void start() {
        gateway_.start();
        address_ = gateway_.address();
    }
    void stop() { gateway_.stop(); }

    SocketClient connect() const { return SocketClient(address_); }

    wire::Response round_trip(const wire::Request& r) const {
        SocketClient c = connect();
        return wire::round_trip(c, r);
    }

    void expect_served() const {
        const wire::Response r = round_trip(request("GET", "/app/hello"));
        EXPECT_TRUE(r.ended);
        EXPECT_EQ(wire::parse_cgi(r.out).body, "Hello, world!\n");
    }

    /// Sends `bytes` on a new connection and expects the gateway to close it
    /// without completing a response.
    void expect_dropped(const std::string& bytes, bool then_shutdown_write = false,
                        std::chrono::milliseconds within = 5000ms) const {
        SocketClient c = connect();
        c.send(bytes);
        if (then_shutdown_write)
            c.shutdown_write();
        wire::ResponseReader reader(c);
        const wire::Response& r = reader.read_all(within);
        EXPECT_FALSE(r.ended);
        EXPECT_TRUE(r.connection_closed);
    }

    void release_stream() { gateway_.app().release(); }

    int calls() const { return gateway_.app().calls(); }

    test::InProcessGateway gateway_{{"fastcgi"}};
    Options& options_ = gateway_.options();
    std::string address_;
};

// --- requests as a front end sends them -----------------------------------

TEST_F(FastCgiAdapter, GetAnswersWithCgiStatusHeadersBodyAndEndRequest) {
    start();
    const wire::Response r = round_trip(request("GET", "/app/hello?x=1"));
    ASSERT_TRUE(r.ended) << r.error;
    EXPECT_TRUE(r.out_closed);
    EXPECT_EQ(r.protocol_status, wire::kRequestComplete);
    EXPECT_EQ(r.app_status, 0u);
    EXPECT_TRUE(r.err.empty());
    const wire::CgiResponse cgi = wire::parse_cgi(r.out);
    ASSERT_TRUE(cgi.complete) << r.out;
    EXPECT_EQ(r.out.substr(0, 16), "Status: 200 OK\r\n");
    EXPECT_EQ(cgi.status, 200);
    EXPECT_EQ(cgi.header("Content-Type"), "text/plain");
    EXPECT_EQ(cgi.header("Content-Length"), "14");
    EXPECT_EQ(cgi.body, "Hello, world!\n");
}

TEST_F(FastCgiAdapter, CoreDerivesScriptNameAndPathInfoFromRequestUri) {
    start();
    // nginx's fastcgi_params sends SCRIPT_NAME as the whole path; the core
    // splits REQUEST_URI over its own mounts instead.
    auto env = env_of(round_trip(request("GET", "/app/env/a%20b?q=1&r=2")));
    EXPECT_EQ(env["SCRIPT_NAME"], "/app");
    EXPECT_EQ(env["PATH_INFO"], "/env/a b");
    EXPECT_EQ(env["QUERY_STRING"], "q=1&r=2");
    EXPECT_EQ(env["REQUEST_URI"], "/app/env/a%20b?q=1&r=2");
    EXPECT_EQ(env["REQUEST_METHOD"], "GET");
    EXPECT_EQ(env["REMOTE_ADDR"], "192.0.2.7");
    EXPECT_EQ(env["SERVER_NAME"], "example.test");
    EXPECT_EQ(env.count("FCGI_ROLE"), 0u);  // libfcgi's own, not a CGI variable
}

TEST_F(FastCgiAdapter, PostBodyOfOneMebibyteArrivesIntact) {
    start();
    const std::string body = deterministic_bytes(1 << 20, 42);
    const wire::Response r = round_trip(post("/app/sum", body));
    ASSERT_TRUE(r.ended);
    EXPECT_EQ(wire::parse_cgi(r.out).body, "bytes=1048576 fnv=" + std::to_string(fnv1a(body)));
}

TEST_F(FastCgiAdapter, LargeResponseGoesOutAsWholeRecordsInOrder) {
    // 16 KiB and more bypass libfcgi's 8 KiB buffer (FcgxSink::put_direct):
    // records of up to 65528 bytes, after the head libfcgi buffered.
    start();
    for (std::size_t size :
         {std::size_t{16 * 1024}, std::size_t{65528 * 3 + 5}, std::size_t{1000003}}) {
        const std::string body = deterministic_bytes(size, 7);
        const wire::Response r = round_trip(post("/app/echo", body));
        ASSERT_TRUE(r.ended) << size << ": " << r.error;
        EXPECT_TRUE(r.out_closed);
        const wire::CgiResponse cgi = wire::parse_cgi(r.out);
        EXPECT_EQ(cgi.status, 200);
        EXPECT_EQ(cgi.body.size(), size);
        EXPECT_TRUE(cgi.body == body) << size;
    }
    expect_served();
}

TEST_F(FastCgiAdapter, BodyWithoutContentLengthEndsAtTheEmptyStdinRecord) {
    start();
    const std::string body = deterministic_bytes(100'000, 7);
    wire::Request r = request("POST", "/app/sum");  // CONTENT_LENGTH ""
    SocketClient c = connect();
    c.send(wire::begin_request(1) + wire::params_stream(1, r.params) +
           wire::stdin_stream(1, body, 1000));
    wire::ResponseReader reader(c);
    const wire::Response& out = reader.read_all();
    ASSERT_TRUE(out.ended);
    EXPECT_EQ(wire::parse_cgi(out.out).body, "bytes=100000 fnv=" + std::to_string(fnv1a(body)));
}

TEST_F(FastCgiAdapter, ThreeRequestsOnOneKeptConnection) {
    start();
    SocketClient c = connect();
    for (std::uint16_t id = 1; id <= 3; ++id) {
        const wire::Response r = wire::round_trip(c, request("GET", "/app/hello", true, id));
        ASSERT_TRUE(r.ended) << "request " << id;
        EXPECT_FALSE(r.connection_closed);
        EXPECT_EQ(wire::parse_cgi(r.out).body, "Hello, world!\n");
    }
    EXPECT_FALSE(c.closed());
    EXPECT_EQ(calls(), 3);
}

TEST_F(FastCgiAdapter, ARequestThatArrivesWhileTheLastIsServedIsServedNext) {
    // The reactor does not look at a kept connection again after a request
    // that read its socket dry: it waits for the next readiness edge. The
    // second request arrives while the first one's callback sleeps, after
    // that read, so its edge comes while a worker still serves the
    // connection: that worker must serve it too, with no more bytes from
    // the front end to wake anyone.
    options_.threads = 2;
    start();
    for (int round = 0; round < 3; ++round) {
        SocketClient c = connect();
        ASSERT_TRUE(c.send(wire::encode(request("GET", "/app/sleep?ms=300", true, 1))));
        std::this_thread::sleep_for(100ms);
        ASSERT_TRUE(c.send(wire::encode(request("GET", "/app/hello", true, 2))));
        wire::ResponseReader reader(c, 2);
        const wire::Response& second = reader.read_all(5000ms);
        ASSERT_TRUE(second.ended) << "round " << round;
        EXPECT_EQ(wire::parse_cgi(second.out).body, "Hello, world!\n");
        bool first_ended = false;
        for (const wire::Record& r : reader.others())
            first_ended = first_ended || (r.request_id == 1 && r.type == 3);
        EXPECT_TRUE(first_ended) << "round " << round;
        // And the connection is still kept for a third.
        const wire::Response third = wire::round_trip(c, request("GET", "/app/hello", true, 3));
        ASSERT_TRUE(third.ended) << "round " << round;
    }
    EXPECT_EQ(calls(), 9);
}

TEST_F(FastCgiAdapter, RequestsSentBackToBackInOneWriteAreAllServed) {
    // A kept connection is registered edge-triggered, and after a request
    // the reactor waits for the next edge without looking at the socket
    // again when the adapter says it read the socket dry. Here the front end
    // writes a POST and two GETs at once and then nothing more: if the
    // adapter claimed "dry" with bytes of the next request still in the
    // socket (or in its own buffers), no edge would ever come for them and
    // the last answer would never arrive. The bodies put the end of the
    // first request before, at and after the adapter's 16 KiB read, and
    // past what it collects in the reactor (64 KiB; libfcgi reads the
    // rest from the socket itself). One makes the first request exactly two
    // reads long: the second read is full, so the socket is not dry though
    // the request ended there, and the next requests are still in it.
    options_.threads = 2;
    start();
    // The body in records of up to 65,535 bytes, as nginx sends it.
    const auto first_of = [](const std::string& body) {
        const wire::Request r = post("/app/sum", body);
        return wire::begin_request(1, true) + wire::params_stream(1, r.params) +
               wire::stdin_stream(1, body, 65535);
    };
    std::size_t two_reads = 30 * 1024;
    while (first_of(std::string(two_reads, 'x')).size() < 32 * 1024)
        ++two_reads;
    ASSERT_EQ(first_of(std::string(two_reads, 'x')).size(), 32u * 1024);
    for (std::size_t size :
         {std::size_t{0}, std::size_t{100}, std::size_t{16 * 1024 - 200}, std::size_t{16 * 1024},
          two_reads, std::size_t{40'000}, std::size_t{64 * 1024 + 1}, std::size_t{300'000}}) {
        SocketClient c = connect();
        const std::string body = deterministic_bytes(size, 11);
        const std::string bytes = first_of(body) +
                                  wire::encode(request("GET", "/app/hello", true, 2)) +
                                  wire::encode(request("GET", "/app/hello", true, 3));
        ASSERT_TRUE(c.send(bytes));
        wire::ResponseReader reader(c, 3);
        const wire::Response& third = reader.read_all(5000ms);
        ASSERT_TRUE(third.ended) << "body of " << size << " bytes: " << third.error;
        EXPECT_EQ(wire::parse_cgi(third.out).body, "Hello, world!\n");
        std::string first_out;
        int ended = 0;
        for (const wire::Record& r : reader.others()) {
            if (r.request_id == 1 && r.type == 6)  // FCGI_STDOUT
                first_out += r.content;
            if (r.type == 3)  // FCGI_END_REQUEST
                ++ended;
        }
        EXPECT_EQ(ended, 2) << "body of " << size << " bytes";
        EXPECT_EQ(wire::parse_cgi(first_out).body,
                  "bytes=" + std::to_string(size) + " fnv=" + std::to_string(fnv1a(body)));
        // Nothing was lost or left over: the connection serves the next one.
        const wire::Response next = wire::round_trip(c, request("GET", "/app/hello", true, 4));
        ASSERT_TRUE(next.ended) << "body of " << size << " bytes";
        EXPECT_EQ(wire::parse_cgi(next.out).body, "Hello, world!\n");
    }
}

TEST_F(FastCgiAdapter, WhatFollowsARequestInTheSameWriteIsJudgedAsTheNextRequest) {
    // The first request is answered whatever follows it; what follows is
    // held to the rules of a request of its own: garbage closes the
    // connection after the answer, an empty FCGI_ABORT_REQUEST for the
    // request just answered (§5.4) is dropped and the request after it served.
    start();
    {
        SocketClient c = connect();
        ASSERT_TRUE(
            c.send(wire::encode(request("GET", "/app/hello", true, 1)) + "\x09 not a record"));
        wire::ResponseReader reader(c, 1);
        const wire::Response& r = reader.read_all(5000ms);
        ASSERT_TRUE(r.ended);
        EXPECT_EQ(wire::parse_cgi(r.out).body, "Hello, world!\n");
        EXPECT_TRUE(c.wait_closed(5000ms));
    }
    {
        SocketClient c = connect();
        ASSERT_TRUE(c.send(wire::encode(request("GET", "/app/hello", true, 1)) +
                           wire::record(wire::kAbortRequest, 1, "") +
                           wire::encode(request("GET", "/app/hello", true, 2))));
        wire::ResponseReader reader(c, 2);
        const wire::Response& r = reader.read_all(5000ms);
        ASSERT_TRUE(r.ended);
        EXPECT_EQ(wire::parse_cgi(r.out).body, "Hello, world!\n");
        EXPECT_FALSE(c.closed());
    }
    expect_served();
}

TEST_F(FastCgiAdapter, WithoutKeepConnTheGatewayClosesAfterEndRequest) {
    start();
    SocketClient c = connect();
    const wire::Response r = wire::round_trip(c, request("GET", "/app/hello"));
    ASSERT_TRUE(r.ended);
    EXPECT_TRUE(c.wait_closed(2000ms));
}

TEST_F(FastCgiAdapter, HundredHeadersAndASixKilobyteHeaderPass) {
    start();
    wire::Request r = request("GET", "/app/env");
    for (int i = 0; i < 100; ++i)
        r.params.emplace_back("HTTP_X_HEADER_" + std::to_string(i), "value-" + std::to_string(i));
    const std::string big(6 * 1024, 'b');
    r.params.emplace_back("HTTP_X_BIG", big);
    auto env = env_of(round_trip(r));
    for (int i = 0; i < 100; ++i)
        EXPECT_EQ(env["HTTP_X_HEADER_" + std::to_string(i)], "value-" + std::to_string(i));
    EXPECT_EQ(env["HTTP_X_BIG"], big);
}

TEST_F(FastCgiAdapter, RepeatedHeaderParamsAreJoined) {
    start();
    // nginx sends each copy of a repeated header as its own param.
    wire::Request r = request("GET", "/app/env");
    r.params.emplace_back("HTTP_X_MULTI", "a");
    r.params.emplace_back("HTTP_COOKIE", "c=1");
    r.params.emplace_back("HTTP_X_MULTI", "b");
    r.params.emplace_back("HTTP_COOKIE", "d=2");
    r.params.emplace_back("HTTP_PROXY", "http://evil.test:3128");  // httpoxy
    auto env = env_of(round_trip(r));
    EXPECT_EQ(env["HTTP_X_MULTI"], "a, b");
    EXPECT_EQ(env["HTTP_COOKIE"], "c=1; d=2");
    EXPECT_EQ(env.count("HTTP_PROXY"), 0u);
}

TEST_F(FastCgiAdapter, FlushSendsTheFirstChunkBeforeTheHandlerFinishes) {
    start();
    SocketClient c = connect();
    c.send(wire::encode(request("GET", "/app/stream")));
    wire::ResponseReader reader(c);
    // The handler waits for release_stream(), so "first" can only arrive
    // here if flush() put it on the wire.
    ASSERT_TRUE(reader.read_until(
        [](const wire::Response& r) { return wire::parse_cgi(r.out).body == "first"; }, 5000ms))
        << reader.response().out;
    EXPECT_FALSE(reader.response().ended);
    EXPECT_FALSE(wire::parse_cgi(reader.response().out).header("Content-Length"));
    release_stream();
    const wire::Response& r = reader.read_all();
    ASSERT_TRUE(r.ended);
    EXPECT_EQ(wire::parse_cgi(r.out).body, "firstsecond");
}

TEST_F(FastCgiAdapter, HeadGetsContentLengthAndNoBody) {
    start();
    const wire::Response r = round_trip(request("HEAD", "/app/hello"));
    ASSERT_TRUE(r.ended);
    const wire::CgiResponse cgi = wire::parse_cgi(r.out);
    ASSERT_TRUE(cgi.complete);
    EXPECT_EQ(cgi.status, 200);
    EXPECT_EQ(cgi.header("Content-Length"), "14");
    EXPECT_EQ(cgi.body, "");
}

// RFC 9110 §6.4.1: a 204 or 304 response has no content. What the callback
// wrote anyway stays off FCGI_STDOUT, and the kept connection serves on.
TEST_F(FastCgiAdapter, NoContentAndNotModifiedDropTheBody) {
    start();
    SocketClient c = connect();
    const std::pair<const char*, const char*> cases[] = {
        {"/app/status/204", "Status: 204 No Content\r\n\r\n"},
        {"/app/status/304", "Status: 304 Not Modified\r\n\r\n"},
    };
    std::uint16_t id = 0;
    for (const auto& [uri, head] : cases) {
        const wire::Response r = wire::round_trip(c, request("GET", uri, true, ++id));
        ASSERT_TRUE(r.ended) << uri << ": " << r.error;
        EXPECT_TRUE(r.out_closed) << uri;
        EXPECT_EQ(r.protocol_status, wire::kRequestComplete) << uri;
        EXPECT_EQ(r.out, head) << uri << ": no body bytes after the head";
    }
    const wire::Response r = wire::round_trip(c, request("GET", "/app/hello", true, ++id));
    ASSERT_TRUE(r.ended) << r.error;
    EXPECT_EQ(wire::parse_cgi(r.out).body, "Hello, world!\n");
    EXPECT_FALSE(c.closed());
    EXPECT_EQ(calls(), 3);
}

TEST_F(FastCgiAdapter, ThrowingHandlerGives500AndTheGatewayGoesOn) {
    start();
    StderrCapture log;
    const wire::Response r = round_trip(request("GET", "/app/throw"));
    ASSERT_TRUE(r.ended);
    EXPECT_EQ(wire::parse_cgi(r.out).status, 500);
    expect_served();
    stop();
    EXPECT_NE(log.text().find("boom from the test handler"), std::string::npos);
}

TEST_F(FastCgiAdapter, HandlerThrowingAfterFlushLeavesTheResponseCutOff) {
    start();
    SocketClient c = connect();
    c.send(wire::encode(request("GET", "/app/flush-then-throw", true)));
    wire::ResponseReader reader(c);
    const wire::Response& r = reader.read_all();
    EXPECT_EQ(wire::parse_cgi(r.out).body, "partial");
    EXPECT_FALSE(r.ended);  // no FCGI_END_REQUEST: the front end sees it cut off
    EXPECT_FALSE(r.out_closed);
    EXPECT_TRUE(r.connection_closed);
    expect_served();
}

TEST_F(FastCgiAdapter, HandlerSeesWritesFailOnceTheFrontEndHasGone) {
    start();
    {
        SocketClient c = connect();
        c.send(wire::encode(request("GET", "/app/big")));
        wire::ResponseReader reader(c);
        ASSERT_TRUE(
            reader.read_until([](const wire::Response& r) { return !r.out.empty(); }, 5000ms));
    }  // the front end closes, with response bytes unread
    test::TestApp& app = gateway_.app();
    ASSERT_TRUE(app.wait([&] { return app.big_done() == 1; }, 15s));
    EXPECT_EQ(app.big_client_gone(), 1);
}

TEST_F(FastCgiAdapter, AResponseWriteThatWaitsForTheFrontEndCallsAThreadIn) {
    // One thread waits for requests (three stand by). Its response write
    // finds the socket full: it lets a standing-by thread take the other
    // connections before it waits (about_to_block), once for the request.
    options_.pollers = 1;
    start();
    const std::uint64_t before = blocking_handoffs();
    {
        SocketClient c = connect();
        c.send(wire::encode(request("GET", "/app/big")));
        test::wait_until([&] { return blocking_handoffs() != before; }, 5s, 1ms);
        EXPECT_EQ(blocking_handoffs(), before + 1);
        for (int i = 0; i < 5; ++i)
            expect_served();
    }  // the front end closes, with the response unread
    test::TestApp& app = gateway_.app();
    ASSERT_TRUE(app.wait([&] { return app.big_done() == 1; }, 15s));
    EXPECT_EQ(app.big_client_gone(), 1);
    expect_served();
}

TEST_F(FastCgiAdapter, ARequestBodyThatIsLateCallsAThreadIn) {
    // The front end stops half-way through a 1 MiB body: once the one
    // polling thread has waited for the rest for 1 ms, a standing-by thread
    // takes the other connections. The body then arrives whole.
    options_.pollers = 1;
    start();
    const std::uint64_t before = blocking_handoffs();
    const std::string body = deterministic_bytes(1 << 20, 9);
    const std::string bytes = wire::encode(post("/app/sum", body));
    SocketClient c = connect();
    ASSERT_TRUE(c.send(bytes.substr(0, 300'000)));
    test::wait_until([&] { return blocking_handoffs() != before; }, 5s, 1ms);
    EXPECT_EQ(blocking_handoffs(), before + 1);
    for (int i = 0; i < 5; ++i)
        expect_served();
    ASSERT_TRUE(c.send(bytes.substr(300'000)));
    wire::ResponseReader reader(c);
    const wire::Response& r = reader.read_all();
    ASSERT_TRUE(r.ended) << r.error;
    EXPECT_EQ(wire::parse_cgi(r.out).body, "bytes=1048576 fnv=" + std::to_string(fnv1a(body)));
    EXPECT_EQ(blocking_handoffs(), before + 1);
    expect_served();
}

TEST_F(FastCgiAdapter, AuthorizerRoleIsAnsweredWithUnknownRole) {
    start();
    StderrCapture log;
    {
        SocketClient c = connect();
        wire::Request r = request("GET", "/app/hello");
        c.send(wire::begin_request(1, false, wire::kAuthorizer) + wire::params_stream(1, r.params) +
               wire::stdin_stream(1, ""));
        wire::ResponseReader reader(c);
        const wire::Response& out = reader.read_all();
        ASSERT_TRUE(out.ended);
        EXPECT_EQ(out.protocol_status, wire::kUnknownRole);
        EXPECT_TRUE(out.out.empty());
        EXPECT_TRUE(c.wait_closed(2000ms));
    }  // the front end closes in turn, ending the gateway's lingering close
    EXPECT_EQ(calls(), 0);
    expect_served();
    stop();
    EXPECT_NE(log.text().find("FCGI_AUTHORIZER"), std::string::npos);
}

TEST_F(FastCgiAdapter, FrontEndClosingAnIdleKeptConnectionIsNotLogged) {
    start();
    StderrCapture log;
    std::string who;
    {
        SocketClient c = connect();
        who = local_endpoint(c);
        ASSERT_TRUE(wire::round_trip(c, request("GET", "/app/hello", true)).ended);
    }
    expect_served();
    stop();
    EXPECT_EQ(log.text().find(who), std::string::npos) << log.text();
}

TEST_F(FastCgiAdapter, FrontEndResettingAnIdleKeptConnectionIsNotAWarning) {
    // nginx resets a kept upstream connection when it closes it with the
    // end of a response unread (its client went away): between requests,
    // that is the front end's business, as a close is.
    start();
    StderrCapture log;
    const log::Level was = log::level();
    log::set_level(log::Level::debug);
    std::string who;
    {
        SocketClient c = connect();
        who = local_endpoint(c);
        ASSERT_TRUE(wire::round_trip(c, request("GET", "/app/hello", true)).ended);
        const linger reset{1, 0};  // close(2) sends RST
        ASSERT_EQ(::setsockopt(c.fd(), SOL_SOCKET, SO_LINGER, &reset, sizeof(reset)), 0);
    }
    const bool seen = log.wait_for(who + " reset its idle", 5000ms);
    log::set_level(was);
    EXPECT_TRUE(seen) << log.text();
    EXPECT_EQ(log.text().find("warn: reading a FastCGI request head"), std::string::npos)
        << log.text();
    expect_served();
}

TEST_F(FastCgiAdapter, ServesOverAUnixSocket) {
    test::TempDir dir("postern-fastcgi");
    options_.listeners = {{"fastcgi", dir.file("app.sock")}};
    start();
    SocketClient c = connect();
    for (std::uint16_t id = 1; id <= 2; ++id) {
        const wire::Response r = wire::round_trip(c, request("GET", "/app/hello", true, id));
        ASSERT_TRUE(r.ended);
        EXPECT_EQ(wire::parse_cgi(r.out).body, "Hello, world!\n");
    }
    stop();  // before the directory goes
}

TEST_F(FastCgiAdapter, LibfcgiLeavesTheSignalDispositionsAlone) {
    // FCGX_Init installs SIGPIPE, SIGUSR1 and SIGTERM handlers where they
    // are at their default; the adapter puts them back. (Meaningful when
    // this case runs in a process of its own, as under ctest: FCGX_Init
    // runs once per process.)
    struct sigaction before[2], after[2];
    const int signals[2] = {SIGUSR1, SIGTERM};
    for (int i = 0; i < 2; ++i)
        ::sigaction(signals[i], nullptr, &before[i]);
    start();
    expect_served();
    for (int i = 0; i < 2; ++i) {
        ::sigaction(signals[i], nullptr, &after[i]);
        EXPECT_EQ(after[i].sa_handler, before[i].sa_handler) << "signal " << signals[i];
    }
}

// --- bad input: each is dropped, and the next request is served -----------

TEST_F(FastCgiAdapter, ParamsOverTheLimitAreRefused) {
    options_.limits.max_params_bytes = 1024;
    start();
    StderrCapture log;
    wire::Request r = request("GET", "/app/hello");
    r.params.emplace_back("HTTP_X_BIG", std::string(2000, 'b'));
    SocketClient c = connect();
    c.send(wire::encode(r));
    wire::ResponseReader reader(c);
    const wire::Response& out = reader.read_all();
    // 431 where libfcgi got to decode the params, otherwise a closed
    // connection: never the application.
    if (out.ended)
        EXPECT_EQ(wire::parse_cgi(out.out).status, 431);
    else
        EXPECT_TRUE(out.connection_closed);
    EXPECT_EQ(calls(), 0);
    expect_served();
    stop();
    const std::string text = log.text();
    EXPECT_NE(text.find("front end " + local_endpoint(c)), std::string::npos) << text;
    EXPECT_NE(text.find("FastCGI params of"), std::string::npos) << text;
    EXPECT_NE(text.find("(limit 1024)"), std::string::npos) << text;
}

TEST_F(FastCgiAdapter, TooManyParamsAreRefused) {
    options_.limits.max_params = 50;
    start();
    StderrCapture log;
    wire::Request r = request("GET", "/app/hello");
    for (int i = 0; i < 100; ++i)
        r.params.emplace_back("HTTP_X_" + std::to_string(i), "v");
    SocketClient c = connect();
    const wire::Response out = wire::round_trip(c, r);
    ASSERT_TRUE(out.ended);
    EXPECT_EQ(wire::parse_cgi(out.out).status, 431);
    EXPECT_EQ(calls(), 0);
    expect_served();
    stop();
    const std::string text = log.text();
    EXPECT_NE(text.find("FastCGI params (limit 50, --max-params)"), std::string::npos) << text;
}

TEST_F(FastCgiAdapter, BadVersionByteIsDropped) {
    start();
    StderrCapture log;
    std::string bytes = wire::encode(request("GET", "/app/hello"));
    bytes[0] = 2;
    expect_dropped(bytes);
    expect_served();
    stop();
    EXPECT_NE(log.text().find("version byte 0x02"), std::string::npos) << log.text();
    EXPECT_NE(log.text().find("front end 127.0.0.1:"), std::string::npos);
}

TEST_F(FastCgiAdapter, TruncatedRecordThenCloseIsDropped) {
    start();
    StderrCapture log;
    expect_dropped(wire::encode(request("GET", "/app/hello")).substr(0, 5), true);
    expect_dropped(wire::encode(request("GET", "/app/hello")).substr(0, 40), true);
    expect_served();
    stop();
    EXPECT_NE(log.text().find("closed the connection in the middle of a FastCGI request head"),
              std::string::npos)
        << log.text();
    EXPECT_EQ(calls(), 1);
}

TEST_F(FastCgiAdapter, StalledHeadIsDroppedAtTheReadTimeoutWhileOthersAreServed) {
    options_.limits.read_timeout = 300ms;
    start();
    StderrCapture log;
    SocketClient stalled = connect();
    const auto sent = Clock::now();
    stalled.send(wire::encode(request("GET", "/app/hello")).substr(0, 20));  // inside the params
    // The stalled head waits in the reactor; requests are served meanwhile.
    for (int i = 0; i < 3; ++i)
        expect_served();
    EXPECT_FALSE(stalled.closed());
    EXPECT_TRUE(stalled.wait_closed(3000ms));
    const auto waited = Clock::now() - sent;
    EXPECT_GE(waited, 250ms);
    EXPECT_LT(waited, 3000ms);
    expect_served();
    stop();
    EXPECT_NE(log.text().find("stalled in the middle of a FastCGI request head"), std::string::npos)
        << log.text();
}

TEST_F(FastCgiAdapter, TricklingHeadIsBoundedInTotalNotPerRead) {
    options_.limits.read_timeout = 400ms;
    start();
    SocketClient slow = connect();
    const std::string bytes = wire::encode(request("GET", "/app/hello"));
    const auto sent = Clock::now();
    // One byte every 100 ms: each read is well inside the timeout, the whole
    // head is not. The gap between bytes is the test's pace, not a wait for
    // the gateway.
    for (std::size_t i = 0; i < 20 && !slow.closed(); ++i) {
        if (!slow.send(bytes.substr(i, 1)))
            break;
        slow.recv_some(100ms);
    }
    EXPECT_TRUE(slow.wait_closed(2000ms));
    EXPECT_LT(Clock::now() - sent, 1500ms);
    EXPECT_EQ(calls(), 0);
}

TEST_F(FastCgiAdapter, OverflowingNameValueLengthsAreRefused) {
    start();
    StderrCapture log;
    auto lengths = [](std::uint32_t name, std::uint32_t value) {
        std::string out;
        for (std::uint32_t n : {name, value}) {
            out += static_cast<char>(((n >> 24) & 0x7f) | 0x80);
            out += static_cast<char>((n >> 16) & 0xff);
            out += static_cast<char>((n >> 8) & 0xff);
            out += static_cast<char>(n & 0xff);
        }
        return out;
    };
    // CVE-2025-23016: 0x7fffffff + 0x7fffffff + 2 wraps a 32-bit int.
    expect_dropped(wire::begin_request(1) +
                   wire::record(wire::kParams, 1, lengths(0x7fffffff, 0x7fffffff) + "AAAAAAAA") +
                   wire::record(wire::kParams, 1, "") + wire::stdin_stream(1, ""));
    // 1 GiB claimed by 24 bytes: refused before anything is allocated.
    expect_dropped(wire::begin_request(1) +
                   wire::record(wire::kParams, 1, lengths(0x40000000, 1) + "AAAA") +
                   wire::record(wire::kParams, 1, "") + wire::stdin_stream(1, ""));
    // Lengths larger than the record, then the stream ends.
    expect_dropped(wire::begin_request(1) +
                   wire::record(wire::kParams, 1, lengths(0x1000, 1) + "AAAA") +
                   wire::record(wire::kParams, 1, "") + wire::stdin_stream(1, ""));
    expect_served();
    EXPECT_EQ(calls(), 1);
    stop();
    const std::string text = log.text();
    EXPECT_NE(text.find("FastCGI params of 2147483652 bytes"), std::string::npos) << text;
    EXPECT_NE(text.find("FastCGI params of 1073741829 bytes"), std::string::npos) << text;
    EXPECT_NE(text.find("inside a name-value pair"), std::string::npos) << text;
}

TEST_F(FastCgiAdapter, PeerNotOnTheAllowListIsClosedAndNothingServed) {
    options_.allow = {"10.9.9.9"};
    start();
    expect_dropped(wire::encode(request("GET", "/app/hello")));
    EXPECT_EQ(calls(), 0);
}

TEST_F(FastCgiAdapter, UnixPeerOutsideTheAllowedIdsIsClosedAndNothingServed) {
    const std::string path = "/tmp/postern-peercred-" + std::to_string(::getpid()) + ".sock";
    options_.listeners = {{"fastcgi", path}};
    options_.allow_uids = {::getuid() + 4242};
    options_.allow_gids = {::getgid() + 4242};
    start();
    ASSERT_EQ(address_, path);
    expect_dropped(wire::encode(request("GET", "/app/hello")));
    EXPECT_EQ(calls(), 0);
    stop();
    // Either id lets a peer in.
    options_.allow_gids = {::getgid()};
    start();
    expect_served();
    stop();
    options_.allow_uids = {::getuid()};
    options_.allow_gids = {};
    start();
    expect_served();
    EXPECT_EQ(calls(), 2);
}

// --- many connections ----------------------------------------------------

TEST_F(FastCgiAdapter, ThousandIdleKeptConnectionsDoNotStarveOthers) {
    if (!raise_descriptor_limit(2200))
        GTEST_SKIP() << "RLIMIT_NOFILE hard limit below 2200";
    start();
    std::vector<SocketClient> idle;
    idle.reserve(1000);
    for (int i = 0; i < 1000; ++i)
        idle.emplace_back(address_);
    for (auto& c : idle)
        ASSERT_TRUE(c.send(wire::encode(request("GET", "/app/hello", true))));
    for (auto& c : idle) {
        wire::ResponseReader reader(c);
        ASSERT_TRUE(reader.read_all().ended);
    }
    // 1,000 kept connections now wait idle, with 4 worker threads.
    for (int i = 0; i < 20; ++i) {
        const auto t0 = Clock::now();
        const wire::Response r = round_trip(request("GET", "/app/hello"));
        const auto took = Clock::now() - t0;
        ASSERT_TRUE(r.ended);
        EXPECT_LT(took, 100ms) << "request " << i;
    }
    const wire::Response again = wire::round_trip(idle[500], request("GET", "/app/hello", true));
    EXPECT_TRUE(again.ended);
}

TEST_F(FastCgiAdapter, ServesOnDescriptorsAbove1024) {
    // CVE-2012-6687: libfcgi once used select(), and FD_SET on a descriptor
    // of 1024 or more wrote past the fd_set.
    if (!raise_descriptor_limit(2200))
        GTEST_SKIP() << "RLIMIT_NOFILE hard limit below 2200";
    std::vector<int> fillers;
    struct Closer {
        std::vector<int>& fds;
        ~Closer() {
            for (int fd : fds)
                ::close(fd);
        }
    } closer{fillers};
    for (int i = 0; i < 1200; ++i) {
        const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        ASSERT_GE(fd, 0);
        fillers.push_back(fd);
        if (fd > 1100)
            break;
    }
    ASSERT_GT(fillers.back(), 1100);
    start();  // the listener, epoll and every accepted socket above 1100
    const wire::Response once = round_trip(request("GET", "/app/hello"));
    EXPECT_TRUE(once.ended);
    SocketClient c = connect();
    ASSERT_GT(c.fd(), 1024);
    for (std::uint16_t id = 1; id <= 3; ++id)
        EXPECT_TRUE(wire::round_trip(c, request("GET", "/app/hello", true, id)).ended);
    const std::string body = deterministic_bytes(200'000, 3);
    EXPECT_EQ(wire::parse_cgi(round_trip(post("/app/sum", body)).out).body,
              "bytes=200000 fnv=" + std::to_string(fnv1a(body)));
    std::string bad = wire::encode(request("GET", "/app/hello"));
    bad[0] = 9;
    expect_dropped(bad);
    expect_served();
}

// --max-connections reached: FCGI_END_REQUEST with FCGI_OVERLOADED (§5.5),
// after a 503 on FCGI_STDOUT; served again once a connection goes.
TEST_F(FastCgiAdapter, OverloadIsAnsweredFcgiOverloaded) {
    options_.limits.max_connections = 1;
    start();
    std::optional<SocketClient> held(std::in_place, address_);
    ASSERT_TRUE(wire::round_trip(*held, request("GET", "/app/hello", true)).ended);
    const wire::Response refused = round_trip(request("GET", "/app/hello"));
    EXPECT_TRUE(refused.ended);
    EXPECT_EQ(refused.protocol_status, 2) << "FCGI_OVERLOADED";
    const wire::CgiResponse cgi = wire::parse_cgi(refused.out);
    EXPECT_EQ(cgi.status, 503);
    EXPECT_EQ(cgi.body, "503 Service Unavailable\n");
    EXPECT_EQ(refused.out,
              "Status: 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
              "Content-Length: 24\r\nRetry-After: 1\r\n\r\n503 Service Unavailable\n");
    EXPECT_EQ(calls(), 1);
    held.reset();
    wire::Response r;
    for (int i = 0; i < 50 && r.protocol_status != 0; ++i) {
        std::this_thread::sleep_for(50ms);
        r = round_trip(request("GET", "/app/hello"));
    }
    EXPECT_TRUE(r.ended);
    EXPECT_EQ(wire::parse_cgi(r.out).body, "Hello, world!\n");
}

}  // namespace
}  // namespace postern
