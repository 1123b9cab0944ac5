// Tests postern::EventStream (gateway/src/toolkit/event_stream.cpp): the
// event encoding against exact bytes and against a client's parser written
// from the WHATWG algorithm (HTML §9.2.5-9.2.6, tests/support/
// sse_client.hpp), the refusals, and a real
// gateway on port 0 over HTTP/1.1: the head, Last-Event-ID read back,
// events from another thread, heartbeats, on_close when the client goes,
// and the next request on the same gateway.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "in_process_gateway.hpp"
#include "postern/postern.hpp"
#include "socket_client.hpp"
#include "sse_client.hpp"
#include "wait.hpp"

namespace postern {
namespace {

using namespace std::chrono_literals;

using test::parse_sse;

// ---------------------------------------------------------------- encoding

struct EncodeCase {
    const char* name;
    std::string event, data, id;
    std::string wire;      ///< EventStream::encode's exact bytes
    std::string received;  ///< the data a client dispatches
};

void PrintTo(const EncodeCase& c, std::ostream* os) {
    *os << c.name;
}

class EncodeTest : public ::testing::TestWithParam<EncodeCase> {};

TEST_P(EncodeTest, ExactBytesAndWhatAClientReceives) {
    const EncodeCase& c = GetParam();
    const std::string wire = EventStream::encode(c.event, c.data, c.id);
    EXPECT_EQ(wire, c.wire);
    const auto events = parse_sse(wire);
    ASSERT_EQ(events.size(), 1u) << wire;
    EXPECT_EQ(events[0].type, c.event.empty() ? "message" : c.event);
    EXPECT_EQ(events[0].data, c.received);
    EXPECT_EQ(events[0].last_id, c.id);
}

INSTANTIATE_TEST_SUITE_P(
    Events, EncodeTest,
    ::testing::Values(
        EncodeCase{"plain", "", "hello", "", "data: hello\n\n", "hello"},
        EncodeCase{"with_event_and_id", "update", "{\"n\":1}", "7",
                   "id: 7\nevent: update\ndata: {\"n\":1}\n\n", "{\"n\":1}"},
        EncodeCase{"empty_data_is_still_dispatched", "ping", "", "", "event: ping\ndata:\n\n", ""},
        EncodeCase{"multi_line", "", "a\nb\nc", "", "data: a\ndata: b\ndata: c\n\n", "a\nb\nc"},
        EncodeCase{"crlf_inside", "", "a\r\nb", "", "data: a\ndata: b\n\n", "a\nb"},
        EncodeCase{"lone_cr_inside", "", "a\rb", "", "data: a\ndata: b\n\n", "a\nb"},
        EncodeCase{"cr_cr_lf_is_two_breaks", "", "a\r\r\nb", "", "data: a\ndata:\ndata: b\n\n",
                   "a\n\nb"},
        EncodeCase{"trailing_line_break_kept", "", "a\n", "", "data: a\ndata:\n\n", "a\n"},
        EncodeCase{"only_line_breaks", "", "\n\n", "", "data:\ndata:\ndata:\n\n", "\n\n"},
        EncodeCase{"leading_space_kept", "", " x", "", "data:  x\n\n", " x"},
        EncodeCase{"colon_inside", "", "a: b", "", "data: a: b\n\n", "a: b"},
        EncodeCase{"nul_in_data_passes", "", std::string("a\0b", 3), "",
                   std::string("data: a\0b\n\n", 11), std::string("a\0b", 3)},
        EncodeCase{"utf8", "ünï", "日本", "é1", "id: é1\nevent: ünï\ndata: 日本\n\n", "日本"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(EventStreamEncode, RefusesLineBreaksAndNulInEventAndId) {
    for (const std::string& bad :
         std::vector<std::string>{"a\nb", "a\rb", "a\r\nb", std::string("a\0b", 3), "\n"}) {
        EXPECT_THROW(EventStream::encode(bad, "data"), std::invalid_argument) << bad;
        EXPECT_THROW(EventStream::encode("", "data", bad), std::invalid_argument) << bad;
    }
    // The good event after the refusals.
    EXPECT_EQ(EventStream::encode("e", "d", "1"), "id: 1\nevent: e\ndata: d\n\n");
}

TEST(EventStreamEncode, CommentsAreIgnoredByTheClient) {
    EXPECT_EQ(EventStream::encode_comment(""), ":\n");
    EXPECT_EQ(EventStream::encode_comment("hi"), ": hi\n");
    const std::string two = EventStream::encode_comment("a\r\ndata: injected\n\n");
    EXPECT_EQ(two, ": a\n: data: injected\n:\n:\n");
    EXPECT_TRUE(parse_sse(two + "\n").empty());
    // A comment between the lines of the stream changes no event.
    const auto events = parse_sse(two + EventStream::encode("", "x") + two);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].data, "x");
}

TEST(EventStreamEncode, ManyEventsInOneStream) {
    std::string wire;
    for (int i = 0; i < 100; ++i)
        wire +=
            EventStream::encode(i % 2 ? "odd" : "", "n\n" + std::to_string(i), std::to_string(i));
    const auto events = parse_sse(wire);
    ASSERT_EQ(events.size(), 100u);
    for (int i = 0; i < 100; ++i) {
        EXPECT_EQ(events[i].data, "n\n" + std::to_string(i));
        EXPECT_EQ(events[i].last_id, std::to_string(i));
        EXPECT_EQ(events[i].type, i % 2 ? "odd" : "message");
    }
}

// ---------------------------------------------------------------- a gateway

/// Subscriptions the callback opened, for the test thread to write to.
struct Subscriptions {
    std::mutex mutex;
    std::vector<std::shared_ptr<EventStream>> streams;
    std::atomic<int> closed{0};

    std::shared_ptr<EventStream> get(std::size_t i) {
        std::lock_guard lock(mutex);
        return i < streams.size() ? streams[i] : nullptr;
    }
};

class EventStreamGatewayTest : public ::testing::Test {
  protected:
    void SetUp() override {
        gateway_.options().threads = 1;  // a stream must not hold the one thread
        gateway_.app().extra = [subs = subs_](Request& req, Response& res) {
            if (req.path_info() != "/sse")
                return false;
            EventStreamOptions options;
            options.heartbeat = 100ms;
            options.retry = 2500ms;
            auto events = EventStream::open(req, res, options);
            // A callback may send before it returns; the id read back.
            events->send("hello", "last=" + events->last_event_id());
            std::weak_ptr<EventStream> weak = events;
            events->on_close([subs, weak] { ++subs->closed; });
            std::lock_guard lock(subs->mutex);
            subs->streams.push_back(events);
            return true;
        };
        gateway_.start();
    }

    test::SocketClient subscribe(const std::string& extra_headers = {}) {
        auto client = gateway_.connect();
        EXPECT_TRUE(
            client.send("GET /app/sse HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n" +
                        extra_headers + "\r\n"));
        return client;
    }

    void expect_hello_works() {
        auto client = gateway_.connect();
        ASSERT_TRUE(client.send("GET /app/hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
        EXPECT_NE(client.recv_until_close().find("Hello, world!"), std::string::npos);
    }

    std::shared_ptr<Subscriptions> subs_ = std::make_shared<Subscriptions>();
    test::InProcessGateway gateway_{{"http"}};
};

TEST_F(EventStreamGatewayTest, HeadLastEventIdEventsHeartbeatsAndClose) {
    auto owned = std::make_unique<test::SocketClient>(subscribe("Last-Event-ID: 41\r\n"));
    test::SocketClient& client = *owned;
    std::string got = client.recv_until("last=41\n\n");
    ASSERT_NE(got.find("last=41\n\n"), std::string::npos) << got;
    EXPECT_NE(got.find("HTTP/1.1 200"), std::string::npos) << got;
    EXPECT_NE(got.find("Content-Type: text/event-stream\r\n"), std::string::npos) << got;
    EXPECT_NE(got.find("Cache-Control: no-cache\r\n"), std::string::npos) << got;
    EXPECT_NE(got.find("X-Accel-Buffering: no\r\n"), std::string::npos) << got;
    EXPECT_NE(got.find("retry: 2500\n"), std::string::npos) << got;

    // The one worker thread is free while the stream is open.
    expect_hello_works();

    // Events from this thread, a refused one in between.
    ASSERT_TRUE(test::wait_until([&] { return subs_->get(0) != nullptr; }, 5s));
    auto events = subs_->get(0);
    EXPECT_EQ(events->last_event_id(), "41");
    EXPECT_THROW(events->send("x", "y", std::string("4\0", 2)), std::invalid_argument);
    EXPECT_TRUE(events->send("tick", "one\ntwo", "42"));
    got = client.recv_until("data: two\n\n");
    EXPECT_NE(got.find("id: 42\nevent: tick\ndata: one\ndata: two\n\n"), std::string::npos) << got;

    // Silent for 100 ms: a heartbeat comment comes.
    got = client.recv_until(":\n", 3s);
    EXPECT_NE(got.find(":\n"), std::string::npos) << got;

    // The client goes: on_close runs, writes fail, heartbeats stop.
    owned.reset();
    ASSERT_TRUE(test::wait_until([&] { return subs_->closed.load() == 1; }, 5s));
    EXPECT_FALSE(events->open());
    EXPECT_FALSE(events->send("late", "x"));
    EXPECT_FALSE(events->beat(std::chrono::steady_clock::now() + 1h).has_value());
    expect_hello_works();
}

TEST_F(EventStreamGatewayTest, CloseEndsTheResponseAndTheConnectionServesOn) {
    auto client = subscribe();
    ASSERT_NE(client.recv_until("last=\n\n").find("last=\n\n"), std::string::npos);
    ASSERT_TRUE(test::wait_until([&] { return subs_->get(0) != nullptr; }, 5s));
    auto events = subs_->get(0);
    EXPECT_EQ(events->last_event_id(), "");
    EXPECT_TRUE(events->send("", "bye"));
    events->close();
    events->close();  // idempotent
    // The last chunk: the response is complete.
    const std::string got = client.recv_until("0\r\n\r\n");
    EXPECT_NE(got.find("data: bye\n\n"), std::string::npos) << got;
    EXPECT_NE(got.find("\r\n0\r\n\r\n"), std::string::npos) << got;
    ASSERT_TRUE(test::wait_until([&] { return subs_->closed.load() == 1; }, 5s));
    EXPECT_FALSE(events->send("", "after close"));
    expect_hello_works();
}

TEST_F(EventStreamGatewayTest, ReleasingTheLastOwnerEndsTheStream) {
    auto client = subscribe();
    ASSERT_NE(client.recv_until("last=\n\n").find("last=\n\n"), std::string::npos);
    ASSERT_TRUE(test::wait_until([&] { return subs_->get(0) != nullptr; }, 5s));
    {
        std::lock_guard lock(subs_->mutex);
        subs_->streams.clear();  // the heartbeat timer holds no ownership
    }
    EXPECT_NE(client.recv_until("0\r\n\r\n").find("0\r\n\r\n"), std::string::npos);
    ASSERT_TRUE(test::wait_until([&] { return subs_->closed.load() == 1; }, 5s));
}

TEST_F(EventStreamGatewayTest, WritersOnManyThreadsNeverInterleave) {
    auto client = subscribe();
    const std::string first = client.recv_until("last=\n\n");
    ASSERT_NE(first.find("last=\n\n"), std::string::npos);
    ASSERT_TRUE(test::wait_until([&] { return subs_->get(0) != nullptr; }, 5s));
    auto events = subs_->get(0);
    const std::string line(200, 'x');
    std::vector<std::thread> writers;
    for (int t = 0; t < 4; ++t)
        writers.emplace_back([&, t] {
            for (int i = 0; i < 50; ++i)
                while (!events->send("w", line + "\n" + line, std::to_string(t)))
                    std::this_thread::sleep_for(1ms);  // the queue is full: retry
        });
    for (auto& w : writers)
        w.join();
    events->close();
    const std::string raw = first + client.recv_until("\r\n0\r\n\r\n");
    // Strip the chunked framing (each write is one chunk) and parse.
    std::string body;
    std::size_t i = raw.find("\r\n\r\n") + 4;
    for (;;) {
        const std::size_t eol = raw.find("\r\n", i);
        ASSERT_NE(eol, std::string::npos);
        const std::size_t size = std::stoul(raw.substr(i, eol - i), nullptr, 16);
        if (size == 0)
            break;
        body += raw.substr(eol + 2, size);
        i = eol + 2 + size + 2;
    }
    const auto parsed = parse_sse(body);
    ASSERT_EQ(parsed.size(), 1u + 4 * 50);
    for (std::size_t k = 1; k < parsed.size(); ++k)
        EXPECT_EQ(parsed[k].data, line + "\n" + line);
}

}  // namespace
}  // namespace postern
