// Integration test of fail-over between two gateways behind one nginx
// upstream: nginx-conf/postern-fastcgi-pool.conf and postern-http-pool.conf
// as shipped, each in front of two real `postern` gateways (two worker
// processes each). 20 client threads share 3,000 GET /hello; once a third
// are answered, the master of gateway 1 is SIGKILLed (its workers die with
// it, PR_SET_PDEATHSIG: checked). The clients must see no failure: nginx
// sends what the dead gateway could not answer to the other one
// (fastcgi_next_upstream / proxy_next_upstream error timeout http_503).
// The 400 GETs after the stream all succeed and all reach the survivor.
//
// Slow requests (2.5 s each, four of every kind, sent before the stream;
// the round robin puts about half of them in each gateway) are inside
// gateway 1 when it dies. Each kind must end as the snippets' comments say:
//   get           GET /f/sleep: resent, 200 from the survivor;
//   get-begun     GET /f/sleep&flush=1, its head sent: not resent, the
//                 client's answer cut mid-body ("200 cut");
//   post          POST /f/sleep (not idempotent): not resent, 502;
//   stream-get    GET /stream/f/sleep, no body: resent, 200;
//   stream-begun  GET /stream/s (the stream example), its first chunk
//                 already at the client: not resent; over HTTP "200 cut",
//                 over FastCGI "200 short": nginx 1.22 ends the chunked body
//                 as if the answer were whole;
//   stream-put    PUT /stream/f/sleep, half of its body sent after the kill
//                 (nginx passes it on unbuffered): not resent, 502.
// A resent kind was held by gateway 1 when nginx logged an error for it
// there; another kind, when the survivor never saw it. The test asserts
// that both groups had requests inside gateway 1, and prints what each
// kind saw. Waits poll a condition against a deadline; nothing asserts on
// timing.
#include <gtest/gtest.h>

#include <dirent.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "http_client.hpp"
#include "load.hpp"
#include "process.hpp"
#include "socket_client.hpp"
#include "stack.hpp"

namespace postern::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int kClients = 20;
constexpr int kRequests = 3000;
/// Gateway 1 is killed once this many of the stream are answered.
constexpr int kKillAfter = kRequests / 3;
/// GETs after the kill, all for the survivor.
constexpr int kAfter = 400;
/// Slow requests of each kind, sent before the stream.
constexpr int kSlowPerKind = 4;
constexpr int kSleepMs = 2500;

std::string read_or_empty(const std::string& path) {
    try {
        return read_file(path);
    } catch (const std::exception&) {
        return {};
    }
}

/// False once `pid` has exited (gone, or a zombie nobody reaped yet).
bool alive(pid_t pid) {
    const std::string stat = read_or_empty("/proc/" + std::to_string(pid) + "/stat");
    const auto close = stat.rfind(')');
    if (close == std::string::npos)
        return false;
    char state = 0;
    return std::sscanf(stat.c_str() + close + 1, " %c", &state) == 1 && state != 'Z' &&
           state != 'X';
}

/// A kind of slow request (kSleepMs in all), and how it ends when the
/// killed gateway held it.
struct Kind {
    const char* name;
    const char* method;
    /// Under /f (location /) or /stream (unbuffered); the test adds "&id=N".
    /// /f/sleep?...&flush=1 sends the head first, and /stream/s (the stream
    /// example) its first chunk.
    const char* target;
    /// The end of a whole answer.
    const char* whole;
    /// nginx sends it again to the other gateway: it ends "200" regardless.
    bool resent;
    /// Its body half sent before the kill, the rest after (PUT).
    bool body_later;
};

const std::vector<Kind>& kinds() {
    static const std::string sleep = "sleep?ms=" + std::to_string(kSleepMs);
    static const std::string slept = "slept " + std::to_string(kSleepMs) + " ms\n";
    static const std::string f = "/f/" + sleep;
    static const std::string f_flush = f + "&flush=1";
    static const std::string stream_f = "/stream/f/" + sleep;
    static const std::string stream_s =
        "/stream/s?chunks=3&bytes=10&delay_ms=" + std::to_string(kSleepMs / 2);
    static const std::vector<Kind> list{
        {"get", "GET", f.c_str(), slept.c_str(), true, false},
        {"get-begun", "GET", f_flush.c_str(), slept.c_str(), false, false},
        {"post", "POST", f.c_str(), slept.c_str(), false, false},
        {"stream-get", "GET", stream_f.c_str(), slept.c_str(), true, false},
        {"stream-begun", "GET", stream_s.c_str(), "cccccccccc", false, false},
        {"stream-put", "PUT", stream_f.c_str(), slept.c_str(), false, true},
    };
    return list;
}

/// One slow request on a connection of its own: sent before the stream, its
/// answer read after it.
struct Slow {
    const Kind* kind;
    int id;
    std::unique_ptr<SocketClient> client;
    std::string answer;  ///< every byte received, up to the close

    std::string target() const { return std::string(kind->target) + "&id=" + std::to_string(id); }
    /// The end of its request line: names it in nginx's error log and in the
    /// gateways' access logs.
    std::string tag() const { return "&id=" + std::to_string(id) + " HTTP/"; }
    int status() const {
        int status = 0;
        return std::sscanf(answer.c_str(), "HTTP/1.%*d %d", &status) == 1 ? status : 0;
    }
    /// "200" (the whole answer), "200 cut" (the connection closed mid-body,
    /// without the chunked end), "200 short" (a well-formed chunked answer,
    /// its end included, that lacks the rest), "502", ...
    std::string outcome() const {
        const int s = status();
        if (s == 0)
            return "no answer";
        if (s != 200)
            return std::to_string(s);
        if (answer.find(kind->whole) != std::string::npos)
            return "200";
        if (answer.size() >= 5 && answer.compare(answer.size() - 5, 5, "0\r\n\r\n") == 0)
            return "200 short";
        return "200 cut";
    }
};

struct Flavour {
    const char* name;
    const char* protocol;     ///< what the gateways listen on
    const char* snippet;      ///< in nginx-conf/
    const char* placeholder;  ///< "POSTERN_FASTCGI": _1 and _2 are the gateways
    /// How a stream-begun request held by the killed gateway ends.
    const char* stream_begun_lost;
};

void PrintTo(const Flavour& f, std::ostream* os) {
    *os << f.name;
}

class Failover : public ::testing::TestWithParam<Flavour> {
  protected:
    void SetUp() override {
        const Flavour& f = GetParam();
        Gateway::Config config;
        // faults under /stream too: slow requests through the unbuffered
        // location.
        config.mounts = {"/hello=hello", "/f=faults", "/stream=stream", "/stream/f=faults"};
        config.protocols = {f.protocol};
        config.extra_args = {"--processes", "2", "--trusted-proxy", "127.0.0.1"};
        for (const char* name : {"gateway1", "gateway2"})
            gateways_.push_back(std::make_unique<Gateway>(dir_, name, config));
        for (auto& g : gateways_) {
            ASSERT_TRUE(eventually([&] {
                return read_or_empty(g->log_path()).find("2 worker processes serving") !=
                       std::string::npos;
            })) << tail_file(g->log_path());
        }
        const std::string p = f.placeholder;
        nginx_ = std::make_unique<Nginx>(dir_, f.name, f.snippet,
                                         std::map<std::string, std::string>{
                                             {p + "_1", gateways_[0]->address(f.protocol, false)},
                                             {p + "_2", gateways_[1]->address(f.protocol, false)}});
    }

    void TearDown() override {
        if (HasFailure()) {
            dir_.keep();
            std::fprintf(stderr, "==== kept %s\n", dir_.path().c_str());
            for (std::size_t i = 0; i < gateways_.size(); ++i)
                std::fprintf(stderr, "==== postern %zu log\n%s", i + 1,
                             tail_file(gateways_[i]->log_path(), 20).c_str());
            if (nginx_)
                std::fprintf(stderr, "==== nginx error log\n%s",
                             tail_file(nginx_->error_log(), 40).c_str());
        }
        nginx_.reset();
        gateways_.clear();
    }

    std::string front() const { return "127.0.0.1:" + std::to_string(nginx_->port()); }
    std::string access_log(int i) const {
        const std::string& log = gateways_[i]->log_path();
        return log.substr(0, log.rfind('/')) + "/access.log";
    }
    std::size_t access_lines(int i) const {
        return occurrences(read_or_empty(access_log(i)), "\n");
    }

    TempDir dir_{"postern-failover"};
    std::vector<std::unique_ptr<Gateway>> gateways_;
    std::unique_ptr<Nginx> nginx_;
};

TEST_P(Failover, SigkillOfOneGatewayUnderLoadLosesNoGet) {
    const Flavour& f = GetParam();
    const std::string addr = front();

    // Both gateways serve: the round robin spreads requests over the pool,
    // and leaves nginx kept connections to each.
    HttpRequest hello;
    hello.target = "/hello";
    for (int i = 0; i < 20; ++i) {
        const auto res = http_request(addr, addr, hello, 30s);
        ASSERT_EQ(res.status, 200) << res.body.substr(0, 300);
    }
    for (int i : {0, 1})
        EXPECT_TRUE(eventually([&] { return access_lines(i) > 0; }))
            << access_log(i) << ": no request reached gateway " << i + 1;

    const pid_t master = gateways_[0]->process().pid();
    const std::set<pid_t> workers = children_of(master);
    ASSERT_EQ(workers.size(), 2u) << "gateway 1's worker processes";

    // The slow requests, sent one after the other from here: the round
    // robin alternates them between the gateways. Every other round in
    // reverse order, so that each kind goes to both.
    std::vector<Slow> slow;
    const std::size_t n_kinds = kinds().size();
    for (int i = 0; i < kSlowPerKind; ++i) {
        for (std::size_t k = 0; k < n_kinds; ++k) {
            const Kind& kind = kinds()[i % 2 == 0 ? k : n_kinds - 1 - k];
            Slow s{
                &kind, static_cast<int>(slow.size()) + 1, std::make_unique<SocketClient>(addr), {}};
            std::string bytes = std::string(kind.method) + " " + s.target() +
                                " HTTP/1.1\r\nHost: " + addr + "\r\nConnection: close\r\n";
            if (kind.body_later)
                bytes += "Content-Length: 6\r\n\r\nabc";
            else if (std::string(kind.method) == "POST")
                bytes +=
                    "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: "
                    "3\r\n\r\na=1";
            else
                bytes += "\r\n";
            ASSERT_TRUE(s.client->send(bytes));
            slow.push_back(std::move(s));
        }
    }
    // Under /stream, each chunk reaches the client at once: once the first
    // ones are here, the slow requests are running in the gateways.
    for (auto& s : slow) {
        if (std::string(s.kind->name) != "stream-begun")
            continue;
        s.answer = s.client->recv_until("aaaaaaaaaa", 10s);
        ASSERT_NE(s.answer.find("aaaaaaaaaa"), std::string::npos) << s.answer;
    }
    const auto running = Clock::now();

    // Kill gateway 1 once a third of the stream is answered, or, on a slow
    // machine, while the slow requests are surely still running.
    Load load(addr, "/hello", kRequests, kClients);
    ASSERT_TRUE(eventually(
        [&] {
            const int done = load.tally.done.load();
            return done >= kKillAfter ||
                   (done >= kClients &&
                    Clock::now() - running > std::chrono::milliseconds(kSleepMs / 2));
        },
        30s))
        << load.tally.describe();
    const int killed_at = load.tally.done.load();
    const std::size_t survivor_before = access_lines(1);
    gateways_[0]->process().signal(SIGKILL);
    for (auto& s : slow)
        if (s.kind->body_later)
            s.client->send("def");
    load.join();
    for (auto& s : slow)
        s.answer += s.client->recv_until_close(20s);

    // Gateway 1 is gone whole: its master, its workers, its listener.
    const auto status = gateways_[0]->process().wait(10s);
    ASSERT_TRUE(status.has_value()) << "gateway 1 did not die";
    EXPECT_EQ(describe_wait_status(*status), "killed by signal 9 (Killed)");
    EXPECT_TRUE(eventually([&] { return std::none_of(workers.begin(), workers.end(), alive); }))
        << "a worker of gateway 1 outlived its master";
    const std::string killed = gateways_[0]->address(f.protocol, false);
    EXPECT_TRUE(eventually([&] {
        try {
            SocketClient probe(killed);
            return false;
        } catch (const std::exception&) {
            return true;
        }
    })) << killed
        << " still accepts";

    // What nginx logged about gateway 1.
    const std::string error_log = read_or_empty(nginx_->error_log());
    std::vector<std::string> on_killed;
    for (std::size_t at = 0; at < error_log.size();) {
        auto end = error_log.find('\n', at);
        if (end == std::string::npos)
            end = error_log.size();
        const std::string line = error_log.substr(at, end - at);
        at = end + 1;
        if (line.find("[error]") != std::string::npos &&
            (line.find("//" + killed + "\"") != std::string::npos ||
             line.find("//" + killed + "/") != std::string::npos))
            on_killed.push_back(line);
    }
    std::map<std::string, int> why;  ///< nginx's reason -> lines
    for (const auto& line : on_killed) {
        std::string reason = "other";
        for (const char* r : {"connect() failed", "prematurely closed", "reset by peer",
                              "Broken pipe", "timed out"})
            if (line.find(r) != std::string::npos) {
                reason = r;
                break;
            }
        ++why[reason];
    }
    // nginx lost this request in gateway 1 after it had reached it.
    auto lost_in_killed = [&](const Slow& s) {
        return std::any_of(on_killed.begin(), on_killed.end(), [&](const std::string& line) {
            return line.find(s.tag()) != std::string::npos &&
                   line.find("connect() failed") == std::string::npos;
        });
    };

    // The survivor's access log, once it holds every slow request it answered.
    std::string survivor_log;
    EXPECT_TRUE(eventually([&] {
        survivor_log = read_or_empty(access_log(1));
        return std::all_of(slow.begin(), slow.end(), [&](const Slow& s) {
            return s.outcome() != "200" || survivor_log.find(s.tag()) != std::string::npos;
        });
    })) << "the survivor's access log lacks a slow request it answered";

    // Held by gateway 1 when it died: a resent kind if nginx says so, any
    // other kind if the survivor never saw it.
    std::map<std::string, int> held;                         ///< kind -> count
    std::map<std::string, std::map<std::string, int>> seen;  ///< kind -> outcome -> count
    auto was_held = [&](const Slow& s) {
        return s.kind->resent ? lost_in_killed(s) : survivor_log.find(s.tag()) == std::string::npos;
    };
    for (const auto& s : slow) {
        held[s.kind->name] += was_held(s) ? 1 : 0;
        ++seen[s.kind->name][s.outcome()];
    }

    const int failed = load.tally.failed();
    std::string slow_seen;
    int held_resent = 0;  ///< of the kinds nginx resends
    int held_kept = 0;    ///< of the others
    for (const Kind& kind : kinds()) {
        (kind.resent ? held_resent : held_kept) += held[kind.name];
        slow_seen += std::string("\n    ") + kind.name + ": " + std::to_string(held[kind.name]) +
                     " held by gateway 1;";
        for (const auto& [outcome, count] : seen[kind.name])
            slow_seen += " " + std::to_string(count) + " x " + outcome;
    }
    std::string logged;
    for (const auto& [reason, count] : why)
        logged += (logged.empty() ? "" : ", ") + std::to_string(count) + " x " + reason;
    std::printf(
        "[ failover ] %s: %d GET /hello by %d clients, gateway 1 SIGKILLed after %d answered: "
        "%s (%d failed); nginx logged %zu errors on gateway 1 (%s); %d slow requests of each "
        "kind:%s\n",
        f.name, kRequests, kClients, killed_at, load.tally.describe().c_str(), failed,
        on_killed.size(), logged.c_str(), kSlowPerKind, slow_seen.c_str());
    RecordProperty("failed", failed);
    RecordProperty("slow", slow_seen);

    // The stream: not one GET lost.
    EXPECT_EQ(load.tally.done.load(), kRequests);
    EXPECT_LT(killed_at, kRequests) << "the kill came after the stream";
    EXPECT_EQ(failed, 0) << load.tally.describe();
    EXPECT_GT(access_lines(1) - survivor_before,
              static_cast<std::size_t>(kRequests - killed_at) / 2)
        << "the survivor did not take over";

    // The slow requests: the kill caught some inside gateway 1, and each
    // ended as nginx-conf/postern-*-pool.conf says.
    EXPECT_GT(held_resent, 0) << "no slow GET was inside gateway 1 when it died";
    EXPECT_GT(held_kept, 0) << "no slow request of the other kinds was inside gateway 1";
    for (const auto& s : slow) {
        const std::size_t on_survivor = occurrences(survivor_log, s.tag());
        const bool lost = was_held(s);
        SCOPED_TRACE(std::string(s.kind->method) + " " + s.target() +
                     (lost ? " (held by gateway 1)" : "") + ": " + s.answer.substr(0, 300));
        // Never run twice on the survivor; answered whole by it if it ran there.
        EXPECT_EQ(on_survivor, lost && !s.kind->resent ? 0u : 1u);
        if (!lost || s.kind->resent) {
            EXPECT_EQ(s.outcome(), "200");
            continue;
        }
        const std::string name = s.kind->name;
        const std::string expected = name == "get-begun"      ? "200 cut"
                                     : name == "stream-begun" ? f.stream_begun_lost
                                                              : "502";
        EXPECT_EQ(s.outcome(), expected);
    }

    // Afterwards, every request succeeds, and the survivor answers them all
    // (a query of their own tells them apart in its access log).
    Load after(addr, "/hello?after", kAfter, kClients);
    after.join();
    std::printf("[ failover ] %s: then %d GET /hello: %s\n", f.name, kAfter,
                after.tally.describe().c_str());
    EXPECT_EQ(after.tally.failed(), 0) << after.tally.describe();
    std::size_t on_survivor = 0;
    EXPECT_TRUE(eventually([&] {
        on_survivor = occurrences(read_or_empty(access_log(1)), "/hello?after ");
        return on_survivor >= static_cast<std::size_t>(kAfter);
    })) << on_survivor
        << " of " << kAfter << " reached the survivor";
    EXPECT_EQ(on_survivor, static_cast<std::size_t>(kAfter));

    EXPECT_EQ(describe_wait_status(gateways_[1]->stop()), "exited 0") << "the survivor on SIGTERM";
}

INSTANTIATE_TEST_SUITE_P(
    Nginx, Failover,
    ::testing::Values(Flavour{"fastcgi", "fastcgi", "postern-fastcgi-pool.conf", "POSTERN_FASTCGI",
                              "200 short"},
                      Flavour{"http", "http", "postern-http-pool.conf", "POSTERN_HTTP", "200 cut"}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace postern::test
