// Integration test of the load-balanced pools: two real `postern` gateways
// (AJP listeners with the secret) behind the real Apache, once with mod_jk's
// lb worker (apache-conf/postern-jk-balancer.conf +
// postern-jk-balancer-workers.properties) and once with mod_proxy_balancer
// (apache-conf/postern-proxy-balancer.conf), each rendered as shipped.
// Two client threads send a bounded stream of GETs to /hello (2 x 300); one
// gateway is SIGKILLed when a third of them are answered; the test counts
// what the clients saw. Four slow GETs (/f/sleep?ms=1500), sent just before,
// are certain to be inside the killed gateway at that moment.
//
// The bounds asserted are the ones each module achieves, measured:
// * mod_jk: 0 failed, slow GETs included. A request on a pooled connection
//   to the dead gateway is caught by the CPING before it (ping_mode=A), a
//   new connection is refused, and a GET the gateway had already received is
//   resent to the other member (recovery_options 16).
// * mod_proxy_balancer: a request caught by the CPING or the refused connect
//   fails over, but mod_proxy_ajp answers 500 for a request the gateway had
//   already received when it died, whatever the method, and mod_proxy does
//   not fail a 500 over: the slow GETs held by the killed gateway fail (1 to
//   3 of the 4, 2 most often), and so may one /hello per client if it was
//   inside the gateway at that instant (none seen in 90 runs; the bound
//   allows 2).
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
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

constexpr const char* kSecret = "it-s3cret-0123456789";
constexpr int kClients = 2;
constexpr int kRequestsPerClient = 300;
/// The gateway is killed once this many requests have been answered.
constexpr int kKillAfter = kClients * kRequestsPerClient / 3;
/// mod_proxy_balancer: one /hello in flight in the killed gateway per client.
constexpr int kProxyBalancerMaxFailed = kClients;
/// GET /f/sleep?ms=1500 sent just before the stream, in flight at the kill.
constexpr int kSlowRequests = 4;

std::string loopback(int port) {
    return "127.0.0.1:" + std::to_string(port);
}

std::size_t count_lines(const std::string& path) {
    std::size_t n = 0;
    try {
        for (const char c : read_file(path))
            n += c == '\n' ? 1 : 0;
    } catch (const std::exception&) {
    }
    return n;
}

/// One gateway of the pool: the example modules, an AJP listener with the
/// secret.
struct Member {
    int ajp_port = free_port();
    std::unique_ptr<Gateway> gateway;

    Member(const TempDir& dir, const std::string& name) {
        Gateway::Config config;
        config.mounts = {"/hello=hello", "/app=echo", "/f=faults"};
        config.extra_args = {"--listen", "ajp=" + loopback(ajp_port), "--ajp-secret", kSecret};
        gateway = std::make_unique<Gateway>(dir, name, config);
        if (!wait_for_listener(loopback(ajp_port), 15s))
            throw std::runtime_error("postern " + name + " did not listen on the ajp port");
    }
    std::string access_log() const {
        const std::string& log = gateway->log_path();
        return log.substr(0, log.rfind('/')) + "/access.log";
    }
};

struct Pool {
    const char* name;
    int max_failed;       ///< what the module achieves (see the top of the file)
    int max_slow_failed;  ///< of the kSlowRequests in flight at the kill
};

void PrintTo(const Pool& p, std::ostream* os) {
    *os << p.name;
}

class AjpBalancer : public ::testing::TestWithParam<Pool> {
  protected:
    void SetUp() override {
        dir_ = std::make_unique<TempDir>("postern-ajp-lb");
        members_.push_back(std::make_unique<Member>(*dir_, "gateway1"));
        members_.push_back(std::make_unique<Member>(*dir_, "gateway2"));
        const std::string d = dir_->path() + "/apache";
        const std::string pool = GetParam().name;
        if (pool == "mod_jk") {
            const std::string workers = dir_->file("workers.properties");
            write_file(workers,
                       render_template(
                           source_dir() + "/apache-conf/postern-jk-balancer-workers.properties",
                           {{"POSTERN_AJP_HOST_1", "127.0.0.1"},
                            {"POSTERN_AJP_PORT_1", std::to_string(members_[0]->ajp_port)},
                            {"POSTERN_AJP_HOST_2", "127.0.0.1"},
                            {"POSTERN_AJP_PORT_2", std::to_string(members_[1]->ajp_port)},
                            {"AJP_SECRET", kSecret}}));
            apache_ = std::make_unique<Apache>(
                *dir_, std::vector<Apache::Site>{{"pool",
                                                  "postern-jk-balancer.conf",
                                                  {{"JK_WORKERS_FILE", workers},
                                                   {"JK_SHM_FILE", d + "/jk.shm"},
                                                   {"JK_LOG_FILE", d + "/mod_jk.log"}}}});
            jk_log_ = d + "/mod_jk.log";
        } else {
            apache_ = std::make_unique<Apache>(
                *dir_, std::vector<Apache::Site>{
                           {"pool",
                            "postern-proxy-balancer.conf",
                            {{"POSTERN_AJP_1", "ajp://" + loopback(members_[0]->ajp_port)},
                             {"POSTERN_AJP_2", "ajp://" + loopback(members_[1]->ajp_port)},
                             {"AJP_SECRET", kSecret}}}});
        }
    }

    void TearDown() override {
        if (HasFailure()) {
            for (std::size_t i = 0; i < members_.size(); ++i)
                std::fprintf(stderr, "==== postern %zu log\n%s", i + 1,
                             tail_file(members_[i]->gateway->log_path(), 20).c_str());
            if (apache_)
                std::fprintf(stderr, "==== Apache error log\n%s",
                             tail_file(apache_->error_log(), 40).c_str());
            if (!jk_log_.empty())
                std::fprintf(stderr, "==== mod_jk log\n%s", tail_file(jk_log_, 40).c_str());
        }
        apache_.reset();
        members_.clear();
        dir_.reset();
    }

    std::string address() const { return loopback(apache_->port("pool")); }

    std::unique_ptr<TempDir> dir_;
    std::vector<std::unique_ptr<Member>> members_;
    std::unique_ptr<Apache> apache_;
    std::string jk_log_;
};

TEST_P(AjpBalancer, KillingOneGatewayWhileGetsFlowFailsThemOver) {
    const std::string addr = address();
    HttpRequest req;
    req.target = "/hello";

    // Both members serve: requests are spread over the pool.
    for (int i = 0; i < 20; ++i) {
        const auto res = http_request(addr, addr, req, 30s);
        ASSERT_EQ(res.status, 200) << res.body.substr(0, 300);
    }
    for (const auto& m : members_) {
        const auto deadline = Clock::now() + 5s;
        while (count_lines(m->access_log()) == 0 && Clock::now() < deadline)
            std::this_thread::sleep_for(10ms);
        EXPECT_GT(count_lines(m->access_log()), 0u) << m->access_log() << ": no request reached it";
    }

    // Slow GETs certain to be inside a gateway when it is killed: the
    // balancer spreads them over both members, so the killed one holds at
    // least one (it is answered by the other member, or it is a failure).
    Tally slow;
    std::vector<std::thread> sleepers;
    for (int c = 0; c < kSlowRequests; ++c) {
        sleepers.emplace_back([&] {
            HttpRequest sleep_req;
            sleep_req.target = "/f/sleep?ms=1500";
            try {
                const auto res = http_request(addr, addr, sleep_req, 30s);
                slow.add(res.status == 200, "status " + std::to_string(res.status));
            } catch (const std::exception& e) {
                slow.add(false, std::string("exception: ") + std::string(e.what()).substr(0, 80));
            }
        });
    }

    Tally tally;
    std::vector<std::thread> clients;
    for (int c = 0; c < kClients; ++c) {
        clients.emplace_back([&] {
            for (int i = 0; i < kRequestsPerClient; ++i) {
                try {
                    const auto res = http_request(addr, addr, req, 30s);
                    const bool good = res.status == 200 && res.body == "Hello, world!\n";
                    tally.add(good, good ? "" : "status " + std::to_string(res.status));
                } catch (const std::exception& e) {
                    tally.add(false,
                              std::string("exception: ") + std::string(e.what()).substr(0, 80));
                }
            }
        });
    }

    // SIGKILL one gateway once a third of the stream has been answered.
    const auto deadline = Clock::now() + 60s;
    while (tally.done.load() < kKillAfter && Clock::now() < deadline)
        std::this_thread::sleep_for(1ms);
    const int killed_at = tally.done.load();
    const std::size_t survivor_before = count_lines(members_[1]->access_log());
    members_[0]->gateway->process().signal(SIGKILL);
    for (auto& t : clients)
        t.join();
    for (auto& t : sleepers)
        t.join();

    const auto status = members_[0]->gateway->process().wait(10s);
    ASSERT_TRUE(status.has_value()) << "gateway 1 did not die";
    EXPECT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL);

    const int failed = tally.failed();
    const std::string seen = tally.describe();
    const int slow_failed = slow.failed();
    const std::string slow_seen = slow.describe();
    std::printf(
        "[ pool     ] %s: %d GET /hello, gateway 1 SIGKILLed after %d answered; clients saw %s "
        "(%d failed, bound %d); %d slow GETs in flight: %s\n",
        GetParam().name, kClients * kRequestsPerClient, killed_at, seen.c_str(), failed,
        GetParam().max_failed, kSlowRequests, slow_seen.c_str());
    // POSTERN_TEST_SHOW_LOGS=1: the front end's logs of every run, not only a failed one.
    if (std::getenv("POSTERN_TEST_SHOW_LOGS") != nullptr)
        std::printf("==== Apache error log\n%s==== mod_jk log\n%s",
                    tail_file(apache_->error_log(), 60).c_str(),
                    jk_log_.empty() ? "" : tail_file(jk_log_, 60).c_str());
    RecordProperty("failed", failed);
    RecordProperty("seen", seen);
    EXPECT_GE(killed_at, kKillAfter) << "the stream did not reach the kill point in time";
    EXPECT_LT(killed_at, kClients * kRequestsPerClient) << "the kill came after the stream";
    EXPECT_LE(failed, GetParam().max_failed) << seen;
    EXPECT_LE(slow_failed, GetParam().max_slow_failed) << slow_seen;
    EXPECT_EQ(tally.done.load(), kClients * kRequestsPerClient);
    // The survivor served what came after the kill.
    EXPECT_GE(count_lines(members_[1]->access_log()) - survivor_before,
              static_cast<std::size_t>(kClients * kRequestsPerClient - killed_at - failed) / 2)
        << "the survivor did not take over";

    // The pool goes on serving with one member.
    const auto res = http_request(addr, addr, req, 30s);
    EXPECT_EQ(res.status, 200);
    EXPECT_EQ(members_[1]->gateway->stop(), 0);
    // Every slow GET that succeeded was answered by the survivor: the ones
    // the killed gateway held were resent to it.
    std::size_t slow_on_survivor = 0;
    try {
        const std::string log = read_file(members_[1]->access_log());
        for (std::size_t at = log.find("/f/sleep"); at != std::string::npos;
             at = log.find("/f/sleep", at + 1))
            ++slow_on_survivor;
    } catch (const std::exception&) {
    }
    EXPECT_EQ(slow_on_survivor, static_cast<std::size_t>(kSlowRequests - slow_failed))
        << "slow GETs the survivor logged (its access log is complete once it stopped)";
}

INSTANTIATE_TEST_SUITE_P(Apache, AjpBalancer,
                         ::testing::Values(Pool{"mod_jk", 0, 0},
                                           Pool{"mod_proxy_balancer", kProxyBalancerMaxFailed,
                                                kSlowRequests}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace postern::test
