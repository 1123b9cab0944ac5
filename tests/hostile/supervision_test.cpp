// Hostile suite: crash storms, frozen workers, logs that fail (issue 12,
// items 3, 8 and 9), against the real `postern` with worker processes,
// direct and behind the real nginx running nginx-conf/postern-fastcgi.conf
// as shipped.
//
//   * a URL that crashes its worker, asked ten times in a row, never leaves
//     the gateway without a worker: the request after each crash is served
//     within 1 s (--processes 2 and 1), and the storm is logged;
//   * a worker frozen with SIGSTOP is killed after --worker-timeout and
//     replaced; the requests on its connections end instead of hanging, and
//     the gateway serves on (direct and through nginx); a worker whose
//     threads are all in long callbacks is not frozen, and is left alone;
//   * an access log that cannot be written (/dev/full) is reported with a
//     count of lines lost, and requests are served on; SIGUSR1 reopens a
//     renamed access log and error log by their names.
//
// Waits poll a condition against a deadline; the 1 s and worker-timeout
// bounds are what the issue asks for.
#include <gtest/gtest.h>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "http_client.hpp"
#include "load.hpp"
#include "process.hpp"
#include "stack.hpp"

namespace postern::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string log_of(const Gateway& g) {
    try {
        return read_file(g.log_path());
    } catch (const std::exception&) {
        return {};
    }
}

std::string file_or_empty(const std::string& path) {
    try {
        return read_file(path);
    } catch (const std::exception&) {
        return {};
    }
}

/// Every thread of `pid` is stopped (state T in /proc/PID/task/*/stat):
/// SIGSTOP takes effect as each thread next runs, which on a loaded machine
/// is not at once, and a thread still running may serve a request.
bool all_threads_stopped(pid_t pid) {
    const std::string dir = "/proc/" + std::to_string(pid) + "/task";
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr)
        return false;
    bool all = true;
    int seen = 0;
    while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] == '.')
            continue;
        ++seen;
        std::ifstream in(dir + "/" + e->d_name + "/stat");
        std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        const auto paren = stat.rfind(')');
        if (paren == std::string::npos || paren + 2 >= stat.size() || stat[paren + 2] != 'T')
            all = false;
    }
    ::closedir(d);
    return all && seen > 0;
}

/// The inodes of the sockets process `pid` holds (/proc/PID/fd).
std::set<unsigned long> socket_inodes(pid_t pid) {
    std::set<unsigned long> out;
    const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr)
        return out;
    while (const dirent* e = ::readdir(d)) {
        char buf[64];
        const ssize_t n = ::readlink((dir + "/" + e->d_name).c_str(), buf, sizeof(buf) - 1);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        unsigned long inode = 0;
        if (std::sscanf(buf, "socket:[%lu]", &inode) == 1)
            out.insert(inode);
    }
    ::closedir(d);
    return out;
}

/// The established TCP connections whose local end is port `port` (the
/// gateway's side of them): remote port -> socket inode (/proc/net/tcp).
std::map<int, unsigned long> accepted_connections(int port) {
    std::map<int, unsigned long> out;
    std::ifstream in("/proc/net/tcp");
    std::string line;
    std::getline(in, line);  // the header
    while (std::getline(in, line)) {
        std::istringstream row(line);
        std::string sl, local, remote, state, queues, timer, retransmits, uid, timeout;
        unsigned long inode = 0;
        if (!(row >> sl >> local >> remote >> state >> queues >> timer >> retransmits >> uid >>
              timeout >> inode))
            continue;
        auto port_of = [](const std::string& a) {
            return static_cast<int>(std::stoul(a.substr(a.find(':') + 1), nullptr, 16));
        };
        if (state == "01" && port_of(local) == port)
            out[port_of(remote)] = inode;
    }
    return out;
}

/// Which of `workers` holds the gateway's side of the connection from the
/// client port `client_port` to `port`; -1 for none.
pid_t owner_of(int port, int client_port, const std::set<pid_t>& workers) {
    const auto conns = accepted_connections(port);
    const auto it = conns.find(client_port);
    if (it == conns.end())
        return -1;
    for (pid_t w : workers)
        if (socket_inodes(w).count(it->second) != 0)
            return w;
    return -1;
}

class Supervision : public ::testing::Test {
  protected:
    /// A gateway with `processes` worker processes and `extra` options;
    /// returns once they serve. `nginx`: the shipped FastCGI snippet in
    /// front of its FastCGI TCP listener.
    void start(unsigned processes, std::vector<std::string> extra, bool nginx) {
        Gateway::Config config;
        config.mounts = {"/hello=hello", "/f=faults"};
        config.extra_args = {"--processes", std::to_string(processes), "--threads", "2"};
        config.extra_args.insert(config.extra_args.end(), extra.begin(), extra.end());
        gateway_ = std::make_unique<Gateway>(dir_, "gateway", config);
        if (nginx)
            nginx_ = std::make_unique<Nginx>(
                dir_, "fastcgi", "postern-fastcgi.conf",
                std::map<std::string, std::string>{
                    {"POSTERN_FASTCGI", gateway_->address("fastcgi", false)}});
        const std::string serving = std::to_string(processes) + " worker processes serving";
        ASSERT_TRUE(eventually([&] {
            return log_of(*gateway_).find(serving) != std::string::npos;
        })) << log_of(*gateway_);
        ASSERT_EQ(workers().size(), processes) << log_of(*gateway_);
    }

    pid_t master() { return gateway_->process().pid(); }
    std::set<pid_t> workers() { return children_of(master()); }
    std::string front() const { return "127.0.0.1:" + std::to_string(nginx_->port()); }
    std::string direct() const { return gateway_->address("http", false); }
    HttpResponse get(const std::string& address, const std::string& target,
                     std::chrono::milliseconds timeout = 30s) {
        HttpRequest req;
        req.target = target;
        return http_request(address, address, req, timeout);
    }

    /// The pool is `n` workers again, none of them in `gone`.
    bool pool_back_to(std::size_t n, const std::set<pid_t>& gone) {
        return eventually([&] {
            const auto now = workers();
            return now.size() == n && std::none_of(now.begin(), now.end(),
                                                   [&](pid_t p) { return gone.count(p) != 0; });
        });
    }

    void TearDown() override {
        for (pid_t p : stopped_)
            ::kill(p, SIGCONT);  // never leave a stopped process behind
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

    /// Ten /f/abort through nginx, each followed by a GET /hello that must
    /// be served within 1 s.
    void crash_storm(unsigned processes) {
        start(processes, {"--access-log", "off"}, true);
        const std::set<pid_t> first = workers();
        for (int i = 0; i < 10; ++i) {
            int crashed = 0;
            try {
                crashed = get(front(), "/f/abort", 10s).status;
            } catch (const std::exception&) {
                crashed = -1;
            }
            EXPECT_EQ(crashed, 502) << "crash " << i;
            const auto t0 = Clock::now();
            int status = 0;
            std::string body;
            try {
                const HttpResponse res = get(front(), "/hello", 10s);
                status = res.status;
                body = res.body;
            } catch (const std::exception& e) {
                body = e.what();
            }
            const auto took =
                std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
            EXPECT_EQ(status, 200) << "the request after crash " << i << ": " << body;
            EXPECT_LT(took, 1000ms) << "the request after crash " << i << " waited for a worker";
        }
        const std::string log = log_of(*gateway_);
        EXPECT_GE(occurrences(log,
                              "killed by signal 6 (SIGABRT: Aborted) while serving GET "
                              "/f/abort"),
                  10u)
            << log;
        EXPECT_EQ(occurrences(log, "replacing it in "), 0u) << "a crash was backed off: " << log;
        const std::regex storm(R"(crash storm: (\d+) worker processes died while serving in the )"
                               R"(last minute, running: GET /f/abort \((\d+)x\))");
        std::smatch m;
        ASSERT_TRUE(std::regex_search(log, m, storm)) << log;
        // The pool is whole again, and serves.
        EXPECT_TRUE(pool_back_to(processes, first)) << log_of(*gateway_);
        for (int i = 0; i < 10; ++i)
            EXPECT_EQ(get(front(), "/hello").status, 200);
    }

    TempDir dir_{"postern-hostile-sup"};
    std::unique_ptr<Gateway> gateway_;
    std::unique_ptr<Nginx> nginx_;
    std::vector<pid_t> stopped_;
};

// --- item 3: crash storms

TEST_F(Supervision, TenCrashingRequestsInARowNeverLeaveTheGatewayWithoutAWorkerTwoProcesses) {
    crash_storm(2);
}

TEST_F(Supervision, TenCrashingRequestsInARowNeverLeaveTheGatewayWithoutAWorkerOneProcess) {
    crash_storm(1);
}

// --- item 8: frozen workers

TEST_F(Supervision, AStoppedWorkerIsKilledAfterWorkerTimeoutAndItsConnectionsEnd) {
    start(2, {"--access-log", "off", "--worker-timeout", "1000"}, false);
    const std::set<pid_t> pool = workers();
    const int port = gateway_->port("http");
    // Keep-alive connections until each worker holds one.
    std::map<pid_t, std::unique_ptr<HttpConnection>> held;
    std::vector<std::unique_ptr<HttpConnection>> extra;
    for (int i = 0; i < 64 && held.size() < 2; ++i) {
        auto c = std::make_unique<HttpConnection>(direct(), "x");
        HttpRequest req;
        req.target = "/hello";
        ASSERT_EQ(c->request(req, 10s).status, 200);
        const pid_t owner = owner_of(port, c->local_port(), pool);
        ASSERT_NE(owner, -1) << "no worker holds the connection from port " << c->local_port();
        if (held.count(owner) == 0)
            held[owner] = std::move(c);
        else
            extra.push_back(std::move(c));
    }
    ASSERT_EQ(held.size(), 2u) << "64 connections, all taken by one worker";
    const pid_t frozen = held.begin()->first;
    const pid_t alive = std::next(held.begin())->first;

    const auto t0 = Clock::now();
    ASSERT_EQ(::kill(frozen, SIGSTOP), 0);
    stopped_.push_back(frozen);
    ASSERT_TRUE(eventually([&] { return all_threads_stopped(frozen); }));
    // The live worker's connection serves on meanwhile.
    HttpRequest hello;
    hello.target = "/hello";
    EXPECT_EQ(held[alive]->request(hello, 5s).status, 200);
    // The frozen worker's connection: the request is not answered, but the
    // connection ends once the master kills the worker (not for ever).
    std::string outcome;
    try {
        outcome = "answered " + std::to_string(held[frozen]->request(hello, 10s).status);
    } catch (const std::exception& e) {
        outcome = e.what();
    }
    const auto ended = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
    EXPECT_TRUE(held[frozen]->closed()) << outcome;
    EXPECT_GE(ended, 900ms) << outcome;
    EXPECT_LT(ended, 1000ms + 3000ms) << "worker-timeout plus a margin: " << outcome;

    const std::string log = log_of(*gateway_);
    EXPECT_NE(log.find("worker " + std::to_string(frozen) + " has given no sign of life for "),
              std::string::npos)
        << log;
    EXPECT_NE(log.find("(--worker-timeout 1000 ms; stopped, swapped out or deadlocked?)"),
              std::string::npos)
        << log;
    EXPECT_TRUE(eventually([&] {
        return log_of(*gateway_).find("worker " + std::to_string(frozen) +
                                      " killed by signal 9 (SIGKILL: Killed)") != std::string::npos;
    })) << log_of(*gateway_);
    EXPECT_TRUE(pool_back_to(2, {frozen})) << log_of(*gateway_);
    EXPECT_EQ(occurrences(log_of(*gateway_), "crash storm"), 0u) << "a frozen worker is no crash";
    // Served again, on new connections and on the live worker's.
    for (int i = 0; i < 10; ++i)
        EXPECT_EQ(get(direct(), "/hello", 5s).status, 200);
    EXPECT_EQ(held[alive]->request(hello, 5s).status, 200);
}

TEST_F(Supervision, AStoppedWorkerBehindNginxIsReplacedAndRequestsAreAnsweredAgain) {
    start(2, {"--access-log", "off", "--worker-timeout", "1000"}, true);
    const std::set<pid_t> pool = workers();
    const int port = gateway_->port("fastcgi");
    // nginx keeps connections to both workers once a concurrent load opened
    // them (keepalive in the snippet's upstream).
    const pid_t frozen = *pool.begin();
    auto held_by_frozen = [&] {
        const auto inodes = socket_inodes(frozen);
        std::size_t n = 0;
        for (const auto& [remote, inode] : accepted_connections(port))
            n += inodes.count(inode);
        return n;
    };
    for (int round = 0; round < 5 && held_by_frozen() == 0; ++round) {
        Load warm(front(), "/hello", 200, 8);
        warm.join();
        ASSERT_EQ(warm.tally.failed(), 0) << warm.tally.describe();
    }
    const std::size_t kept = held_by_frozen();
    ASSERT_GT(kept, 0u) << "nginx keeps no connection to worker " << frozen;

    ASSERT_EQ(::kill(frozen, SIGSTOP), 0);
    stopped_.push_back(frozen);
    ASSERT_TRUE(eventually([&] { return all_threads_stopped(frozen); }));
    // Concurrent requests through nginx: some land on the frozen worker's
    // kept connections; each is answered within worker-timeout plus a margin
    // (nginx retries a GET whose kept connection failed).
    constexpr int kClients = 8;
    std::vector<std::thread> clients;
    std::atomic<int> ok{0};
    std::atomic<int> late{0};
    std::vector<std::string> failures(kClients);
    for (int i = 0; i < kClients; ++i) {
        clients.emplace_back([&, i] {
            for (int r = 0; r < 3; ++r) {
                const auto t0 = Clock::now();
                try {
                    const int status = get(front(), "/hello", 1000ms + 4000ms).status;
                    if (status == 200)
                        ++ok;
                    else
                        failures[i] += "status " + std::to_string(status) + "; ";
                } catch (const std::exception& e) {
                    failures[i] += std::string(e.what()) + "; ";
                }
                if (Clock::now() - t0 >= 900ms)
                    ++late;
            }
        });
    }
    for (auto& t : clients)
        t.join();
    std::string failed;
    for (const auto& f : failures)
        failed += f;
    std::printf(
        "[ frozen   ] nginx held %zu connections to the stopped worker; %d of %d "
        "requests answered 200, %d waited for the worker to be killed\n",
        kept, ok.load(), kClients * 3, late.load());
    EXPECT_EQ(ok.load(), kClients * 3) << failed;

    EXPECT_TRUE(eventually([&] {
        return log_of(*gateway_).find("worker " + std::to_string(frozen) +
                                      " has given no sign of life for ") != std::string::npos;
    })) << log_of(*gateway_);
    EXPECT_TRUE(pool_back_to(2, {frozen})) << log_of(*gateway_);
    Load after(front(), "/hello", 200, 8);
    after.join();
    EXPECT_EQ(after.tally.failed(), 0) << after.tally.describe();
}

TEST_F(Supervision, AWorkerBusyInLongCallbacksIsNotTakenForFrozen) {
    start(2, {"--access-log", "off", "--worker-timeout", "1000"}, false);
    const std::set<pid_t> pool = workers();
    // Four callbacks of 2.5 s, on two workers of two threads each: every
    // thread is inside a callback for longer than the worker timeout.
    std::vector<std::thread> clients;
    std::vector<int> status(4, 0);
    for (int i = 0; i < 4; ++i)
        clients.emplace_back([&, i] {
            try {
                status[static_cast<std::size_t>(i)] = get(direct(), "/f/sleep?ms=2500", 20s).status;
            } catch (const std::exception&) {
                status[static_cast<std::size_t>(i)] = -1;
            }
        });
    for (auto& t : clients)
        t.join();
    for (int s : status)
        EXPECT_EQ(s, 200);
    const std::string log = log_of(*gateway_);
    EXPECT_EQ(occurrences(log, "no sign of life"), 0u) << log;
    EXPECT_EQ(occurrences(log, "killed by"), 0u) << log;
    EXPECT_EQ(workers(), pool);
    EXPECT_EQ(get(direct(), "/hello").status, 200);
}

TEST_F(Supervision, StoppingAndContinuingTheWholeGatewayKillsNoWorker) {
    // ^Z and fg, or a machine that froze: the master was stopped as long as
    // its workers, and their silence says nothing about them.
    start(2, {"--access-log", "off", "--worker-timeout", "1000"}, false);
    const std::set<pid_t> pool = workers();
    const pid_t group = ::getpgid(master());
    ASSERT_EQ(group, master()) << "postern runs in a process group of its own";
    ASSERT_EQ(::kill(-group, SIGSTOP), 0);
    stopped_.push_back(-group);
    ASSERT_TRUE(eventually([&] {
        const std::string stat = read_file("/proc/" + std::to_string(master()) + "/stat");
        return stat.find(") T ") != std::string::npos;
    }));
    // The scenario, not a synchronisation: stopped for longer than the
    // worker timeout.
    std::this_thread::sleep_for(1500ms);
    ASSERT_EQ(::kill(-group, SIGCONT), 0);
    // Served on for a few looks of the master (every 250 ms).
    const auto resumed = Clock::now();
    while (Clock::now() - resumed < 1500ms)
        ASSERT_EQ(get(direct(), "/hello", 5s).status, 200);
    const std::string log = log_of(*gateway_);
    EXPECT_EQ(occurrences(log, "no sign of life"), 0u) << log;
    EXPECT_EQ(occurrences(log, "killed by"), 0u) << log;
    EXPECT_EQ(workers(), pool);
}

// --- item 9: logs that fail

TEST_F(Supervision, AnAccessLogThatCannotBeWrittenIsReportedWithACountAndRequestsGoOn) {
    start(1, {"--access-log", "/dev/full"}, false);
    // The first lost line is reported at once.
    EXPECT_EQ(get(direct(), "/hello").status, 200);
    EXPECT_TRUE(eventually([&] {
        return log_of(*gateway_).find(
                   "cannot write the access log /dev/full: No space left on "
                   "device: 1 line lost") != std::string::npos;
    })) << log_of(*gateway_);
    // The next ones within the second are counted, and reported together
    // by the first failure a second later.
    for (int i = 0; i < 5; ++i)
        EXPECT_EQ(get(direct(), "/hello").status, 200);
    const std::regex later(R"(cannot write the access log /dev/full: No space left on device: )"
                           R"((\d+) lines? lost since the last report)");
    std::smatch m;
    ASSERT_TRUE(eventually(
        [&] {
            EXPECT_EQ(get(direct(), "/hello").status, 200);
            const std::string log = log_of(*gateway_);
            return std::regex_search(log, m, later);
        },
        5s))
        << log_of(*gateway_);
    EXPECT_GE(std::stoi(m[1]), 5) << m[0];
    EXPECT_EQ(occurrences(log_of(*gateway_), "cannot write the access log"), 2u)
        << "at most one report a second";
}

TEST_F(Supervision, SigusrOneReopensRenamedLogFilesInTheMasterAndEveryWorker) {
    const std::string access = dir_.file("access.log");
    start(2, {"--access-log", access, "--log-level", "debug"}, false);
    for (int i = 0; i < 5; ++i)
        EXPECT_EQ(get(direct(), "/hello?before").status, 200);
    ASSERT_TRUE(eventually([&] { return occurrences(file_or_empty(access), "?before") == 5; }));
    // logrotate: rename both files, then SIGUSR1 (its postrotate).
    const std::string error_log = gateway_->log_path();
    ASSERT_EQ(::rename(access.c_str(), (access + ".1").c_str()), 0);
    ASSERT_EQ(::rename(error_log.c_str(), (error_log + ".1").c_str()), 0);
    gateway_->process().signal(SIGUSR1);
    // The master and both workers say so, each in the new error log.
    ASSERT_TRUE(eventually([&] {
        const std::string log = file_or_empty(error_log);
        return occurrences(log, "received SIGUSR1: reopened the error log " + error_log) == 3 &&
               occurrences(log, ", access log " + access) == 2;
    })) << file_or_empty(error_log)
        << "\n---- old error log\n"
        << file_or_empty(error_log + ".1");
    const std::string old_access = file_or_empty(access + ".1");
    for (int i = 0; i < 20; ++i)
        EXPECT_EQ(get(direct(), "/hello?after").status, 200);
    EXPECT_TRUE(eventually([&] { return occurrences(file_or_empty(access), "?after") == 20; }))
        << file_or_empty(access);
    EXPECT_EQ(file_or_empty(access + ".1"), old_access) << "the renamed file is written no more";
    EXPECT_EQ(occurrences(file_or_empty(error_log + ".1"), "received SIGUSR1"), 0u);
}

}  // namespace
}  // namespace postern::test
