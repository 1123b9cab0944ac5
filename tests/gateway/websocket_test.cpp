// Tests core/websocket.cpp (postern/websocket.hpp) over real sockets: an
// in-process gateway's HTTP listener, a raw client (tests/support
// websocket_client). The handshake and its refusals, messages both ways,
// ping/pong, both closing handshakes, every bad input of RFC 6455 with the
// close code it gets and the next connection still served, the handlers'
// threads and lifetimes, send() from another thread and its bound.
#include "postern/websocket.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/detached.hpp"
#include "core/http_head.hpp"
#include "in_process_gateway.hpp"
#include "postern/postern.hpp"
#include "protocol_client.hpp"
#include "wait.hpp"
#include "websocket_client.hpp"

namespace postern::test {
namespace {

/// What on_close reported, in order.
class Closes {
  public:
    void add(int code, std::string_view reason) {
        std::lock_guard lock(mutex_);
        list_.emplace_back(code, std::string(reason));
        cv_.notify_all();
    }
    /// The n-th report (0-based), waiting for it.
    std::optional<std::pair<int, std::string>> nth(std::size_t n,
                                                   std::chrono::milliseconds timeout = 5000ms) {
        std::unique_lock lock(mutex_);
        if (!cv_.wait_for(lock, timeout, [&] { return list_.size() > n; }))
            return std::nullopt;
        return list_[n];
    }
    std::size_t size() {
        std::lock_guard lock(mutex_);
        return list_.size();
    }

  private:
    std::mutex mutex_;
    std::condition_variable cv_;
    std::vector<std::pair<int, std::string>> list_;
};

/// A WebSocket the test thread drives (/ws/push).
class Slot {
  public:
    void put(std::shared_ptr<WebSocket> ws) {
        std::lock_guard lock(mutex_);
        ws_ = std::move(ws);
        cv_.notify_all();
    }
    std::shared_ptr<WebSocket> take(std::chrono::milliseconds timeout = 5000ms) {
        std::unique_lock lock(mutex_);
        cv_.wait_for(lock, timeout, [&] { return ws_ != nullptr; });
        return std::exchange(ws_, nullptr);
    }

  private:
    std::mutex mutex_;
    std::condition_variable cv_;
    std::shared_ptr<WebSocket> ws_;
};

class WebSocketTest : public testing::Test {
  protected:
    void SetUp() override {
        gateway_.app().extra = [this](Request& req, Response& res) { return route(req, res); };
        gateway_.start();
    }
    // Before the recorders go: stopping runs the open connections' on_close.
    void TearDown() override { gateway_.stop(); }

    bool route(Request& req, Response& res) {
        const std::string_view path = req.path_info();
        if (path.substr(0, 4) != "/ws/")
            return false;
        WebSocket::Options options;
        if (path == "/ws/small") {
            options.max_message = 64;
            options.max_queued = 1024;
        }
        if (path == "/ws/cookie")
            res.header("Set-Cookie", "room=1");
        std::shared_ptr<WebSocket> ws = WebSocket::accept(req, res, options);
        if (!ws)
            return true;
        ws->on_close([this](int code, std::string_view reason) { closes_.add(code, reason); });
        if (path == "/ws/push") {
            slot_.put(ws);
            return true;
        }
        if (path == "/ws/ping" || path == "/ws/pongthrow") {
            // A weak pointer in on_pong: the connection must not keep
            // itself alive through its own handler beyond on_close.
            std::weak_ptr<WebSocket> weak = ws;
            const bool throws = path == "/ws/pongthrow";
            ws->on_pong([weak, throws](std::string_view payload) {
                if (throws)
                    throw std::runtime_error("pong handler fault");
                if (auto w = weak.lock())
                    w->send("pong:" + std::string(payload));
            });
        }
        ws->on_message([ws, path = std::string(path)](std::string_view data, bool binary) {
            if (path == "/ws/throw")
                throw std::runtime_error("handler fault");
            if (data == "ping me") {
                ws->send(ws->ping("hello") ? "pinged" : "not pinged");
                return;
            }
            if (data == "big ping") {
                try {
                    ws->ping(std::string(126, 'p'));
                    ws->send("sent");
                } catch (const std::invalid_argument&) {
                    ws->send("refused");
                }
                return;
            }
            if (data == "close please") {
                ws->close(4000, "bye");
                return;
            }
            ws->send(data, binary);
        });
        return true;
    }

    /// A new connection, upgraded on `path`.
    WsClient connect(std::string_view path = "/app/ws/echo") {
        WsClient c(gateway_.address("http"));
        EXPECT_TRUE(c.handshake(path)) << c.head();
        return c;
    }

    /// Sends 64 KiB binary messages to a client that reads nothing until
    /// send() refuses one (125 MiB at most): true once it did.
    static bool fill_queue(WebSocket& ws) {
        const std::string piece(64 * 1024, 'q');
        for (int i = 0; i < 2000; ++i)
            if (!ws.send(piece, true))
                return true;
        return false;
    }

    /// The next frame from `c` is `opcode`, carrying `payload`, unmasked.
    static void expect_frame(WsClient& c, int opcode, std::string_view payload) {
        std::optional<WsFrame> f = c.read_frame();
        ASSERT_TRUE(f);
        EXPECT_EQ(f->opcode, opcode);
        EXPECT_FALSE(f->masked);  // a server's frames are never masked
        EXPECT_EQ(f->payload, payload);
    }

    /// A message echoed on a new connection: the gateway still serves.
    void expect_still_serving() {
        WsClient c = connect();
        ASSERT_TRUE(c.send_text("still there?"));
        std::optional<WsFrame> f = c.read_frame();
        ASSERT_TRUE(f);
        EXPECT_EQ(f->opcode, 0x1);
        EXPECT_EQ(f->payload, "still there?");
    }

    InProcessGateway gateway_{{"http", "fastcgi"}};
    Closes closes_;
    Slot slot_;
};

/// The HTTP adapter's framing of a 101 in short: the head, then raw bytes.
class RawFraming : public DetachedFraming {
  public:
    explicit RawFraming(int fd) : fd_(fd) {}
    int fd() const noexcept override { return fd_; }
    void head(const ResponseHead& head, std::string& out) override {
        append_http_head(out, head.status, head.headers, HttpFraming{});
    }
    void body(std::string_view data, std::string& out) override { out += data; }
    void end(std::string&) override {}

  private:
    int fd_;
};

TEST(WebSocketChannel, AHandshakeWaitingForTheStreamThreadIsNotTakenForStalled) {
    // The 101 is queued before the connection reaches the stream thread;
    // until its first look, the reactor's sweeper asks stalled(). It said
    // yes (no progress ever recorded), and the sweeper shut the connection
    // down before the 101 went out: a handshake answered by a close, now and
    // then under load.
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    StreamLoop loop([](void*) {});  // not started: no first look
    ResponseHead head;
    head.status = 101;
    auto channel =
        std::make_shared<Channel>(std::make_unique<RawFraming>(fds[0]), head,
                                  HeaderList{{"Upgrade", "websocket"}}, std::string(), false, 1024);
    channel->attach(loop, nullptr, std::chrono::milliseconds(30'000));
    EXPECT_FALSE(channel->stalled(std::chrono::steady_clock::now()));
    EXPECT_GT(channel->queued(), 0u);
    // Past the write timeout with nothing taken, it is.
    EXPECT_TRUE(channel->stalled(std::chrono::steady_clock::now() + std::chrono::seconds(31)));
    channel->abandon();
    ::close(fds[0]);
    ::close(fds[1]);
}

TEST_F(WebSocketTest, AnswersTheHandshakeWith101AndTheAcceptKey) {
    WsClient c(gateway_.address("http"));
    ASSERT_TRUE(c.handshake("/app/ws/cookie")) << c.head();
    EXPECT_EQ(c.head().substr(0, 34), "HTTP/1.1 101 Switching Protocols\r\n");
    EXPECT_NE(c.head().find("\r\nUpgrade: websocket\r\n"), std::string::npos);
    EXPECT_NE(c.head().find("\r\nConnection: Upgrade\r\n"), std::string::npos);
    // The callback's own headers go out with it; no framing of a body.
    EXPECT_NE(c.head().find("\r\nSet-Cookie: room=1\r\n"), std::string::npos);
    EXPECT_EQ(c.head().find("Content-Length"), std::string::npos);
    EXPECT_EQ(c.head().find("Transfer-Encoding"), std::string::npos);
}

TEST_F(WebSocketTest, EchoesTextAndBinaryMessages) {
    WsClient c = connect();
    ASSERT_TRUE(c.send_text("h\xc3\xa9llo"));
    std::optional<WsFrame> f = c.read_frame();
    ASSERT_TRUE(f);
    EXPECT_TRUE(f->fin);
    EXPECT_FALSE(f->masked);  // RFC 6455 §5.1: a server never masks
    EXPECT_EQ(f->opcode, 0x1);
    EXPECT_EQ(f->payload, "h\xc3\xa9llo");

    std::string bytes;
    for (int i = 0; i < 70000; ++i)
        bytes.push_back(static_cast<char>(i * 7));
    ASSERT_TRUE(c.send_binary(bytes));
    f = c.read_frame();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->opcode, 0x2);
    EXPECT_EQ(f->payload, bytes);

    ASSERT_TRUE(c.send_text(""));
    f = c.read_frame();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->opcode, 0x1);
    EXPECT_EQ(f->payload, "");
}

TEST_F(WebSocketTest, ReassemblesFragmentsAndAnswersAPingBetweenThem) {
    WsClient c = connect();
    // A character split between fragments, a ping between them (§5.4).
    ASSERT_TRUE(c.send_frame(0x1, "frag\xc3", false));
    ASSERT_TRUE(c.send_frame(0x9, "are you there"));
    ASSERT_TRUE(c.send_frame(0x0, "\xa9-", false));
    ASSERT_TRUE(c.send_frame(0x0, "ments"));
    std::optional<WsFrame> f = c.read_frame();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->opcode, 0xA);
    EXPECT_EQ(f->payload, "are you there");
    f = c.read_frame();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->opcode, 0x1);
    EXPECT_EQ(f->payload, "frag\xc3\xa9-ments");
}

TEST_F(WebSocketTest, ReadsFramesSentWithTheHandshake) {
    WsClient c(gateway_.address("http"));
    std::string req =
        std::string("GET /app/ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n") +
        "Connection: Upgrade\r\nSec-WebSocket-Key: " + WsClient::kKey +
        "\r\nSec-WebSocket-Version: 13\r\n\r\n" + raw_ws_frame(0x81, "early");
    ASSERT_EQ(c.request(req), 101) << c.head();
    std::optional<WsFrame> f = c.read_frame();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->payload, "early");
}

TEST_F(WebSocketTest, AnswersTheClientsCloseEchoingItsCodeThenCloses) {
    WsClient c = connect();
    ASSERT_TRUE(c.send_close(1000, "done"));
    std::optional<WsFrame> f = c.read_until_close();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->close_code(), 1000);
    EXPECT_TRUE(c.wait_closed());
    auto report = closes_.nth(0);
    ASSERT_TRUE(report);
    EXPECT_EQ(report->first, 1000);
    EXPECT_EQ(report->second, "done");

    // A Close without a code: an empty Close back, 1005 reported (§7.1.5).
    WsClient d = connect();
    ASSERT_TRUE(d.send_close(0));
    f = d.read_until_close();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->payload, "");
    EXPECT_TRUE(d.wait_closed());
    report = closes_.nth(1);
    ASSERT_TRUE(report);
    EXPECT_EQ(report->first, 1005);
}

TEST_F(WebSocketTest, ServerCloseWaitsForTheClientsClose) {
    WsClient c = connect();
    ASSERT_TRUE(c.send_text("close please"));
    std::optional<WsFrame> f = c.read_until_close();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->close_code(), 4000);
    EXPECT_EQ(f->close_reason(), "bye");
    // Still open, waiting for the client's Close; messages are no longer
    // delivered (nothing is echoed).
    ASSERT_TRUE(c.send_text("ignored"));
    EXPECT_FALSE(c.read_frame(200ms));
    EXPECT_FALSE(c.closed());
    ASSERT_TRUE(c.send_close(4000, "ok"));
    EXPECT_TRUE(c.wait_closed());
    auto report = closes_.nth(0);
    ASSERT_TRUE(report);
    EXPECT_EQ(report->first, 4000);
    EXPECT_EQ(report->second, "ok");
}

struct BadInput {
    const char* name;
    std::string path;
    std::string bytes;
    int code;
};

void PrintTo(const BadInput& b, std::ostream* os) {
    *os << b.name;
}

std::string close_payload(int code) {
    return std::string{static_cast<char>(code >> 8), static_cast<char>(code & 0xff)};
}

/// A frame header announcing `length` payload bytes, masked, without them.
std::string header_only(unsigned char b0, std::uint64_t length) {
    std::string h(1, static_cast<char>(b0));
    h.push_back(static_cast<char>(0x80 | 127));
    for (int shift = 56; shift >= 0; shift -= 8)
        h.push_back(static_cast<char>((length >> shift) & 0xff));
    h += "\x01\x02\x03\x04";
    return h;
}

const std::vector<BadInput>& bad_inputs() {
    static const std::vector<BadInput> cases{
        {"Unmasked", "/app/ws/echo", raw_ws_frame(0x81, "hello", false), 1002},
        {"Rsv1", "/app/ws/echo", raw_ws_frame(0xC1, "hello"), 1002},
        {"Rsv3", "/app/ws/echo", raw_ws_frame(0x91, "hello"), 1002},
        {"ReservedOpcode", "/app/ws/echo", raw_ws_frame(0x83, "x"), 1002},
        {"PingOver125", "/app/ws/echo", raw_ws_frame(0x89, std::string(126, 'p')), 1002},
        {"FragmentedPing", "/app/ws/echo", raw_ws_frame(0x09, "p"), 1002},
        {"PongOver125", "/app/ws/ping", raw_ws_frame(0x8A, std::string(126, 'p')), 1002},
        {"FragmentedPong", "/app/ws/ping", raw_ws_frame(0x0A, "p"), 1002},
        {"ContinuationFirst", "/app/ws/echo", raw_ws_frame(0x80, "x"), 1002},
        {"TextInsideAMessage", "/app/ws/echo", raw_ws_frame(0x01, "a") + raw_ws_frame(0x81, "b"),
         1002},
        {"InvalidUtf8", "/app/ws/echo", raw_ws_frame(0x81, "ok \xff"), 1007},
        {"Surrogate", "/app/ws/echo", raw_ws_frame(0x81, "\xed\xa0\x80"), 1007},
        {"TruncatedUtf8", "/app/ws/echo", raw_ws_frame(0x81, "\xc3"), 1007},
        {"LengthOverTheBound", "/app/ws/echo", header_only(0x82, (1 << 20) + 1), 1009},
        {"HugeLength", "/app/ws/echo", header_only(0x82, std::uint64_t{1} << 62), 1009},
        {"FragmentsOverTheBound", "/app/ws/small",
         raw_ws_frame(0x02, std::string(60, 'a')) + raw_ws_frame(0x80, std::string(5, 'b')), 1009},
        {"CloseCode1005", "/app/ws/echo", raw_ws_frame(0x88, close_payload(1005)), 1002},
        {"CloseCode999", "/app/ws/echo", raw_ws_frame(0x88, close_payload(999)), 1002},
        {"CloseCode5000", "/app/ws/echo", raw_ws_frame(0x88, close_payload(5000)), 1002},
        {"CloseOfOneByte", "/app/ws/echo", raw_ws_frame(0x88, "\x03"), 1002},
        {"CloseReasonNotUtf8", "/app/ws/echo", raw_ws_frame(0x88, close_payload(1000) + "\xff"),
         1007},
    };
    return cases;
}

class WebSocketBadInput : public WebSocketTest, public testing::WithParamInterface<BadInput> {};

TEST_P(WebSocketBadInput, IsClosedWithItsCodeAndTheNextConnectionIsServed) {
    const BadInput& b = GetParam();
    {
        WsClient c = connect(b.path);
        ASSERT_TRUE(c.send_raw(b.bytes));
        std::optional<WsFrame> f = c.read_until_close();
        ASSERT_TRUE(f) << "no Close frame";
        EXPECT_EQ(f->close_code(), b.code) << f->close_reason();
        // The gateway sends nothing more: the end of its side follows.
        EXPECT_TRUE(c.wait_closed());
    }  // the client closes its side too, as a client does after a Close
    auto report = closes_.nth(0);
    ASSERT_TRUE(report);
    EXPECT_EQ(report->first, b.code);
    expect_still_serving();
}

INSTANTIATE_TEST_SUITE_P(Rfc6455, WebSocketBadInput, testing::ValuesIn(bad_inputs()),
                         [](const testing::TestParamInfo<BadInput>& info) {
                             return std::string(info.param.name);
                         });

TEST_F(WebSocketTest, RefusingAFrameStillBeingSentTheGatewayReadsOnInsteadOfResetting) {
    // The frame is refused from its header while its payload is still
    // arriving: the gateway sends its Close frame and the end of its side,
    // then reads and drops what comes until the client closes (a lingering
    // close). Closing with bytes unread would reset the connection, and a
    // client's TCP may drop what it had not read yet: the Close frame.
    WsClient c = connect("/app/ws/small");
    ASSERT_TRUE(c.send_raw(raw_ws_frame(0x82, std::string(256 * 1024, 'z'))));
    std::optional<WsFrame> f = c.read_until_close();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->close_code(), 1009);
    EXPECT_TRUE(c.wait_closed());  // the gateway's end of file
    ASSERT_TRUE(c.send_raw(std::string(64 * 1024, 'z'))) << "the gateway reset the connection";
    pollfd p{c.socket().fd(), 0, 0};
    EXPECT_EQ(::poll(&p, 1, 300), 0) << "the gateway reset the connection";
    expect_still_serving();
}

TEST_F(WebSocketTest, AClientVanishingMidFrameIsReported1006) {
    {
        WsClient c = connect();
        const std::string frame = raw_ws_frame(0x81, "never finished");
        ASSERT_TRUE(c.send_raw(frame.substr(0, 8)));
    }  // closed here
    auto report = closes_.nth(0);
    ASSERT_TRUE(report);
    EXPECT_EQ(report->first, 1006);
    expect_still_serving();
}

TEST_F(WebSocketTest, AHandlerThatThrowsClosesWith1011) {
    // on_message, then on_pong: each throws on its first call.
    const std::pair<const char*, int> cases[] = {{"/app/ws/throw", 0x1},
                                                 {"/app/ws/pongthrow", 0xA}};
    std::size_t n = 0;
    for (const auto& [path, opcode] : cases) {
        SCOPED_TRACE(path);
        {
            WsClient c = connect(path);
            ASSERT_TRUE(c.send_frame(opcode, "boom"));
            std::optional<WsFrame> f = c.read_until_close();
            ASSERT_TRUE(f);
            EXPECT_EQ(f->close_code(), 1011);
        }
        auto report = closes_.nth(n);
        ASSERT_TRUE(report);
        EXPECT_EQ(report->first, 1011);
        expect_still_serving();
        ASSERT_TRUE(closes_.nth(n + 1));  // that connection's end, before the next case
        n += 2;
    }
}

TEST_F(WebSocketTest, APingReachesTheClientAndItsPongReachesOnPong) {
    WsClient c = connect("/app/ws/ping");
    ASSERT_TRUE(c.send_text("ping me"));
    expect_frame(c, 0x9, "hello");
    expect_frame(c, 0x1, "pinged");
    ASSERT_TRUE(c.send_frame(0xA, "hello"));
    expect_frame(c, 0x1, "pong:hello");
    // An unsolicited pong (a client's heartbeat) reaches on_pong too.
    ASSERT_TRUE(c.send_frame(0xA, "beat"));
    expect_frame(c, 0x1, "pong:beat");
    // Messages still flow.
    ASSERT_TRUE(c.send_text("after"));
    expect_frame(c, 0x1, "after");
}

TEST_F(WebSocketTest, APingOver125BytesIsRefusedAndNothingGoesOut) {
    WsClient c = connect("/app/ws/ping");
    ASSERT_TRUE(c.send_text("big ping"));
    expect_frame(c, 0x1, "refused");
    EXPECT_FALSE(c.read_frame(200ms));
    ASSERT_TRUE(c.send_text("ping me"));
    expect_frame(c, 0x9, "hello");
}

TEST_F(WebSocketTest, NoPingAfterTheCloseStarted) {
    WsClient c = connect("/app/ws/push");
    std::shared_ptr<WebSocket> ws = slot_.take();
    ASSERT_TRUE(ws);
    EXPECT_TRUE(ws->ping("first"));
    std::optional<WsFrame> f = c.read_frame();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->opcode, 0x9);
    ws->close(1000, "done");
    EXPECT_FALSE(ws->ping("late"));
    f = c.read_frame();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->opcode, 0x8);  // the Close frame, and no ping after it
    EXPECT_EQ(f->close_code(), 1000);
}

TEST_F(WebSocketTest, SendsFromAnotherThreadUntilClosed) {
    WsClient c = connect("/app/ws/push");
    std::shared_ptr<WebSocket> ws = slot_.take();
    ASSERT_TRUE(ws);
    EXPECT_TRUE(ws->open());
    std::thread writer([&] {
        for (int i = 0; i < 100; ++i)
            EXPECT_TRUE(ws->send("message " + std::to_string(i)));
    });
    writer.join();
    for (int i = 0; i < 100; ++i) {
        std::optional<WsFrame> f = c.read_frame();
        ASSERT_TRUE(f);
        EXPECT_EQ(f->payload, "message " + std::to_string(i));
    }
    EXPECT_THROW(ws->send("\xff"), std::invalid_argument);  // text must be UTF-8
    EXPECT_TRUE(ws->send("\xff", true));
    EXPECT_THROW(ws->close(1005), std::invalid_argument);
    ws->close(1001, "going away");
    EXPECT_FALSE(ws->open());
    EXPECT_FALSE(ws->send("late"));
    std::optional<WsFrame> f = c.read_until_close();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->close_code(), 1001);
    ASSERT_TRUE(c.send_close(1001));
    EXPECT_TRUE(c.wait_closed());
    auto report = closes_.nth(0);
    ASSERT_TRUE(report);
    EXPECT_EQ(report->first, 1001);
    // on_close set after the end is called at once, with the same code.
    int late = 0;
    ws->on_close([&](int code, std::string_view) { late = code; });
    EXPECT_EQ(late, 1001);
}

TEST_F(WebSocketTest, SendsFromManyThreadsAtOnceFrameByFrame) {
    WsClient c = connect("/app/ws/push");
    std::shared_ptr<WebSocket> ws = slot_.take();
    ASSERT_TRUE(ws);
    constexpr int kThreads = 4;
    constexpr int kEach = 200;
    std::vector<std::thread> writers;
    for (int t = 0; t < kThreads; ++t)
        writers.emplace_back([&, t] {
            for (int i = 0; i < kEach; ++i)
                EXPECT_TRUE(ws->send(std::to_string(t) + ":" + std::to_string(i) + ":" +
                                     std::string(static_cast<std::size_t>(i * 37 % 1000), 'w')));
        });
    // Whole frames, each thread's in its own order.
    std::vector<int> next(kThreads, 0);
    for (int n = 0; n < kThreads * kEach; ++n) {
        std::optional<WsFrame> f = c.read_frame();
        ASSERT_TRUE(f) << "after " << n << " frames";
        const int t = std::stoi(f->payload);
        const std::size_t colon = f->payload.find(':', 2);
        const int i = std::stoi(f->payload.substr(2));
        ASSERT_EQ(i, next[t]++);
        EXPECT_EQ(f->payload.size() - colon - 1, static_cast<std::size_t>(i * 37 % 1000));
    }
    for (auto& w : writers)
        w.join();
}

TEST_F(WebSocketTest, ServerCloseEndsTheConnectionWhenTheClientNeverAnswers) {
    WsClient c = connect("/app/ws/push");
    std::shared_ptr<WebSocket> ws = slot_.take();
    ASSERT_TRUE(ws);
    const auto start = std::chrono::steady_clock::now();
    ws->close(1000, "done");
    std::optional<WsFrame> f = c.read_until_close();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->close_code(), 1000);
    // No Close back: the gateway closes after its wait (5 s), and reports
    // no Close frame from the client.
    EXPECT_TRUE(c.wait_closed(8000ms));
    EXPECT_GE(std::chrono::steady_clock::now() - start, 4500ms);
    auto report = closes_.nth(0);
    ASSERT_TRUE(report);
    EXPECT_EQ(report->first, 1006);
}

TEST_F(WebSocketTest, TheGatewayStoppingSaysGoingAway1001AndWaitsBriefly) {
    WsClient answers = connect();
    WsClient silent = connect();
    ASSERT_TRUE(answers.send_text("hi"));
    ASSERT_TRUE(answers.read_frame());  // both are served before the stop
    const auto start = std::chrono::steady_clock::now();
    std::thread stopper([this] { gateway_.stop(); });
    // RFC 6455 §7.4.1: 1001, the server goes away. One client answers with
    // its Close and is closed at once; the other never answers and is
    // closed after a short wait (1 s), well within the 2 s drain.
    std::optional<WsFrame> f = answers.read_until_close();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->close_code(), 1001);
    EXPECT_EQ(f->close_reason(), "going away");
    ASSERT_TRUE(answers.send_close(1001));
    EXPECT_TRUE(answers.wait_closed());
    f = silent.read_until_close();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->close_code(), 1001);
    EXPECT_TRUE(silent.wait_closed(3000ms));
    stopper.join();
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1900ms);
    // on_close: the echoed 1001 for the one that answered, 1006 (no Close
    // frame from the client) for the other.
    std::vector<int> codes;
    for (std::size_t i = 0; i < 2; ++i) {
        auto report = closes_.nth(i);
        ASSERT_TRUE(report);
        codes.push_back(report->first);
    }
    std::sort(codes.begin(), codes.end());
    EXPECT_EQ(codes, (std::vector<int>{1001, 1006}));
}

TEST_F(WebSocketTest, SendRefusesPastTheQueueBound) {
    // The default bound (1 MiB). The client reads nothing, so once the
    // socket buffers are full the queue fills and send() says no.
    WsClient c = connect("/app/ws/push");
    std::shared_ptr<WebSocket> ws = slot_.take();
    ASSERT_TRUE(ws);
    EXPECT_TRUE(fill_queue(*ws));
    EXPECT_TRUE(ws->open());  // refused for the bound, not closed
    EXPECT_GT(ws->queued(), 0u);
}

TEST_F(WebSocketTest, AClientThatReadsNothingDoesNotHoldUpTheStop) {
    // Its queue is full, so the Close frame (1001) waits behind it; the
    // gateway still ends the connection after its 1 s wait and stops.
    WsClient c = connect("/app/ws/push");
    std::shared_ptr<WebSocket> ws = slot_.take();
    ASSERT_TRUE(ws);
    ASSERT_TRUE(fill_queue(*ws));
    const auto start = std::chrono::steady_clock::now();
    gateway_.stop();
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1900ms);
    auto report = closes_.nth(0);
    ASSERT_TRUE(report);
    EXPECT_EQ(report->first, 1006);  // no Close frame from the client
    EXPECT_FALSE(ws->open());
    EXPECT_FALSE(ws->send("after the stop"));
}

TEST_F(WebSocketTest, APlainRequestIsRefusedWith426AndTheConnectionServesOn) {
    WsClient c(gateway_.address("http"));
    ASSERT_EQ(c.request("GET /app/ws/echo HTTP/1.1\r\nHost: x\r\n\r\n"), 426) << c.head();
    EXPECT_NE(c.head().find("\r\nUpgrade: websocket\r\n"), std::string::npos);
    EXPECT_NE(c.head().find("\r\nSec-WebSocket-Version: 13\r\n"), std::string::npos);
    EXPECT_NE(c.body().find("Upgrade: websocket"), std::string::npos);
    // A refusal is an ordinary response: the connection is kept.
    ASSERT_EQ(c.request("GET /app/hello HTTP/1.1\r\nHost: x\r\n\r\n"), 200) << c.head();
    EXPECT_EQ(c.body(), "Hello, world!\n");
    EXPECT_EQ(closes_.size(), 0u);
}

TEST_F(WebSocketTest, UpgradeWithoutConnectionUpgradeIsNoHandshake) {
    WsClient c(gateway_.address("http"));
    std::string req =
        std::string("GET /app/ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n") +
        "Sec-WebSocket-Key: " + WsClient::kKey + "\r\nSec-WebSocket-Version: 13\r\n\r\n";
    ASSERT_EQ(c.request(req), 426) << c.head();
    c.body();
    ASSERT_TRUE(c.handshake("/app/ws/echo"));  // the same connection, properly
    ASSERT_TRUE(c.send_text("now"));
    std::optional<WsFrame> f = c.read_frame();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->payload, "now");
}

TEST_F(WebSocketTest, ABadKeyOrMethodIsRefusedWith400) {
    WsClient c(gateway_.address("http"));
    const std::string rest =
        "Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Version: 13\r\n";
    ASSERT_EQ(
        c.request("GET /app/ws/echo HTTP/1.1\r\n" + rest + "Sec-WebSocket-Key: short\r\n\r\n"),
        400);
    EXPECT_NE(c.body().find("Sec-WebSocket-Key"), std::string::npos);
    ASSERT_EQ(c.request("GET /app/ws/echo HTTP/1.1\r\n" + rest + "\r\n"), 400);
    c.body();
    ASSERT_EQ(c.request("POST /app/ws/echo HTTP/1.1\r\n" + rest +
                        "Sec-WebSocket-Key: " + WsClient::kKey + "\r\n\r\n"),
              400);
    c.body();
    ASSERT_EQ(c.request("GET /app/hello HTTP/1.1\r\nHost: x\r\n\r\n"), 200);
    EXPECT_EQ(closes_.size(), 0u);
}

TEST_F(WebSocketTest, AnotherProtocolIsRefusedWith501) {
    ProtocolClient fcgi("fastcgi");
    ProtocolRequest r;
    r.target = "/app/ws/echo";
    r.headers = {{"Upgrade", "websocket"},
                 {"Connection", "Upgrade"},
                 {"Sec-WebSocket-Key", WsClient::kKey},
                 {"Sec-WebSocket-Version", "13"}};
    ProtocolReply reply = fcgi.exchange(gateway_.address("fastcgi"), r);
    ASSERT_TRUE(reply.answered) << reply.error;
    EXPECT_EQ(reply.status, 501);
    EXPECT_NE(reply.body.find("HTTP listener"), std::string::npos);
    r.target = "/app/hello";
    r.headers.clear();
    reply = fcgi.exchange(gateway_.address("fastcgi"), r);
    EXPECT_EQ(reply.status, 200);
}

TEST_F(WebSocketTest, ManyConnectionsAtOnceEachGetTheirOwnMessages) {
    std::vector<WsClient> clients;
    for (int i = 0; i < 50; ++i)
        clients.push_back(connect());
    for (int i = 0; i < 50; ++i)
        ASSERT_TRUE(clients[i].send_text("client " + std::to_string(i)));
    for (int i = 0; i < 50; ++i) {
        std::optional<WsFrame> f = clients[i].read_frame();
        ASSERT_TRUE(f);
        EXPECT_EQ(f->payload, "client " + std::to_string(i));
    }
    // The worker threads are free: a plain request is answered meanwhile.
    ProtocolReply reply = ProtocolClient("http").exchange(gateway_.address("http"), {});
    EXPECT_EQ(reply.status, 200);
}

}  // namespace
}  // namespace postern::test
