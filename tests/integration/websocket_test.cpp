// Integration tests: WebSockets in the real `postern` executable (the chat
// example at /chat, over the HTTP listener), reached directly, through nginx
// (nginx-conf/postern-http.conf with nginx-conf/postern-websocket.conf
// included in its server{} block) and through Apache
// (apache-conf/postern-proxy-http.conf with apache-conf/postern-websocket.conf
// included in its <VirtualHost>), every snippet rendered as shipped.
//
// Per way in: Debian's python3-websockets, an independent client
// (websocket_client.py: echo, the 1 MiB bound both sides of it, ping, the
// closing handshake, the room, a plain GET); then every bad input of RFC
// 6455 sent raw (tests/support websocket_client), each refused with its
// close code and followed by a connection that is served; a client that
// vanishes mid-frame; handshakes that are no upgrade (426, 400) followed by
// a request on the same connection.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <csignal>
#include <memory>
#include <string>
#include <vector>

#include "process.hpp"
#include "stack.hpp"
#include "wait.hpp"
#include "websocket_client.hpp"

namespace postern::test {
namespace {

using namespace std::chrono_literals;

constexpr const char* kPython = "/usr/bin/python3";  // Debian's, with python3-websockets

/// The gateway with the chat example, nginx and Apache in front of it.
class Stacks {
  public:
    Stacks() : dir_("postern-ws") {
        Gateway::Config config;
        config.mounts = {"/chat=chat"};
        config.protocols = {"http"};
        // One worker process: the room is the worker's (examples/chat).
        config.extra_args = {"--trusted-proxy", "127.0.0.1", "--processes", "1"};
        gateway_ = std::make_unique<Gateway>(dir_, "gateway", config);
        const std::string http = gateway_->address("http", false);

        const std::string nginx_lines =
            render_template(source_dir() + "/nginx-conf/postern-websocket.conf",
                            {{"WEBSOCKET_PREFIX", "/chat/"}, {"UPSTREAM", "postern_http"}});
        nginx_ = std::make_unique<Nginx>(dir_, "nginx", "postern-http.conf",
                                         std::map<std::string, std::string>{{"POSTERN_HTTP", http}},
                                         nginx_lines);

        const std::string apache_lines =
            render_template(source_dir() + "/apache-conf/postern-websocket.conf",
                            {{"WEBSOCKET_PREFIX", "/chat/"}, {"POSTERN_WS", "ws://" + http}});
        apache_ = std::make_unique<Apache>(
            dir_, std::vector<Apache::Site>{{"http",
                                             "postern-proxy-http.conf",
                                             {{"POSTERN_HTTP", "http://" + http}},
                                             apache_lines}});
    }

    /// "127.0.0.1:PORT" of a way in: "direct", "nginx" or "apache".
    std::string address(const std::string& way) const {
        if (way == "nginx")
            return "127.0.0.1:" + std::to_string(nginx_->port());
        if (way == "apache")
            return "127.0.0.1:" + std::to_string(apache_->port("http"));
        return gateway_->address("http", false);
    }
    Gateway& gateway() { return *gateway_; }
    const TempDir& dir() const { return dir_; }

    std::string log_tails() const {
        std::string out;
        for (const std::string& log : {gateway_->log_path(), dir_.path() + "/nginx-nginx/error.log",
                                       dir_.path() + "/apache/error.log"})
            out += "\n---- " + log + " ends with:\n" + tail_file(log);
        return out;
    }

  private:
    TempDir dir_;
    std::unique_ptr<Gateway> gateway_;
    std::unique_ptr<Nginx> nginx_;
    std::unique_ptr<Apache> apache_;
};

class WebSocketFrontEnds : public testing::TestWithParam<std::string> {
  public:
    static void SetUpTestSuite() { stacks_ = new Stacks(); }
    static void TearDownTestSuite() {
        delete stacks_;
        stacks_ = nullptr;
    }

  protected:
    std::string address() const { return stacks_->address(GetParam()); }

    /// A new connection upgraded on `path`.
    WsClient connect(std::string_view path = "/chat/echo") {
        WsClient c(address());
        EXPECT_TRUE(c.handshake(path)) << c.head() << stacks_->log_tails();
        return c;
    }

    /// A message echoed on a new connection: the gateway still serves.
    void expect_still_serving() {
        WsClient c = connect();
        ASSERT_TRUE(c.send_text("still there?"));
        std::optional<WsFrame> f = c.read_frame();
        ASSERT_TRUE(f) << stacks_->log_tails();
        EXPECT_EQ(f->payload, "still there?");
    }

    static Stacks* stacks_;
    friend Stacks* stacks();
};

Stacks* WebSocketFrontEnds::stacks_ = nullptr;

Stacks* stacks() {
    return WebSocketFrontEnds::stacks_;
}

TEST_P(WebSocketFrontEnds, AnIndependentClientGetsEveryAnswerRight) {
    Process python;
    const std::string log = stacks_->dir().file("python-" + GetParam() + ".log");
    python.start({kPython, source_dir() + "/tests/integration/websocket_client.py",
                  "ws://" + address() + "/chat"},
                 {}, log);
    const std::optional<int> status = python.wait(60s);
    ASSERT_TRUE(status) << "websocket_client.py did not finish within 60 s:\n"
                        << tail_file(log) << stacks_->log_tails();
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
        << describe_wait_status(*status) << ":\n"
        << tail_file(log, 60) << stacks_->log_tails();
}

struct BadInput {
    const char* name;
    std::string bytes;
    int code;
};

std::string close_payload(int code) {
    return std::string{static_cast<char>(code >> 8), static_cast<char>(code & 0xff)};
}

/// A masked binary frame header announcing `length` bytes, without them.
std::string header_only(std::uint64_t length) {
    std::string h = "\x82\xff";
    for (int shift = 56; shift >= 0; shift -= 8)
        h.push_back(static_cast<char>((length >> shift) & 0xff));
    return h + "\x01\x02\x03\x04";
}

/// The list: an unmasked client frame, reserved bits, a control
/// frame over 125 bytes or fragmented, invalid UTF-8, a length over the
/// bound, a Close frame with an invalid code.
const std::vector<BadInput>& bad_inputs() {
    static const std::vector<BadInput> cases{
        {"unmasked frame", raw_ws_frame(0x81, "hello", false), 1002},
        {"RSV1 set", raw_ws_frame(0xC1, "hello"), 1002},
        {"RSV2 and RSV3 set", raw_ws_frame(0xB1, "hello"), 1002},
        {"ping of 126 bytes", raw_ws_frame(0x89, std::string(126, 'p')), 1002},
        {"fragmented ping", raw_ws_frame(0x09, "p"), 1002},
        {"fragmented close", raw_ws_frame(0x08, close_payload(1000)), 1002},
        {"invalid UTF-8", raw_ws_frame(0x81, "caf\xc3\x28"), 1007},
        {"UTF-8 split and broken across fragments",
         raw_ws_frame(0x01, "ab\xe2\x82") + raw_ws_frame(0x80, "\x41"), 1007},
        {"length over the bound", header_only((1 << 20) + 1), 1009},
        {"close code 1006", raw_ws_frame(0x88, close_payload(1006)), 1002},
        {"close code 2000", raw_ws_frame(0x88, close_payload(2000)), 1002},
    };
    return cases;
}

TEST_P(WebSocketFrontEnds, EveryBadInputGetsItsCloseCodeAndTheNextConnectionIsServed) {
    for (const BadInput& b : bad_inputs()) {
        SCOPED_TRACE(b.name);
        {
            WsClient c = connect();
            ASSERT_TRUE(c.send_raw(b.bytes));
            std::optional<WsFrame> f = c.read_until_close();
            ASSERT_TRUE(f) << "no Close frame" << stacks_->log_tails();
            EXPECT_EQ(f->close_code(), b.code) << f->close_reason();
            EXPECT_TRUE(c.wait_closed());
        }
        expect_still_serving();
    }
}

/// WebSocket connections the gateway has ended (each is logged when it ends).
std::size_t ended_websockets() {
    const std::string log = read_file(stacks()->gateway().access_log_path());
    std::size_t n = 0;
    for (std::size_t at = 0; (at = log.find("\" 101 ", at)) != std::string::npos; ++at)
        ++n;
    return n;
}

TEST_P(WebSocketFrontEnds, AClientVanishingMidFrameLeavesTheGatewayServing) {
    const std::size_t before = ended_websockets();
    for (int i = 0; i < 3; ++i) {
        WsClient c = connect();
        const std::string frame = raw_ws_frame(0x81, std::string(1000, 'x'));
        ASSERT_TRUE(c.send_raw(frame.substr(0, 500)));
    }  // each one closes here, its frame half sent
    // The gateway sees each one go (and logs it), holding nothing for them.
    EXPECT_TRUE(wait_until([&] { return ended_websockets() >= before + 3; }, 5000ms))
        << stacks()->log_tails();
    expect_still_serving();
}

TEST_P(WebSocketFrontEnds, AHandshakeThatIsNoUpgradeIsRefusedAndTheConnectionServesOn) {
    WsClient c(address());
    // The front ends pass on Upgrade only when asked, so a plain GET reaches
    // the gateway as one: 426.
    ASSERT_EQ(c.request("GET /chat/echo HTTP/1.1\r\nHost: localhost\r\n\r\n"), 426)
        << c.head() << stacks_->log_tails();
    EXPECT_NE(c.body().find("Upgrade: websocket"), std::string::npos);
    ASSERT_EQ(c.request("GET /chat/ HTTP/1.1\r\nHost: localhost\r\n\r\n"), 200) << c.head();
    EXPECT_NE(c.body().find("Postern chat"), std::string::npos);
    // A handshake with a bad key: 400, and a good one on a new connection.
    WsClient d(address());
    ASSERT_EQ(d.request("GET /chat/echo HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Key: not-a-key\r\n"
                        "Sec-WebSocket-Version: 13\r\n\r\n"),
              400)
        << d.head() << stacks_->log_tails();
    expect_still_serving();
}

INSTANTIATE_TEST_SUITE_P(WaysIn, WebSocketFrontEnds, testing::Values("direct", "nginx", "apache"),
                         [](const testing::TestParamInfo<std::string>& info) {
                             return info.param;
                         });

TEST(WebSocketAccessLog, AnUpgradedConnectionIsLoggedAs101WhenItEnds) {
    Stacks stacks;
    {
        WsClient c(stacks.address("direct"));
        ASSERT_TRUE(c.handshake("/chat/echo"));
        ASSERT_TRUE(c.send_close(1000));
        ASSERT_TRUE(c.read_until_close());
    }
    const std::string log = stacks.gateway().access_log_path();
    EXPECT_TRUE(wait_until(
        [&] {
            return read_file(log).find("\"GET /chat/echo HTTP/1.1\" 101 ") != std::string::npos;
        },
        5000ms))
        << tail_file(log);
}

TEST(WebSocketGoingAway, SigtermSendsEveryClientACloseFrameWith1001) {
    // RFC 6455 §7.4.1: the gateway stopping is 1001 ("going away") to each
    // client, directly and through each front end's snippet; then it exits
    // 0, well within its drain.
    Stacks stacks;
    const std::vector<std::string> ways{"direct", "nginx", "apache"};
    std::vector<std::unique_ptr<Process>> clients;
    for (const std::string& way : ways) {
        clients.push_back(std::make_unique<Process>());
        clients.back()->start({kPython, source_dir() + "/tests/integration/websocket_client.py",
                               "--going-away", "ws://" + stacks.address(way) + "/chat"},
                              {}, stacks.dir().file("python-going-away-" + way + ".log"));
    }
    for (std::size_t i = 0; i < ways.size(); ++i)
        ASSERT_TRUE(wait_until(
            [&] {
                return read_file(clients[i]->log_path()).find("connected") != std::string::npos;
            },
            15000ms))
            << ways[i] << ":\n"
            << tail_file(clients[i]->log_path()) << stacks.log_tails();
    const auto start = std::chrono::steady_clock::now();
    stacks.gateway().process().signal(SIGTERM);
    const std::optional<int> status = stacks.gateway().process().wait(10s);
    ASSERT_TRUE(status) << stacks.log_tails();
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << describe_wait_status(*status);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
    for (std::size_t i = 0; i < ways.size(); ++i) {
        const std::optional<int> done = clients[i]->wait(15s);
        ASSERT_TRUE(done) << ways[i] << ":\n" << tail_file(clients[i]->log_path());
        EXPECT_NE(read_file(clients[i]->log_path()).find("closed 1001 going away"),
                  std::string::npos)
            << ways[i] << ":\n"
            << tail_file(clients[i]->log_path());
    }
}

}  // namespace
}  // namespace postern::test
