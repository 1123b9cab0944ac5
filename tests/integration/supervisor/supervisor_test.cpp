// Integration tests of the supervisor (core/supervisor.hpp): the real
// `postern` with two worker processes, behind the real nginx running
// nginx-conf/postern-fastcgi.conf as shipped, under a bounded load of 20
// client threads sharing 2,000 GETs (the 2009 benchmark's -n 2000 -c 20).
//
//   * a worker killed by /f/abort is named in the log with its signal and the
//     request, and replaced; only requests on the dead worker may fail;
//   * SIGHUP under load: new workers, not one failed request, the
//     configuration re-read (and a broken one leaves the old workers serving);
//   * SIGTERM with requests in flight: they complete, the master exits 0;
//   * --max-requests: workers are recycled under load without a failure.
//
// Worker processes are the master's children, read from /proc. Waits poll a
// condition against a deadline; nothing asserts on timing.
#include <gtest/gtest.h>

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <regex>
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
constexpr int kRequests = 2000;

std::string log_of(const Gateway& g) {
    try {
        return read_file(g.log_path());
    } catch (const std::exception&) {
        return {};
    }
}

class Supervisor : public ::testing::Test {
  protected:
    /// A gateway with two worker processes (plus `extra` options) and nginx
    /// in front of its FastCGI TCP listener; returns once both workers serve.
    void start(std::vector<std::string> extra = {}) {
        Gateway::Config config;
        config.mounts = {"/hello=hello", "/f=faults"};
        config.extra_args = {"--processes", "2", "--access-log", "off"};
        config.extra_args.insert(config.extra_args.end(), extra.begin(), extra.end());
        gateway_ = std::make_unique<Gateway>(dir_, "gateway", config);
        nginx_ =
            std::make_unique<Nginx>(dir_, "fastcgi", "postern-fastcgi.conf",
                                    std::map<std::string, std::string>{
                                        {"POSTERN_FASTCGI", gateway_->address("fastcgi", false)}});
        ASSERT_TRUE(eventually([&] {
            return log_of(*gateway_).find("2 worker processes serving") != std::string::npos;
        })) << log_of(*gateway_);
        ASSERT_EQ(workers().size(), 2u) << log_of(*gateway_);
    }

    pid_t master() { return gateway_->process().pid(); }
    std::set<pid_t> workers() { return children_of(master()); }
    std::string front() const { return "127.0.0.1:" + std::to_string(nginx_->port()); }
    int get(const std::string& target) {
        HttpRequest req;
        req.target = target;
        return http_request(front(), front(), req, 30s).status;
    }

    void TearDown() override {
        if (HasFailure() && gateway_) {
            std::fprintf(stderr, "==== postern log\n%s",
                         tail_file(gateway_->log_path(), 60).c_str());
            if (nginx_)
                std::fprintf(stderr, "==== nginx error log\n%s",
                             tail_file(nginx_->error_log(), 30).c_str());
        }
        nginx_.reset();
        if (gateway_) {
            const int status = gateway_->stop();
            EXPECT_EQ(describe_wait_status(status), "exited 0") << "postern on SIGTERM";
            gateway_.reset();
        }
    }

    TempDir dir_{"postern-sup"};
    std::unique_ptr<Gateway> gateway_;
    std::unique_ptr<Nginx> nginx_;
};

TEST_F(Supervisor, ACrashedWorkerIsNamedAndReplaced) {
    start();
    Load load(front(), "/hello", kRequests, kClients);
    // Two /f/abort while the load runs, each sent through nginx: the worker
    // that runs it dies of SIGABRT (nginx may retry it on another kept
    // connection, killing that worker too: the log says how many died).
    std::vector<int> abort_status;
    for (int third : {1, 2}) {
        ASSERT_TRUE(load.reached(kRequests * third / 3)) << load.tally.describe();
        try {
            abort_status.push_back(get("/f/abort"));
        } catch (const std::exception&) {
            abort_status.push_back(-1);
        }
    }
    load.join();

    // The log names the signal and the request of every worker that died.
    const std::regex death(R"(worker (\d+) killed by signal 6 \(SIGABRT: Aborted\)[^\n]*)");
    std::set<pid_t> dead;
    int naming_abort = 0;
    ASSERT_TRUE(eventually([&] {
        const std::string log = log_of(*gateway_);
        dead.clear();
        naming_abort = 0;
        for (auto it = std::sregex_iterator(log.begin(), log.end(), death);
             it != std::sregex_iterator(); ++it) {
            dead.insert(static_cast<pid_t>(std::stoi((*it)[1])));
            if (it->str().find("while serving GET /f/abort") != std::string::npos)
                ++naming_abort;
        }
        return dead.size() >= 2;
    })) << "two /f/abort, fewer than two workers died";
    EXPECT_EQ(naming_abort, static_cast<int>(dead.size()))
        << "every crash names the request whose thread aborted";

    // The pool is back to two workers, none of them a dead one.
    std::set<pid_t> now;
    ASSERT_TRUE(eventually([&] {
        now = workers();
        return now.size() == 2 &&
               std::none_of(now.begin(), now.end(), [&](pid_t p) { return dead.count(p) != 0; });
    })) << now.size()
        << " workers";

    // Only requests inside a dead worker may fail: at most the 20 in flight
    // per death, each answered 502 by nginx.
    const int failed = load.tally.failed();
    std::printf(
        "[ crash    ] %d GET /hello by %d clients, %zu workers killed by 2 /f/abort "
        "(answered %d and %d): %s\n",
        kRequests, kClients, dead.size(), abort_status[0], abort_status[1],
        load.tally.describe().c_str());
    RecordProperty("failed", failed);
    RecordProperty("workers_killed", static_cast<int>(dead.size()));
    EXPECT_EQ(load.tally.done.load(), kRequests);
    EXPECT_LE(failed, static_cast<int>(dead.size()) * kClients) << load.tally.describe();
    {
        std::lock_guard lock(load.tally.mutex);
        for (const auto& [what, count] : load.tally.failures)
            EXPECT_EQ(what, "status 502") << "a failure other than the front end's 502";
    }

    // Later requests all succeed.
    Load after(front(), "/hello", 400, kClients);
    after.join();
    EXPECT_EQ(after.tally.failed(), 0) << after.tally.describe();
}

TEST_F(Supervisor, TheStatusPageSumsEveryWorkerAndKeepsTheCountsOfDeadOnes) {
    start({"--status", "/postern-status"});
    auto status = [&] {
        HttpRequest req;
        req.target = "/postern-status";
        const HttpResponse res = http_request(front(), front(), req, 30s);
        EXPECT_EQ(res.status, 200) << res.body;
        Poco::JSON::Parser parser;
        return parser.parse(res.body).extract<Poco::JSON::Object::Ptr>();
    };
    // The FastCGI TCP listener's entry (nginx talks to it).
    auto fastcgi = [&](const Poco::JSON::Object::Ptr& root) {
        const std::string name = "fastcgi=" + gateway_->address("fastcgi", false);
        auto listeners = root->getArray("listeners");
        for (std::size_t i = 0; i < listeners->size(); ++i)
            if (listeners->getObject(i)->getValue<std::string>("name") == name)
                return listeners->getObject(i);
        ADD_FAILURE() << "no listener " << name;
        return Poco::JSON::Object::Ptr(new Poco::JSON::Object);
    };

    Load load(front(), "/hello", 400, kClients);
    load.join();
    ASSERT_EQ(load.tally.failed(), 0) << load.tally.describe();
    auto root = status();
    EXPECT_EQ(root->getValue<int>("processes"), 2);
    // Every answered request, whichever worker ran it; this one in flight.
    auto l = fastcgi(root);
    EXPECT_EQ(l->getValue<int>("requests"), 400);
    EXPECT_EQ(l->getObject("responses")->getValue<int>("2xx"), 400);
    EXPECT_EQ(l->getValue<int>("in_flight"), 1);
    EXPECT_EQ(l->getObject("latency")->getValue<int>("count"), 400);
    auto workers = root->getArray("workers");
    ASSERT_EQ(workers->size(), 2u);
    std::set<pid_t> listed;
    int by_workers = 0;
    for (std::size_t i = 0; i < workers->size(); ++i) {
        listed.insert(workers->getObject(i)->getValue<pid_t>("pid"));
        by_workers += workers->getObject(i)->getValue<int>("requests");
    }
    EXPECT_EQ(listed, this->workers());
    EXPECT_EQ(by_workers, 400);

    // A worker dies: it is counted as restarted, and what it served stays
    // in the totals.
    try {
        get("/f/abort");
    } catch (const std::exception&) {
    }
    ASSERT_TRUE(eventually([&] {
        const auto now = this->workers();
        return now.size() == 2 && now != listed;
    })) << log_of(*gateway_);
    root = status();
    EXPECT_GE(root->getObject("worker_restarts")->getValue<int>("crashed"), 1);
    EXPECT_EQ(root->getObject("worker_restarts")->getValue<int>("reloaded"), 0);
    l = fastcgi(root);
    EXPECT_GE(l->getValue<int>("requests"), 401);  // the first status request too
    EXPECT_EQ(l->getObject("responses")->getValue<int>("2xx"), 401);

    HttpRequest req;
    req.target = "/postern-status?format=prometheus";
    const HttpResponse prom = http_request(front(), front(), req, 30s);
    EXPECT_EQ(prom.status, 200);
    EXPECT_NE(prom.body.find("postern_worker_processes 2\n"), std::string::npos) << prom.body;
    EXPECT_NE(prom.body.find("postern_requests_total{listener=\"fastcgi=" +
                             gateway_->address("fastcgi", false) +
                             "\",protocol=\"fastcgi\",class=\"2xx\"} 402\n"),
              std::string::npos)
        << prom.body;
}

TEST_F(Supervisor, AWorkerStuckInARequestPastRequestTimeoutIsKilledAndReplaced) {
    start({"--request-timeout", "1000"});
    const std::set<pid_t> before = workers();
    // Well within the limit: served.
    EXPECT_EQ(get("/f/sleep?ms=200"), 200);
    // Past it: the worker is killed after about a second; nginx answers
    // 502 (the request was inside the dead worker).
    const auto t0 = std::chrono::steady_clock::now();
    int stuck = 0;
    try {
        stuck = get("/f/sleep?ms=20000");
    } catch (const std::exception&) {
        stuck = -1;
    }
    const auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_EQ(stuck, 502);
    EXPECT_GE(took, 900ms);
    EXPECT_LT(took, 10s) << "killed long before the callback would have returned";
    const std::string log = log_of(*gateway_);
    EXPECT_NE(log.find("has been running GET /f/sleep?ms=20000 for "), std::string::npos) << log;
    EXPECT_NE(log.find("(--request-timeout 1000 ms): killing it"), std::string::npos) << log;
    EXPECT_TRUE(eventually([&] {
        return log_of(*gateway_).find("killed by signal 9 (SIGKILL") != std::string::npos;
    })) << log_of(*gateway_);
    // Back to two workers, and serving.
    ASSERT_TRUE(eventually([&] {
        const auto now = workers();
        return now.size() == 2 && now != before;
    })) << log_of(*gateway_);
    for (int i = 0; i < 20; ++i)
        EXPECT_EQ(get("/hello"), 200);
}

TEST_F(Supervisor, SigttinAndSigttouAddAndRemoveOneWorkerUnderLoad) {
    start();
    const std::set<pid_t> two = workers();
    Load load(front(), "/hello", kRequests, kClients);
    ASSERT_TRUE(load.reached(kRequests / 4)) << load.tally.describe();
    ::kill(master(), SIGTTIN);
    ASSERT_TRUE(eventually([&] { return workers().size() == 3; })) << log_of(*gateway_);
    // One at a time: a second signal sent before the first is read merges
    // with it (standard signals do not queue).
    ::kill(master(), SIGTTOU);
    ASSERT_TRUE(eventually([&] { return workers().size() == 2; })) << log_of(*gateway_);
    ::kill(master(), SIGTTOU);
    // The two oldest go; the one started by SIGTTIN stays.
    std::set<pid_t> now;
    ASSERT_TRUE(eventually([&] {
        now = workers();
        return now.size() == 1;
    })) << log_of(*gateway_);
    EXPECT_EQ(two.count(*now.begin()), 0u) << "the newest worker is the one left";
    ::kill(master(), SIGTTOU);  // one is the fewest: unchanged
    load.join();
    EXPECT_EQ(load.tally.failed(), 0) << load.tally.describe();
    const std::string log = log_of(*gateway_);
    EXPECT_NE(log.find("received SIGTTIN: 3 worker processes from now on"), std::string::npos)
        << log;
    EXPECT_NE(log.find("received SIGTTOU: 1 worker processes from now on"), std::string::npos)
        << log;
    EXPECT_TRUE(eventually([&] {
        return log_of(*gateway_).find("received SIGTTOU: 1 worker processes already") !=
               std::string::npos;
    })) << log_of(*gateway_);
    EXPECT_EQ(occurrences(log, "killed by"), 0u) << log;
    EXPECT_EQ(workers(), now);
    EXPECT_EQ(get("/hello"), 200);
}

TEST_F(Supervisor, SighupUnderLoadReplacesEveryWorkerWithoutAFailedRequest) {
    // The configuration file is re-read: a mount added to it appears.
    const std::string conf = dir_.file("postern.conf");
    write_file(conf, "threads = 8\n");
    start({"--config", conf});
    EXPECT_EQ(get("/v2/x"), 404);
    const std::set<pid_t> before = workers();

    Load load(front(), "/hello", kRequests, kClients);
    ASSERT_TRUE(load.reached(kRequests / 3)) << load.tally.describe();
    write_file(conf, "threads = 8\nmount = /v2=" + binary_dir() + "/examples/echo.so\n");
    gateway_->process().signal(SIGHUP);
    ASSERT_TRUE(eventually([&] {
        return log_of(*gateway_).find("reload done") != std::string::npos;
    })) << "no \"reload done\"";
    load.join();

    std::printf("[ reload   ] %d GET /hello by %d clients, SIGHUP after %d: %s\n", kRequests,
                kClients, kRequests / 3, load.tally.describe().c_str());
    EXPECT_EQ(load.tally.done.load(), kRequests);
    EXPECT_EQ(load.tally.failed(), 0) << load.tally.describe();
    std::set<pid_t> after;
    ASSERT_TRUE(eventually([&] {
        after = workers();
        return after.size() == 2 && std::none_of(after.begin(), after.end(),
                                                 [&](pid_t p) { return before.count(p) != 0; });
    })) << "the old workers did not all stop, or the new ones are not two";
    EXPECT_EQ(get("/v2/x"), 200) << "the reloaded configuration mounts /v2";
}

TEST_F(Supervisor, AReloadThatCannotStartKeepsTheOldWorkers) {
    const std::string conf = dir_.file("postern.conf");
    write_file(conf, "threads = 4\n");
    start({"--config", conf});
    const std::set<pid_t> before = workers();

    // A module that does not load: the new workers fail, the old ones serve.
    const std::string bad = dir_.file("not-a-module.so");
    write_file(bad, "not a shared object\n");
    write_file(conf, "threads = 4\nmount = /bad=" + bad + "\n");
    gateway_->process().signal(SIGHUP);
    ASSERT_TRUE(eventually([&] {
        return log_of(*gateway_).find("reload failed: cannot load module " + bad) !=
               std::string::npos;
    })) << "no \"reload failed\" naming the module";
    EXPECT_EQ(get("/hello"), 200);
    ASSERT_TRUE(eventually([&] { return workers() == before; })) << "the old workers changed";

    // Mended, the next SIGHUP goes through.
    write_file(conf, "threads = 4\n");
    gateway_->process().signal(SIGHUP);
    ASSERT_TRUE(
        eventually([&] { return log_of(*gateway_).find("reload done") != std::string::npos; }));
    EXPECT_EQ(get("/hello"), 200);
}

TEST_F(Supervisor, SigtermLetsRequestsInFlightFinishThenExitsZero) {
    start({"--drain-timeout", "20000"});
    const std::string http = gateway_->address("http", false);
    const std::string socket_file = gateway_->address("http", true);
    // Six slow requests straight to the workers' HTTP listener; each sends
    // its head before sleeping, so the client knows it is running.
    constexpr int kSlow = 6;
    std::vector<std::unique_ptr<SocketClient>> clients;
    for (int i = 0; i < kSlow; ++i) {
        clients.push_back(std::make_unique<SocketClient>(http));
        ASSERT_TRUE(clients.back()->send(
            "GET /f/sleep?ms=1500&flush=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    }
    std::vector<std::string> got(kSlow);
    for (int i = 0; i < kSlow; ++i) {
        got[i] = clients[i]->recv_until("\r\n\r\n", 10s);
        ASSERT_NE(got[i].find("200 OK"), std::string::npos) << got[i];
    }
    gateway_->process().signal(SIGTERM);
    for (int i = 0; i < kSlow; ++i) {
        got[i] += clients[i]->recv_until_close(15s);
        EXPECT_NE(got[i].find("slept 1500 ms\n"), std::string::npos)
            << "request " << i << " did not complete: " << got[i];
    }
    const auto status = gateway_->process().wait(15s);
    ASSERT_TRUE(status.has_value()) << "the master did not exit";
    EXPECT_EQ(describe_wait_status(*status), "exited 0");
    const std::string log = log_of(*gateway_);
    EXPECT_NE(log.find("received SIGTERM: stopping 2 worker processes"), std::string::npos) << log;
    const std::regex stopped(R"(worker \d+ stopped\n)");
    EXPECT_EQ(std::distance(std::sregex_iterator(log.begin(), log.end(), stopped),
                            std::sregex_iterator()),
              2)
        << "both workers stopped, no crash: " << log;
    // Nothing listens any more; the socket file is gone.
    EXPECT_THROW(SocketClient{http}, std::runtime_error);
    EXPECT_NE(::access(socket_file.c_str(), F_OK), 0) << socket_file << " is left behind";
}

TEST_F(Supervisor, MaxRequestsRecyclesWorkersUnderLoadWithoutAFailedRequest) {
    start({"--max-requests", "100", "--max-requests-jitter", "20"});
    const std::set<pid_t> first = workers();
    Load load(front(), "/hello", kRequests, kClients);
    load.join();
    const std::string log = log_of(*gateway_);
    const std::size_t recycled = occurrences(log, "(--max-requests): starting its replacement");
    std::printf(
        "[ recycle  ] %d GET /hello by %d clients, --max-requests 100 (+0..20): %zu "
        "workers recycled; %s\n",
        kRequests, kClients, recycled, load.tally.describe().c_str());
    RecordProperty("recycled", static_cast<int>(recycled));
    EXPECT_EQ(load.tally.done.load(), kRequests);
    EXPECT_EQ(load.tally.failed(), 0) << load.tally.describe();
    // 2,000 requests over workers that serve at most ~120 before they ask to
    // go: several generations of workers, never fewer than two serving. (A
    // worker asked to go serves its kept connections until they drain, so on
    // a loaded machine fewer generations than 2,000 / 120 are seen.)
    EXPECT_GE(recycled, 3u) << log;
    EXPECT_EQ(occurrences(log, "killed by"), 0u) << log;
    std::set<pid_t> now;
    ASSERT_TRUE(eventually([&] {
        now = workers();
        return now.size() == 2;
    })) << now.size()
        << " workers";
    EXPECT_TRUE(std::none_of(now.begin(), now.end(), [&](pid_t p) { return first.count(p); }))
        << "the first workers were recycled";
}

}  // namespace
}  // namespace postern::test
