// Integration tests: the Server-Sent Events hub (examples/events) in the
// real `postern` executable with --threads 2, directly over HTTP and behind
// nginx with the shipped postern-http.conf (its plain `location /`: the
// stream's X-Accel-Buffering: no turns nginx's buffering off): two
// subscribers receive a publish; a reconnection with Last-Event-ID gets the
// events it missed; a subscriber that vanishes leaves the hub and the next
// subscription works; more open streams than threads leave the gateway
// serving; a bad event name is refused and the next publish goes out.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "http_client.hpp"
#include "sse_client.hpp"
#include "stack_suite.hpp"
#include "wait.hpp"

namespace postern::test {
namespace {

using namespace std::chrono_literals;

std::vector<Topology> events_topologies() {
    std::vector<Topology> list;
    for (const Topology& t : shipped_topologies())
        if (std::string(t.name) == "direct_http" || std::string(t.name) == "nginx_http")
            list.push_back(t);
    return list;
}

/// One gateway (one worker process: the hub lives in its memory; two
/// threads, fewer than the streams the cases hold open), the hub at
/// /events with a short heartbeat, nginx in front of it.
class EventsExampleTest : public StackSuite<EventsExampleTest> {
  public:
    static std::unique_ptr<Stack> make_stack() {
        Stack::Options options;
        options.files = {{"postern.conf",
                          "[/events]\n"
                          "history = 50\n"
                          "heartbeat-ms = 200\n"
                          "retry-ms = 1500\n"
                          // Paced: 4 subscribers get a slice each, one
                          // every 50 ms, spread over 300 ms.
                          "[/paced]\n"
                          "spread-ms = 300\n"
                          "slice-ms = 50\n"
                          // Slices of 200 ms do not fit twice in 300 ms:
                          // one burst.
                          "[/unpaced]\n"
                          "spread-ms = 300\n"
                          "slice-ms = 200\n"}};
        options.gateway_mounts = {"/events=events", "/paced=events", "/unpaced=events"};
        options.gateway_args = {"--config", "@DIR@/postern.conf", "--processes",
                                "1",        "--threads",          "2"};
        return std::make_unique<Stack>(events_topologies(), options);
    }

  protected:
    void TearDown() override {
        // Every case leaves the hub as it found it: the next one counts
        // from there.
        EXPECT_TRUE(wait_until([&] { return subscribers() == 0; }, 10s)) << stats();
        StackSuite<EventsExampleTest>::TearDown();
    }

    std::string stats() const { return get("/events/stats").body; }
    long long stat(const std::string& name) const {
        const std::string body = stats();
        std::smatch m;
        if (!std::regex_search(body, m, std::regex("\"" + name + "\":([0-9]+)")))
            return -1;
        return std::stoll(m[1]);
    }
    long long subscribers() const { return stat("subscribers"); }

    HttpResponse publish(const std::string& form, const std::string& hub = "/events") const {
        HttpRequest req;
        req.method = "POST";
        req.target = hub + "/publish";
        req.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
        req.body = form;
        return send(req);
    }
    /// Publishes and returns the event's id.
    std::string publish_ok(const std::string& form) const {
        const HttpResponse res = publish(form);
        EXPECT_EQ(res.status, 200) << res.body;
        std::smatch m;
        if (!std::regex_search(res.body, m, std::regex("\"id\":([0-9]+)"))) {
            ADD_FAILURE() << res.body;
            return {};
        }
        return m[1];
    }

    std::unique_ptr<SseSubscriber> subscribe(const std::string& last_id = {},
                                             const std::string& hub = "/events") const {
        auto s = std::make_unique<SseSubscriber>(endpoint_.address, hub, last_id);
        const std::string head = s->head();
        EXPECT_NE(head.find(" 200 "), std::string::npos) << head;
        EXPECT_NE(head.find("text/event-stream"), std::string::npos) << head;
        return s;
    }
};

TEST_P(EventsExampleTest, TwoSubscribersReceiveAPublish) {
    auto a = subscribe();
    auto b = subscribe();
    ASSERT_TRUE(wait_until([&] { return subscribers() == 2; }, 10s)) << stats();
    // A multi-line data field, CRLF inside.
    const std::string id = publish_ok("event=news&data=first+line%0D%0Asecond+line");
    for (auto* s : {a.get(), b.get()}) {
        const auto e = s->next();
        ASSERT_TRUE(e.has_value());
        EXPECT_EQ(e->type, "news");
        EXPECT_EQ(e->data, "first line\nsecond line");
        EXPECT_EQ(e->last_id, id);
        EXPECT_EQ(s->parser().retry(), 1500);
    }
    // Silent streams get heartbeats, through nginx too.
    EXPECT_TRUE(a->wait_comments(2, 5s));
}

TEST_P(EventsExampleTest, ReconnectionWithLastEventIdGetsTheMissedEvents) {
    std::string seen;
    {
        auto a = subscribe();
        ASSERT_TRUE(wait_until([&] { return subscribers() == 1; }, 10s)) << stats();
        seen = publish_ok("data=one");
        const auto e = a->next();
        ASSERT_TRUE(e.has_value());
        EXPECT_EQ(e->data, "one");
        EXPECT_EQ(e->last_id, seen);
    }  // the client goes away
    ASSERT_TRUE(wait_until([&] { return subscribers() == 0; }, 10s)) << stats();
    const std::string two = publish_ok("data=two");
    const std::string three = publish_ok("event=later&data=three");

    auto again = subscribe(seen);
    auto e = again->next();
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->data, "two");
    EXPECT_EQ(e->last_id, two);
    e = again->next();
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->type, "later");
    EXPECT_EQ(e->data, "three");
    EXPECT_EQ(e->last_id, three);
    // Then the live ones.
    ASSERT_TRUE(wait_until([&] { return subscribers() == 1; }, 10s)) << stats();
    const std::string four = publish_ok("data=four");
    e = again->next();
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->data, "four");
    EXPECT_EQ(e->last_id, four);

    // A Last-Event-ID that is not one of the hub's replays nothing.
    auto odd = subscribe("not-a-number");
    ASSERT_TRUE(wait_until([&] { return subscribers() == 2; }, 10s)) << stats();
    const std::string five = publish_ok("data=five");
    e = odd->next();
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->data, "five");
}

TEST_P(EventsExampleTest, AVanishedSubscriberIsDroppedAndTheNextOneWorks) {
    auto stays = subscribe();
    auto goes = subscribe();
    auto third = subscribe();
    // Three open streams and two threads: the gateway still answers.
    ASSERT_TRUE(wait_until([&] { return subscribers() == 3; }, 10s)) << stats();
    const HttpResponse hello = get("/hello");
    EXPECT_EQ(hello.status, 200);
    EXPECT_EQ(hello.body, "Hello, world!\n");

    goes.reset();
    third.reset();
    ASSERT_TRUE(wait_until([&] { return subscribers() == 1; }, 10s)) << stats();
    const HttpResponse res = publish("data=after");
    EXPECT_EQ(res.status, 200);
    EXPECT_NE(res.body.find("\"delivered\":1"), std::string::npos) << res.body;
    auto e = stays->next();
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->data, "after");

    auto next = subscribe();
    ASSERT_TRUE(wait_until([&] { return subscribers() == 2; }, 10s)) << stats();
    publish_ok("data=both");
    for (auto* s : {stays.get(), next.get()}) {
        e = s->next();
        ASSERT_TRUE(e.has_value());
        EXPECT_EQ(e->data, "both");
    }
}

TEST_P(EventsExampleTest, ABadEventNameIsRefusedAndTheNextPublishGoesOut) {
    auto a = subscribe();
    ASSERT_TRUE(wait_until([&] { return subscribers() == 1; }, 10s)) << stats();
    for (const char* bad : {"event=a%0Ab&data=x", "event=a%0Db&data=x", "event=a%00b&data=x"}) {
        const HttpResponse res = publish(bad);
        EXPECT_EQ(res.status, 400) << bad << ": " << res.body;
    }
    const std::string id = publish_ok("event=ok&data=fine");
    const auto e = a->next();
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->type, "ok");
    EXPECT_EQ(e->data, "fine");
    EXPECT_EQ(e->last_id, id);
}

TEST_P(EventsExampleTest, SpreadMsPacesABroadcastInSlicesOfSliceMs) {
    // The publisher waits while the slices go out: 4 subscribers, one
    // slice every 50 ms, the last due 225 ms in. With 200 ms slices the
    // 300 ms spread holds no two of them: one burst.
    for (const auto& [hub, paced] : {std::pair{"/paced", true}, std::pair{"/unpaced", false}}) {
        std::vector<std::unique_ptr<SseSubscriber>> subs;
        for (int i = 0; i < 4; ++i)
            subs.push_back(subscribe({}, hub));
        ASSERT_TRUE(wait_until(
            [&] {
                return get(std::string(hub) + "/stats").body.find("\"subscribers\":4") !=
                       std::string::npos;
            },
            10s))
            << get(std::string(hub) + "/stats").body;
        const auto start = std::chrono::steady_clock::now();
        const HttpResponse res = publish("event=tick&data=paced", hub);
        const auto took = std::chrono::steady_clock::now() - start;
        ASSERT_EQ(res.status, 200) << res.body;
        EXPECT_NE(res.body.find("\"delivered\":4"), std::string::npos) << res.body;
        if (paced)
            EXPECT_GE(took, 200ms) << hub;
        else
            EXPECT_LT(took, 150ms) << hub;
        for (auto& s : subs) {
            const auto e = s->next();
            ASSERT_TRUE(e.has_value()) << hub;
            EXPECT_EQ(e->data, "paced") << hub;
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Events, EventsExampleTest, ::testing::ValuesIn(events_topologies()),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace postern::test
