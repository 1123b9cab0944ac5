// Tests adapters/http/: the HTTP/1.1 adapter behind a real Server on port 0,
// spoken to over raw sockets, byte for byte.
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "http1_client.hpp"
#include "in_process_gateway.hpp"
#include "postern/postern.hpp"
#include "socket_client.hpp"
#include "test_data.hpp"

namespace postern {
namespace {

using namespace std::chrono_literals;
using test::fnv1a;
using test::SocketClient;
using test::http1::HttpResponse;
using test::http1::ResponseReader;
using Clock = std::chrono::steady_clock;

std::map<std::string, std::string> parse_env(const std::string& body) {
    std::map<std::string, std::string> env;
    std::size_t pos = 0;
    while (pos < body.size()) {
        std::size_t nl = body.find('\n', pos);
        std::string line = body.substr(pos, nl - pos);
        std::size_t eq = line.find('=');
        if (eq != std::string::npos)
            env[line.substr(0, eq)] = line.substr(eq + 1);
        pos = nl == std::string::npos ? body.size() : nl + 1;
    }
    return env;
}

std::string test_body(std::size_t n) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i)
        s[i] = static_cast<char>((i * 31 + 7) & 0xff);
    return s;
}

std::string get(const std::string& target, const std::string& extra = "") {
    return "GET " + target + " HTTP/1.1\r\nHost: test.example\r\n" + extra + "\r\n";
}

// --- The application under test ---------------------------------------------

/// What the test and the callbacks share.
struct Shared {
    std::mutex mutex;
    std::condition_variable cv;
    bool release = false;    // test -> /stream: write the rest
    bool streaming = false;  // /gone -> test: the first part is out
    bool gone_done = false;  // /gone -> test: finished
    bool gone_write_failed = false;
    bool gone_client_gone = false;

    template <class Pred>
    bool wait(Pred pred, std::chrono::milliseconds timeout = 10s) {
        std::unique_lock lock(mutex);
        return cv.wait_for(lock, timeout, pred);
    }
};

Handler make_handler(std::shared_ptr<Shared> shared) {
    return [shared](Request& req, Response& res) {
        const std::string path(req.path_info());
        res.header("Content-Type", "text/plain");
        if (path == "/hello") {
            res.write("Hello, world!\n");
        } else if (path.rfind("/env", 0) == 0) {
            std::string out;
            for (const auto& [k, v] : req.environ())
                out += k + "=" + v + "\n";
            res.write(out);
        } else if (path == "/sum") {
            std::uint64_t h = fnv1a({});
            std::uint64_t n = 0;
            std::string buf(65536, '\0');
            while (std::size_t got = req.read(buf.data(), buf.size())) {
                h = fnv1a(std::string_view(buf.data(), got), h);
                n += got;
            }
            res.write("length=" + std::to_string(n) + " fnv=" + std::to_string(h));
        } else if (path == "/echo") {
            res.write(req.read_all(std::size_t{16} << 20));
        } else if (path == "/stream") {
            res.write("first\n");
            res.flush();
            if (!shared->wait([&] { return shared->release; }, 5s))
                throw std::runtime_error("test never released /stream");
            res.write("second\n");
        } else if (path == "/throw") {
            throw std::runtime_error("deliberate failure");
        } else if (path == "/gone") {
            res.write(std::string(1024, 'x'));
            res.flush();
            {
                std::lock_guard lock(shared->mutex);
                shared->streaming = true;
            }
            shared->cv.notify_all();
            const std::string piece(64 * 1024, 'y');
            bool ok = true;
            const auto until = Clock::now() + 10s;
            while (ok && Clock::now() < until)
                ok = res.write(piece) && res.flush();
            std::lock_guard lock(shared->mutex);
            shared->gone_done = true;
            shared->gone_write_failed = !ok;
            shared->gone_client_gone = res.client_gone();
            shared->cv.notify_all();
        } else {
            res.status(404);
            res.write("no such test path\n");
        }
    };
}

// --- Fixture ----------------------------------------------------------------

class HttpAdapterTest : public ::testing::Test {
  protected:
    Options options() {
        Options o;
        o.listeners = {{"http", "127.0.0.1:0"}};
        o.mounts = {{"/app", make_handler(shared_), "test"}};
        o.threads = 4;
        o.access_log = "off";
        o.limits.max_header_bytes = 8192;
        o.limits.max_headers = 50;
        o.limits.max_body_bytes = 2 << 20;
        o.limits.read_timeout = 5s;
        o.limits.write_timeout = 5s;
        o.drain_timeout = 2s;
        return o;
    }

    void start(Options o) {
        gateway_.options() = std::move(o);
        gateway_.start();
        address_ = gateway_.address();
        port_ = address_.substr(address_.rfind(':') + 1);
    }
    void start() { start(options()); }

    /// A request on a new connection; its response.
    std::optional<HttpResponse> exchange(const std::string& request, bool head_request = false) {
        SocketClient c(address_);
        c.send(request);
        ResponseReader r(c);
        return r.next(head_request);
    }

    /// A good request on a new connection is answered: the server is fine.
    void expect_server_healthy() {
        auto r = exchange(get("/app/hello"));
        ASSERT_TRUE(r.has_value());
        EXPECT_EQ(r->status, 200);
        EXPECT_EQ(r->body, "Hello, world!\n");
    }

    std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();
    test::InProcessGateway gateway_{{"http"}};
    std::string address_;
    std::string port_;
};

// --- Keep-alive, pipelining --------------------------------------------------

TEST_F(HttpAdapterTest, GetKeepsTheConnectionAlive) {
    start();
    SocketClient c(address_);
    ResponseReader reader(c);
    ASSERT_TRUE(c.send(get("/app/hello")));
    auto r = reader.next();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status_line, "HTTP/1.1 200 OK");
    EXPECT_EQ(r->body, "Hello, world!\n");
    EXPECT_EQ(r->header("content-length"), "14");
    EXPECT_EQ(r->header("content-type"), "text/plain");
    EXPECT_TRUE(r->header("date").has_value());
    EXPECT_FALSE(r->header("connection").has_value());
    EXPECT_TRUE(reader.buffered().empty());
    // Still open: a second request on it is answered.
    ASSERT_TRUE(c.send(get("/app/hello")));
    r = reader.next();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
    EXPECT_FALSE(c.closed());
}

TEST_F(HttpAdapterTest, ServesManyRequestsOnOneConnection) {
    start();
    SocketClient c(address_);
    ResponseReader reader(c);
    for (int i = 0; i < 50; ++i) {
        ASSERT_TRUE(c.send(get("/app/env?i=" + std::to_string(i))));
        auto r = reader.next();
        ASSERT_TRUE(r.has_value()) << i;
        EXPECT_EQ(parse_env(r->body)["QUERY_STRING"], "i=" + std::to_string(i));
    }
}

TEST_F(HttpAdapterTest, AnswersPipelinedRequestsInOrder) {
    start();
    SocketClient c(address_);
    ResponseReader reader(c);
    ASSERT_TRUE(c.send(get("/app/env?n=1") + get("/app/hello") + get("/app/env?n=3")));
    auto a = reader.next();
    auto b = reader.next();
    auto d = reader.next();
    ASSERT_TRUE(a && b && d);
    EXPECT_EQ(parse_env(a->body)["QUERY_STRING"], "n=1");
    EXPECT_EQ(b->body, "Hello, world!\n");
    EXPECT_EQ(parse_env(d->body)["QUERY_STRING"], "n=3");
}

TEST_F(HttpAdapterTest, ConnectionCloseIsHonoured) {
    start();
    SocketClient c(address_);
    ResponseReader reader(c);
    ASSERT_TRUE(c.send(get("/app/hello", "Connection: close\r\n")));
    auto r = reader.next();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->header("connection"), "close");
    EXPECT_TRUE(c.wait_closed(5s));
}

// --- The CGI variables ---------------------------------------------------------

TEST_F(HttpAdapterTest, SplitsScriptNameAndPathInfoUnderTheMount) {
    start();
    auto r = exchange(get("/app/env/a%20b/c%2Fd?x=%41&y"));
    ASSERT_TRUE(r.has_value());
    auto env = parse_env(r->body);
    EXPECT_EQ(env["SCRIPT_NAME"], "/app");
    EXPECT_EQ(env["PATH_INFO"], "/env/a b/c/d");
    EXPECT_EQ(env["QUERY_STRING"], "x=%41&y");
    EXPECT_EQ(env["REQUEST_URI"], "/app/env/a%20b/c%2Fd?x=%41&y");
    EXPECT_EQ(env["REQUEST_METHOD"], "GET");
    EXPECT_EQ(env["SERVER_PROTOCOL"], "HTTP/1.1");
    EXPECT_EQ(env["REMOTE_ADDR"], "127.0.0.1");
    EXPECT_FALSE(env["REMOTE_PORT"].empty());
    EXPECT_EQ(env["HTTP_HOST"], "test.example");
}

TEST_F(HttpAdapterTest, ServerNameComesFromHost) {
    start();
    auto r = exchange("GET /app/env HTTP/1.1\r\nHost: Www.Example.COM:8080\r\n\r\n");
    ASSERT_TRUE(r.has_value());
    auto env = parse_env(r->body);
    EXPECT_EQ(env["SERVER_NAME"], "www.example.com");
    EXPECT_EQ(env["SERVER_PORT"], port_);  // the port the request came in on
    r = exchange("GET /app/env HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n");
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(parse_env(r->body)["SERVER_NAME"], "[::1]");
    r = exchange("GET /app/env HTTP/1.0\r\n\r\n");  // no Host: the local address
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(parse_env(r->body)["SERVER_NAME"], "127.0.0.1");
}

TEST_F(HttpAdapterTest, AbsoluteFormTargetIsRoutedByItsPath) {
    start();
    auto r = exchange("GET http://Abs.Example/app/env?q=1 HTTP/1.1\r\nHost: other\r\n\r\n");
    ASSERT_TRUE(r.has_value());
    auto env = parse_env(r->body);
    EXPECT_EQ(env["REQUEST_URI"], "/app/env?q=1");
    EXPECT_EQ(env["PATH_INFO"], "/env");
    EXPECT_EQ(env["SERVER_NAME"], "abs.example");
}

TEST_F(HttpAdapterTest, ForwardedHeadersAreIgnoredFromAnUntrustedPeer) {
    start();
    auto r = exchange(get("/app/env",
                          "X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: https\r\n"
                          "X-Forwarded-Port: 443\r\n"));
    ASSERT_TRUE(r.has_value());
    auto env = parse_env(r->body);
    EXPECT_EQ(env["REMOTE_ADDR"], "127.0.0.1");
    EXPECT_EQ(env.count("HTTPS"), 0u);
    EXPECT_EQ(env["SERVER_PORT"], port_);
    EXPECT_EQ(env["HTTP_X_FORWARDED_FOR"], "203.0.113.7");
}

TEST_F(HttpAdapterTest, ForwardedHeadersAreHonouredFromATrustedProxy) {
    Options o = options();
    o.trusted_proxies = {"127.0.0.1", "10.0.0.0/8"};
    start(std::move(o));
    auto r = exchange(get("/app/env",
                          "X-Forwarded-For: 198.51.100.1, 203.0.113.7, 10.1.2.3\r\n"
                          "X-Forwarded-Proto: https\r\nX-Forwarded-Port: 443\r\n"));
    ASSERT_TRUE(r.has_value());
    auto env = parse_env(r->body);
    EXPECT_EQ(env["REMOTE_ADDR"], "203.0.113.7");
    EXPECT_EQ(env["HTTPS"], "on");
    EXPECT_EQ(env["SERVER_PORT"], "443");
    EXPECT_NE(env["REMOTE_PORT"], "443");
}

// --- Bodies ----------------------------------------------------------------

TEST_F(HttpAdapterTest, PostWithContentLength) {
    start();
    const std::string body = test_body(1 << 20);
    SocketClient c(address_);
    ResponseReader reader(c);
    ASSERT_TRUE(c.send("POST /app/sum HTTP/1.1\r\nHost: h\r\nContent-Length: " +
                       std::to_string(body.size()) + "\r\n\r\n" + body));
    auto r = reader.next();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "length=1048576 fnv=" + std::to_string(fnv1a(body)));
    // The connection carries on after a body.
    ASSERT_TRUE(c.send(get("/app/hello")));
    r = reader.next();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->body, "Hello, world!\n");
}

TEST_F(HttpAdapterTest, ChunkedUpload) {
    start();
    const std::string body = test_body(300000);
    std::string wire = "POST /app/sum HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    std::size_t sizes[] = {1, 1000, 4096, 65536, 7, 100000};
    std::size_t pos = 0;
    for (std::size_t i = 0; pos < body.size(); ++i) {
        std::size_t n = std::min(sizes[i % 6], body.size() - pos);
        char hex[32];
        std::snprintf(hex, sizeof(hex), "%zx", n);
        wire += std::string(hex) + (i % 2 ? ";ext=1" : "") + "\r\n" + body.substr(pos, n) + "\r\n";
        pos += n;
    }
    wire += "0\r\nX-Trailer: yes\r\n\r\n";
    SocketClient c(address_);
    ResponseReader reader(c);
    ASSERT_TRUE(c.send(wire + get("/app/hello")));  // and a pipelined request after it
    auto r = reader.next();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "length=300000 fnv=" + std::to_string(fnv1a(body)));
    r = reader.next();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->body, "Hello, world!\n");
}

TEST_F(HttpAdapterTest, ExpectContinueSends100BeforeReadingTheBody) {
    start();
    const std::string body = test_body(5000);
    SocketClient c(address_);
    ResponseReader reader(c);
    ASSERT_TRUE(
        c.send("PUT /app/sum HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: "
               "5000\r\n\r\n"));
    auto interim = reader.next();
    ASSERT_TRUE(interim.has_value());
    EXPECT_EQ(interim->status_line, "HTTP/1.1 100 Continue");
    ASSERT_TRUE(c.send(body));
    auto r = reader.next();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "length=5000 fnv=" + std::to_string(fnv1a(body)));
    EXPECT_FALSE(r->header("connection").has_value());
}

// A body too large to be read before the callback runs (over 64 KiB) is
// read only if the callback asks for it, and then 100 is sent first.
TEST_F(HttpAdapterTest, ExpectContinueWithoutReadingTheBodySendsNo100AndCloses) {
    start();
    SocketClient c(address_);
    ResponseReader reader(c);
    ASSERT_TRUE(
        c.send("PUT /app/hello HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: "
               "100000\r\n\r\n"));
    auto r = reader.next();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);  // the final answer, no 100 before it
    EXPECT_EQ(r->header("connection"), "close");
    EXPECT_TRUE(c.wait_closed(5s));
}

// A small body is read before the callback runs, whether it reads it or
// not: 100 is sent at once, and the connection carries on afterwards.
TEST_F(HttpAdapterTest, ExpectContinueForASmallBodyIsAnsweredWith100AtOnce) {
    start();
    const std::string body = test_body(5000);
    SocketClient c(address_);
    ResponseReader reader(c);
    ASSERT_TRUE(
        c.send("PUT /app/hello HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: "
               "5000\r\n\r\n"));
    auto interim = reader.next();
    ASSERT_TRUE(interim.has_value());
    EXPECT_EQ(interim->status_line, "HTTP/1.1 100 Continue");
    ASSERT_TRUE(c.send(body));
    auto r = reader.next();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
    EXPECT_FALSE(r->header("connection").has_value());
    // A body sent with the head needs no 100.
    ASSERT_TRUE(
        c.send("PUT /app/sum HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: "
               "5000\r\n\r\n" +
               body));
    r = reader.next();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "length=5000 fnv=" + std::to_string(fnv1a(body)));
    ASSERT_TRUE(c.send(get("/app/hello")));
    r = reader.next();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->body, "Hello, world!\n");
}

TEST_F(HttpAdapterTest, ExpectContinueOverTheLimitGets413Without100) {
    start();
    SocketClient c(address_);
    ResponseReader reader(c);
    ASSERT_TRUE(
        c.send("PUT /app/sum HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: " +
               std::to_string(3 << 20) + "\r\n\r\n"));
    auto r = reader.next();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status_line, "HTTP/1.1 413 Content Too Large");
    EXPECT_EQ(r->header("connection"), "close");
    EXPECT_TRUE(c.wait_closed(5s));
    expect_server_healthy();
}

// --- Responses ----------------------------------------------------------------

TEST_F(HttpAdapterTest, HeadHasTheLengthAndNoBody) {
    start();
    SocketClient c(address_);
    ResponseReader reader(c);
    ASSERT_TRUE(c.send("HEAD /app/hello HTTP/1.1\r\nHost: h\r\n\r\n"));
    auto r = reader.next(/*head_request=*/true);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->header("content-length"), "14");
    // No body bytes follow: the next response starts right away.
    ASSERT_TRUE(c.send(get("/app/hello")));
    r = reader.next();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "Hello, world!\n");
}

TEST_F(HttpAdapterTest, FlushStreamsChunksBeforeTheCallbackReturns) {
    start();
    SocketClient c(address_);
    ASSERT_TRUE(c.send(get("/app/stream")));
    // The first chunk arrives while the callback still waits for us.
    std::string first = c.recv_until("first\n\r\n", 5s);
    ASSERT_NE(first.find("first\n\r\n"), std::string::npos) << first;
    EXPECT_NE(first.find("Transfer-Encoding: chunked\r\n"), std::string::npos);
    EXPECT_NE(first.find("\r\n6\r\nfirst\n\r\n"), std::string::npos);
    {
        std::lock_guard lock(shared_->mutex);
        shared_->release = true;
    }
    shared_->cv.notify_all();
    std::string rest = c.recv_until("0\r\n\r\n", 5s);
    EXPECT_EQ(rest, "7\r\nsecond\n\r\n0\r\n\r\n");
    EXPECT_FALSE(c.closed());
}

TEST_F(HttpAdapterTest, Http10GetsALengthAndTheConnectionCloses) {
    start();
    SocketClient c(address_);
    ResponseReader reader(c);
    ASSERT_TRUE(c.send("GET /app/env HTTP/1.0\r\n\r\n"));
    auto r = reader.next();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status_line, "HTTP/1.1 200 OK");
    EXPECT_TRUE(r->header("content-length").has_value());
    EXPECT_EQ(r->header("connection"), "close");
    EXPECT_EQ(parse_env(r->body)["SERVER_PROTOCOL"], "HTTP/1.0");
    EXPECT_TRUE(c.wait_closed(5s));
}

TEST_F(HttpAdapterTest, Http10KeepAliveOnRequest) {
    start();
    SocketClient c(address_);
    ResponseReader reader(c);
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(c.send("GET /app/hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
        auto r = reader.next();
        ASSERT_TRUE(r.has_value()) << i;
        EXPECT_EQ(r->header("connection"), "keep-alive");
        EXPECT_EQ(r->body, "Hello, world!\n");
    }
}

TEST_F(HttpAdapterTest, Http10StreamIsDelimitedByClose) {
    start();
    {
        std::lock_guard lock(shared_->mutex);
        shared_->release = true;
    }
    SocketClient c(address_);
    ResponseReader reader(c);
    ASSERT_TRUE(c.send("GET /app/stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    auto r = reader.next();
    ASSERT_TRUE(r.has_value());
    EXPECT_FALSE(r->header("transfer-encoding").has_value());
    EXPECT_FALSE(r->header("content-length").has_value());
    EXPECT_EQ(r->header("connection"), "close");
    EXPECT_EQ(r->body, "first\nsecond\n");
    EXPECT_TRUE(c.closed());
}

TEST_F(HttpAdapterTest, ThrowingCallbackGets500AndTheConnectionGoesOn) {
    start();
    SocketClient c(address_);
    ResponseReader reader(c);
    ASSERT_TRUE(c.send(get("/app/throw")));
    auto r = reader.next();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status_line, "HTTP/1.1 500 Internal Server Error");
    ASSERT_TRUE(c.send(get("/app/hello")));
    r = reader.next();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
}

TEST_F(HttpAdapterTest, UnknownPathIs404AndTheConnectionGoesOn) {
    start();
    SocketClient c(address_);
    ResponseReader reader(c);
    ASSERT_TRUE(c.send(get("/elsewhere")));
    auto r = reader.next();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 404);
    ASSERT_TRUE(c.send(get("/app/hello")));
    r = reader.next();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
}

TEST_F(HttpAdapterTest, WriteFailsOnceTheClientIsGone) {
    start();
    {
        SocketClient c(address_);
        ASSERT_TRUE(c.send(get("/app/gone")));
        ASSERT_TRUE(shared_->wait([&] { return shared_->streaming; }));
        std::string some = c.recv_some(5s);
        ASSERT_FALSE(some.empty());
    }  // closed mid-stream
    ASSERT_TRUE(shared_->wait([&] { return shared_->gone_done; }, 15s));
    std::lock_guard lock(shared_->mutex);
    EXPECT_TRUE(shared_->gone_write_failed);
    EXPECT_TRUE(shared_->gone_client_gone);
}

// --- Bad input: a clear refusal, the connection closed, the server fine ------

struct BadRequest {
    const char* name;
    std::string request;
    std::string status_line;
};

void PrintTo(const BadRequest& b, std::ostream* os) {
    *os << b.name;
}

class HttpBadRequestTest : public HttpAdapterTest,
                           public ::testing::WithParamInterface<BadRequest> {};

TEST_P(HttpBadRequestTest, IsRefusedAndTheConnectionClosed) {
    start();
    SocketClient c(address_);
    ResponseReader reader(c);
    c.send(GetParam().request);
    auto r = reader.next();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status_line, GetParam().status_line);
    EXPECT_EQ(r->header("connection"), "close");
    EXPECT_TRUE(c.wait_closed(5s));
    expect_server_healthy();
}

std::string many_headers(int n, std::size_t value_size) {
    std::string s;
    for (int i = 0; i < n; ++i)
        s += "X-H" + std::to_string(i) + ": " + std::string(value_size, 'v') + "\r\n";
    return s;
}

std::string chunked_over_limit() {
    // 2 MiB + 64 KiB in 64 KiB chunks, against a 2 MiB limit.
    std::string s = "POST /app/sum HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    const std::string chunk = "10000\r\n" + std::string(65536, 'z') + "\r\n";
    for (int i = 0; i < 33; ++i)
        s += chunk;
    return s + "0\r\n\r\n";
}

const std::string kPost = "POST /app/echo HTTP/1.1\r\nHost: h\r\n";
const std::string k400 = "HTTP/1.1 400 Bad Request";

INSTANTIATE_TEST_SUITE_P(
    Refusals, HttpBadRequestTest,
    ::testing::Values(
        BadRequest{"RequestLineTooLong", get("/app/" + std::string(9000, 'a')),
                   "HTTP/1.1 414 URI Too Long"},
        BadRequest{"HeaderBlockTooLong", get("/app/hello", many_headers(10, 1000)),
                   "HTTP/1.1 431 Request Header Fields Too Large"},
        BadRequest{"TooManyHeaders", get("/app/hello", many_headers(60, 1)),
                   "HTTP/1.1 431 Request Header Fields Too Large"},
        BadRequest{"LengthAndChunked",
                   kPost + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                   k400},
        BadRequest{"DuplicateLength", kPost + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
                   k400},
        BadRequest{"LengthPlus", kPost + "Content-Length: +5\r\n\r\nhello", k400},
        BadRequest{"LengthList", kPost + "Content-Length: 5,5\r\n\r\nhello", k400},
        BadRequest{"LengthVerticalTab",
                   kPost + "Content-Length: \x0b"
                           "5\r\n\r\nhello",
                   k400},
        BadRequest{"LengthWord", kPost + "Content-Length: five\r\n\r\nhello", k400},
        BadRequest{"UnknownTransferEncoding", kPost + "Transfer-Encoding: gzip\r\n\r\n", k400},
        BadRequest{"ChunkedTwice", kPost + "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
                   k400},
        BadRequest{"SpaceBeforeColon", kPost + "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
                   k400},
        BadRequest{"BadChunkSize",
                   kPost + "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", k400},
        BadRequest{"ChunkSizeWithSign",
                   kPost + "Transfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n", k400},
        BadRequest{"NoHost", "GET /app/hello HTTP/1.1\r\n\r\n", k400},
        BadRequest{"NotHttp", std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11),
                   k400},
        BadRequest{"BodyOverTheLimit",
                   "POST /app/sum HTTP/1.1\r\nHost: h\r\nContent-Length: " +
                       std::to_string(3 << 20) + "\r\n\r\n",
                   "HTTP/1.1 413 Content Too Large"},
        BadRequest{"ChunkedBodyOverTheLimit", chunked_over_limit(),
                   "HTTP/1.1 413 Content Too Large"}),
    [](const ::testing::TestParamInfo<BadRequest>& info) { return std::string(info.param.name); });

// After a refusal the connection lingers (reads and drops what the client
// still sends) for half a second before it closes; it does so in the
// reactor, so refusals in a row do not take the workers away from others.
TEST_F(HttpAdapterTest, RefusedConnectionsLingerWithoutHoldingAWorker) {
    Options o = options();
    o.threads = 2;
    start(std::move(o));
    const auto started = Clock::now();
    std::vector<SocketClient> refused;
    for (int i = 0; i < 8; ++i) {
        refused.emplace_back(address_);
        // Over the body limit: 413, and the body is not read.
        ASSERT_TRUE(refused.back().send("POST /app/sum HTTP/1.1\r\nHost: h\r\nContent-Length: " +
                                        std::to_string(3 << 20) + "\r\n\r\n"));
    }
    for (auto& c : refused) {
        ResponseReader reader(c);
        auto r = reader.next();
        ASSERT_TRUE(r.has_value());
        EXPECT_EQ(r->status, 413);
    }
    auto r = exchange(get("/app/hello"));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
    // Lingering in the two workers would take 8 x 500 ms / 2 here.
    EXPECT_LT(Clock::now() - started, 1s);
    // The answer came with the end of the response stream (shutdown)...
    for (auto& c : refused)
        EXPECT_TRUE(c.wait_closed(5s));
    // ...and what the client still sends is dropped for the linger time;
    // then the connection is closed, and a byte sent after that is reset.
    SocketClient& talker = refused.front();
    const auto until = Clock::now() + 5s;
    while (Clock::now() < until && talker.send("x"))
        std::this_thread::sleep_for(20ms);  // a byte now and then, not a synchronisation
    const auto took = Clock::now() - started;
    EXPECT_FALSE(talker.send("x"));
    EXPECT_GE(took, 450ms);
    EXPECT_LT(took, 3s);
}

TEST_F(HttpAdapterTest, AnIncompleteHeadTimesOutWhileOthersAreServed) {
    Options o = options();
    o.limits.read_timeout = 300ms;
    start(std::move(o));
    const auto started = Clock::now();
    SocketClient slow(address_);
    ASSERT_TRUE(slow.send("GET /app/hello HTTP/1.1\r\nHost: h\r\nX-Never: fin"));
    // Another connection is served meanwhile, well before the timeout.
    auto r = exchange(get("/app/hello"));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
    EXPECT_LT(Clock::now() - started, 250ms);
    ResponseReader reader(slow);
    auto refused = reader.next(false, 5s);
    ASSERT_TRUE(refused.has_value());
    EXPECT_EQ(refused->status_line, "HTTP/1.1 408 Request Timeout");
    EXPECT_TRUE(slow.wait_closed(5s));
    const auto took = Clock::now() - started;
    EXPECT_GE(took, 280ms);
    EXPECT_LT(took, 3s);
}

// Slowloris: heads that trickle in wait in the reactor, not in a worker, so
// three times as many slow clients as worker threads starve no one.
TEST_F(HttpAdapterTest, SlowHeadsHoldNoWorker) {
    Options o = options();
    o.limits.read_timeout = 3s;
    const unsigned slow_count = 3 * o.threads;
    start(std::move(o));
    std::vector<SocketClient> slow;
    slow.reserve(slow_count);
    for (unsigned i = 0; i < slow_count; ++i) {
        slow.emplace_back(address_);
        ASSERT_TRUE(slow.back().send("GET /app/hello HTTP/1.1\r\nHost: h\r\nX-Slow: "));
    }
    // One more byte each, well inside the read timeout: still incomplete.
    std::this_thread::sleep_for(100ms);
    for (auto& c : slow)
        ASSERT_TRUE(c.send("a"));
    const auto started = Clock::now();
    auto r = exchange(get("/app/hello"));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
    // A worker held by a slow head would delay this by the read timeout.
    EXPECT_LT(Clock::now() - started, 1500ms);
    for (auto& c : slow) {
        ResponseReader reader(c);
        auto refused = reader.next(false, 10s);
        ASSERT_TRUE(refused.has_value());
        EXPECT_EQ(refused->status_line, "HTTP/1.1 408 Request Timeout");
    }
    r = exchange(get("/app/hello"));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
}

// --- Slow bodies ---------------------------------------------------------------

/// Sends `body` in pieces of `piece` bytes, one every `every` (the wait for
/// an answer paces it), and returns the answer, which may come before the
/// body is all sent.
std::optional<HttpResponse> send_slowly(SocketClient& c, ResponseReader& reader,
                                        std::string_view body, std::size_t piece,
                                        std::chrono::milliseconds every) {
    for (std::size_t pos = 0; pos < body.size(); pos += piece) {
        if (!c.send(body.substr(pos, piece)))
            break;  // closed: the answer is in
        if (auto r = reader.next(false, every))
            return r;
    }
    return reader.next(false, 5s);
}

std::string post_head(const std::string& target, std::size_t length) {
    return "POST " + target + " HTTP/1.1\r\nHost: h\r\nContent-Length: " + std::to_string(length) +
           "\r\n\r\n";
}

class HttpSlowBodyTest : public HttpAdapterTest {
  protected:
    Options options() {
        Options o = HttpAdapterTest::options();
        o.threads = 2;
        o.limits.read_timeout = 300ms;
        o.limits.min_body_rate = 100'000;  // bytes/s
        return o;
    }
};

// A large body must keep arriving at min_body_rate once read_timeout has
// passed: one at half the rate gets 408 at about twice read_timeout (each
// byte buys 1/rate s), while one at four times the rate is read whole,
// though it takes more than three times read_timeout.
TEST_F(HttpSlowBodyTest, ALargeBodyBelowTheMinimumRateGets408) {
    start(options());
    const std::string body = test_body(400'000);
    SocketClient slow(address_);
    ResponseReader slow_reader(slow);
    ASSERT_TRUE(slow.send(post_head("/app/sum", body.size())));
    const auto started = Clock::now();
    auto r = send_slowly(slow, slow_reader, body, 5'000, 100ms);  // 50 kB/s
    const auto took = Clock::now() - started;
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status_line, "HTTP/1.1 408 Request Timeout");
    EXPECT_EQ(r->header("connection"), "close");
    EXPECT_TRUE(slow.wait_closed(5s));
    EXPECT_GE(took, 500ms);  // 300 ms, then ~half the time it waited
    EXPECT_LT(took, 3s);     // not the 8 s the whole body would take

    SocketClient fast(address_);
    ResponseReader fast_reader(fast);
    ASSERT_TRUE(fast.send(post_head("/app/sum", body.size())));
    r = send_slowly(fast, fast_reader, body, 40'000, 100ms);  // 400 kB/s, ~1 s
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "length=400000 fnv=" + std::to_string(fnv1a(body)));
    expect_server_healthy();
}

// A body that stops arriving gets 408 after read_timeout, whatever came
// before it; so does a chunked one.
TEST_F(HttpSlowBodyTest, ABodyThatStopsGets408AfterTheReadTimeout) {
    start(options());
    SocketClient stalled(address_);
    ASSERT_TRUE(stalled.send(post_head("/app/sum", 200'000) + test_body(100'000)));
    SocketClient chunked(address_);
    ASSERT_TRUE(chunked.send(
        "POST /app/sum HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123"));
    const auto started = Clock::now();
    for (SocketClient* c : {&stalled, &chunked}) {
        ResponseReader reader(*c);
        auto r = reader.next(false, 5s);
        ASSERT_TRUE(r.has_value());
        EXPECT_EQ(r->status_line, "HTTP/1.1 408 Request Timeout");
        EXPECT_TRUE(c->wait_closed(5s));
    }
    const auto took = Clock::now() - started;
    EXPECT_GE(took, 250ms);
    EXPECT_LT(took, 3s);
    expect_server_healthy();
}

// A small body that comes in pieces is read before the callback runs; the
// request is served as if it had come at once, and a pipelined request
// after it too.
TEST_F(HttpSlowBodyTest, ASmallBodyInPiecesIsServedWhole) {
    start(options());
    const std::string body = test_body(30'000);
    SocketClient c(address_);
    ResponseReader reader(c);
    ASSERT_TRUE(c.send(post_head("/app/sum", body.size()) + body.substr(0, 100)));
    ASSERT_FALSE(reader.next(false, 50ms).has_value());
    ASSERT_TRUE(c.send(body.substr(100, 10'000)));
    ASSERT_FALSE(reader.next(false, 50ms).has_value());
    ASSERT_TRUE(c.send(body.substr(10'100) + get("/app/hello")));
    auto r = reader.next();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "length=30000 fnv=" + std::to_string(fnv1a(body)));
    EXPECT_FALSE(r->header("connection").has_value());
    r = reader.next();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->body, "Hello, world!\n");
}

// The same rule for a small body read before the callback runs: at twice
// the rate it is read whole though it takes longer than read_timeout; at
// half the rate it gets 408.
TEST_F(HttpSlowBodyTest, ASmallBodyIsHeldToTheMinimumRateToo) {
    start(options());
    const std::string body = test_body(60'000);
    SocketClient fast(address_);
    ResponseReader fast_reader(fast);
    ASSERT_TRUE(fast.send(post_head("/app/sum", body.size())));
    auto started = Clock::now();
    auto r = send_slowly(fast, fast_reader, body, 10'000, 50ms);  // 200 kB/s, ~300 ms
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "length=60000 fnv=" + std::to_string(fnv1a(body)));

    SocketClient slow(address_);
    ResponseReader slow_reader(slow);
    ASSERT_TRUE(slow.send(post_head("/app/sum", body.size())));
    started = Clock::now();
    r = send_slowly(slow, slow_reader, body, 2'500, 50ms);  // 50 kB/s
    const auto took = Clock::now() - started;
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status_line, "HTTP/1.1 408 Request Timeout");
    EXPECT_EQ(r->header("connection"), "close");
    EXPECT_GE(took, 500ms);
    EXPECT_LT(took, 1100ms);  // not the 1.2 s the whole body would take
    expect_server_healthy();
}

// Slow POST (R.U.D.Y.): four times as many clients as worker threads send
// a head and part of a small body, then stall or trickle a byte now and
// then. They wait in the reactor, not in a worker: a GET and POSTs from
// others are served at once meanwhile, and each slow one gets 408 at its
// deadline.
TEST_F(HttpSlowBodyTest, SlowBodiesHoldNoWorker) {
    Options o = options();
    o.limits.read_timeout = 1s;
    const unsigned slow_count = 4 * o.threads;
    start(std::move(o));
    std::vector<SocketClient> slow;
    slow.reserve(slow_count);
    for (unsigned i = 0; i < slow_count; ++i) {
        slow.emplace_back(address_);
        ASSERT_TRUE(slow.back().send(post_head("/app/sum", 1000) + test_body(10)));
    }
    const auto started = Clock::now();
    // Half of them trickle a byte every 100 ms until their answer begins.
    std::atomic<bool> stop{false};
    std::thread trickler([&] {
        while (!stop.load()) {
            for (unsigned i = 0; i < slow_count; i += 2) {
                pollfd p{slow[i].fd(), POLLIN, 0};
                if (::poll(&p, 1, 0) == 0)
                    ::send(slow[i].fd(), "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
            }
            std::this_thread::sleep_for(100ms);  // the client's pace
        }
    });
    struct StopTrickler {
        std::atomic<bool>& stop;
        std::thread& thread;
        ~StopTrickler() {
            stop = true;
            thread.join();
        }
    } stop_trickler{stop, trickler};

    std::this_thread::sleep_for(250ms);  // a few trickled bytes in
    auto t0 = Clock::now();
    auto r = exchange(get("/app/hello"));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
    const std::string body = test_body(20'000);
    r = exchange(post_head("/app/sum", body.size()) + body);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->body, "length=20000 fnv=" + std::to_string(fnv1a(body)));
    {
        SocketClient split(address_);  // a good body in two pieces
        ResponseReader reader(split);
        ASSERT_TRUE(split.send(post_head("/app/sum", body.size()) + body.substr(0, 5000)));
        ASSERT_TRUE(split.send(body.substr(5000)));
        r = reader.next();
        ASSERT_TRUE(r.has_value());
        EXPECT_EQ(r->body, "length=20000 fnv=" + std::to_string(fnv1a(body)));
    }
    // A worker held by a slow body would delay these by the read timeout.
    EXPECT_LT(Clock::now() - t0, 500ms);

    for (auto& c : slow) {
        ResponseReader reader(c);
        auto refused = reader.next(false, 5s);
        const auto took = Clock::now() - started;
        ASSERT_TRUE(refused.has_value());
        EXPECT_EQ(refused->status_line, "HTTP/1.1 408 Request Timeout");
        EXPECT_EQ(refused->header("connection"), "close");
        EXPECT_GE(took, 900ms);
        EXPECT_LT(took, 3s);
    }
    r = exchange(post_head("/app/sum", body.size()) + body);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
    expect_server_healthy();
}

// --- Idle connections hold no thread ----------------------------------------

TEST_F(HttpAdapterTest, ThousandIdleKeepAliveConnectionsDoNotStarveOthers) {
    rlimit rl{};
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &rl), 0);
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < 2200)
        GTEST_SKIP() << "needs 2200 descriptors, RLIMIT_NOFILE is " << rl.rlim_cur;

    start();  // 4 worker threads
    std::vector<SocketClient> idle;
    idle.reserve(1000);
    for (int i = 0; i < 1000; ++i)
        idle.emplace_back(address_);
    // Half of them did one request and stay open (keep-alive); the others
    // only connected.
    for (int i = 0; i < 500; ++i)
        ASSERT_TRUE(idle[i].send(get("/app/hello")));
    for (int i = 0; i < 500; ++i) {
        ResponseReader reader(idle[i]);
        auto r = reader.next();
        ASSERT_TRUE(r.has_value()) << i;
        ASSERT_EQ(r->status, 200);
    }
    for (int i = 0; i < 20; ++i) {
        const auto t0 = Clock::now();
        auto r = exchange(get("/app/hello"));
        const auto took = Clock::now() - t0;
        ASSERT_TRUE(r.has_value()) << i;
        EXPECT_EQ(r->status, 200);
        EXPECT_LT(took, 100ms) << "request " << i;
    }
    // The idle ones still work, too.
    for (int i : {0, 499, 500, 999}) {
        const auto t0 = Clock::now();
        ASSERT_TRUE(idle[i].send(get("/app/hello")));
        ResponseReader reader(idle[i]);
        auto r = reader.next();
        ASSERT_TRUE(r.has_value()) << i;
        EXPECT_EQ(r->status, 200);
        EXPECT_LT(Clock::now() - t0, 100ms);
    }
}

// --max-connections reached: 503 with Retry-After, then served again once a
// connection goes.
TEST_F(HttpAdapterTest, OverloadIsAnswered503) {
    Options o = options();
    o.limits.max_connections = 1;
    start(std::move(o));
    std::optional<SocketClient> held(std::in_place, address_);
    {
        ResponseReader reader(*held);
        ASSERT_TRUE(held->send(get("/app/hello")));  // kept alive: the one connection
        ASSERT_TRUE(reader.next().has_value());
    }
    auto refused = exchange(get("/app/hello"));
    ASSERT_TRUE(refused.has_value());
    EXPECT_EQ(refused->status, 503);
    EXPECT_EQ(refused->header("retry-after"), "1");
    EXPECT_EQ(refused->body, "503 Service Unavailable\n");
    {
        SocketClient raw(address_);
        ASSERT_TRUE(raw.send(get("/app/hello")));
        EXPECT_EQ(raw.recv_until_close(),
                  "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
                  "Retry-After: 1\r\nContent-Length: 24\r\nConnection: close\r\n\r\n"
                  "503 Service Unavailable\n");
    }
    held.reset();
    std::optional<HttpResponse> r;
    for (int i = 0; i < 50 && !(r && r->status == 200); ++i) {
        std::this_thread::sleep_for(50ms);
        r = exchange(get("/app/hello"));
    }
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
}

}  // namespace
}  // namespace postern
