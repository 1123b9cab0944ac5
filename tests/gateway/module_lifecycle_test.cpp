// A POSTERN_MODULE run by the real `postern` executable: setup once in each
// worker process, after the fork, with its mount's section of the --config
// file; the new settings reaching the new workers on SIGHUP; teardown once
// per worker when it stops (SIGTERM, a reload, --processes 0); a setup that
// throws stops the start, or the reload, with one line naming the module.
//
// The test module (test_module_setup.cpp) appends "setup PID GREETING" and
// "teardown PID" lines to the file its `record` setting names, and answers
// "GREETING pid=PID setups=N". Waits poll a condition against a deadline.
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "load.hpp"
#include "process.hpp"
#include "socket_client.hpp"
#include "wait.hpp"

namespace postern::test {
namespace {

std::string postern_bin() {
    const char* d = std::getenv("POSTERN_BINARY_DIR");
    return std::string(d ? d : ".") + "/bin/postern";
}

std::size_t count_of(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
        ++n;
    return n;
}

/// What the module recorded: per pid, its setups (with the greeting) and
/// its teardowns, in order.
struct Record {
    std::map<pid_t, std::vector<std::string>> setups;
    std::map<pid_t, int> teardowns;
    std::vector<std::string> lines;
};

Record read_record(const std::string& path) {
    Record r;
    std::string text;
    try {
        text = read_file(path);
    } catch (const std::exception&) {
        return r;
    }
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        r.lines.push_back(line);
        std::istringstream words(line);
        std::string what, greeting;
        pid_t pid = 0;
        words >> what >> pid >> greeting;
        if (what == "setup")
            r.setups[pid].push_back(greeting);
        else if (what == "teardown")
            ++r.teardowns[pid];
    }
    return r;
}

class ModuleLifecycle : public ::testing::Test {
  protected:
    void SetUp() override {
        port_ = free_port();
        addr_ = "127.0.0.1:" + std::to_string(port_);
        record_ = dir_.file("record.txt");
        conf_ = dir_.file("postern.conf");
    }

    void TearDown() override {
        if (HasFailure()) {
            std::fprintf(stderr, "==== postern log\n%s==== record\n%s",
                         tail_file(gateway_.log_path(), 40).c_str(),
                         tail_file(record_, 20).c_str());
        }
    }

    /// The config file: a mount of the setup module at /m and its section.
    void write_config(const std::string& greeting, const std::string& extra = {}) {
        write_file(conf_, "mount = /m=" + std::string(TEST_MODULE_SETUP) +
                              "\naccess-log = off\n\n[/m]\ngreeting = " + greeting +
                              "\nrecord = " + record_ + "\n" + extra);
    }

    void start(const std::string& processes) {
        gateway_.start({postern_bin(), "--config", conf_, "--listen", "http=" + addr_,
                        "--processes", processes, "--drain-timeout", "5000"},
                       {}, dir_.file("postern.log"));
        ASSERT_TRUE(wait_for_listener(addr_)) << tail_file(gateway_.log_path());
    }

    std::string log() const {
        try {
            return read_file(gateway_.log_path());
        } catch (const std::exception&) {
            return {};
        }
    }

    /// GET /m on a connection of its own: the body, or "" on failure.
    std::string get() {
        try {
            SocketClient c(addr_);
            c.send("GET /m HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            const std::string got = c.recv_until_close(10s);
            const auto end = got.find("\r\n\r\n");
            if (got.rfind("HTTP/1.1 200 ", 0) != 0 || end == std::string::npos)
                return {};
            return got.substr(end + 4);
        } catch (const std::exception&) {
            return {};
        }
    }

    TempDir dir_{"postern-module"};
    Process gateway_;
    int port_ = 0;
    std::string addr_, record_, conf_;
};

TEST_F(ModuleLifecycle, SetupOncePerWorkerAfterTheForkReloadWithNewSettingsTeardownAtStop) {
    write_config("first");
    start("2");
    const pid_t master = gateway_.pid();
    ASSERT_TRUE(wait_until(
        [&] { return log().find("2 worker processes serving") != std::string::npos; }, 15s));
    const std::set<pid_t> first = children_of(master);
    ASSERT_EQ(first.size(), 2u);

    // One setup in each worker, none in the master: after the fork.
    Record r = read_record(record_);
    ASSERT_EQ(r.setups.size(), 2u) << read_file(record_);
    for (pid_t w : first) {
        ASSERT_EQ(r.setups[w], std::vector<std::string>{"first"}) << "worker " << w;
    }
    EXPECT_EQ(r.setups.count(master), 0u) << "the master never sets a module up";

    // The setting reaches the handler; however many requests, no worker
    // sets up again.
    for (int i = 0; i < 6; ++i) {
        const std::string body = get();
        ASSERT_EQ(body.rfind("first pid=", 0), 0u) << body;
        EXPECT_NE(body.find(" setups=1"), std::string::npos) << body;
        const pid_t pid = static_cast<pid_t>(std::stoi(body.substr(10)));
        EXPECT_EQ(first.count(pid), 1u) << body;
    }

    // SIGHUP with a changed setting: new workers set up with it, the old
    // ones tear down once, after they drained.
    write_config("second");
    gateway_.signal(SIGHUP);
    ASSERT_TRUE(wait_until([&] { return log().find("reload done") != std::string::npos; }, 15s));
    ASSERT_TRUE(wait_until(
        [&] {
            r = read_record(record_);
            return std::all_of(first.begin(), first.end(),
                               [&](pid_t w) { return r.teardowns[w] == 1; });
        },
        15s))
        << "the old workers tore down";
    std::set<pid_t> second;
    ASSERT_TRUE(wait_until(
        [&] {
            second = children_of(master);
            return second.size() == 2 && std::none_of(second.begin(), second.end(),
                                                      [&](pid_t p) { return first.count(p) != 0; });
        },
        15s));
    r = read_record(record_);
    for (pid_t w : second)
        EXPECT_EQ(r.setups[w], std::vector<std::string>{"second"}) << "worker " << w;
    const std::string body = get();
    EXPECT_EQ(body.rfind("second pid=", 0), 0u) << body;
    EXPECT_NE(body.find(" setups=1"), std::string::npos) << body;

    // SIGTERM: each new worker tears down once, and the master exits 0.
    EXPECT_EQ(describe_wait_status(gateway_.stop()), "exited 0");
    r = read_record(record_);
    EXPECT_EQ(r.setups.size(), 4u);
    for (const auto& [pid, setups] : r.setups) {
        EXPECT_EQ(setups.size(), 1u) << "worker " << pid;
        EXPECT_EQ(r.teardowns[pid], 1) << "worker " << pid;
    }
    // Each teardown after its own setup.
    for (const auto& [pid, setups] : r.setups) {
        const std::string pid_text = " " + std::to_string(pid);
        std::size_t setup_at = 0, teardown_at = 0;
        for (std::size_t i = 0; i < r.lines.size(); ++i) {
            if (r.lines[i].rfind("setup" + pid_text + " ", 0) == 0)
                setup_at = i + 1;
            if (r.lines[i] == "teardown" + pid_text)
                teardown_at = i + 1;
        }
        EXPECT_LT(setup_at, teardown_at) << "worker " << pid;
    }
}

TEST_F(ModuleLifecycle, OneProcessSetsUpOnceAndTearsDownAtSigterm) {
    write_config("solo", "teardown = throw\n");
    start("0");
    EXPECT_EQ(get().rfind("solo pid=" + std::to_string(gateway_.pid()) + " setups=1", 0), 0u);
    EXPECT_EQ(describe_wait_status(gateway_.stop()), "exited 0")
        << "a teardown that throws is logged, never a crash";
    Record r = read_record(record_);
    EXPECT_EQ(r.setups[gateway_.pid()], std::vector<std::string>{"solo"});
    EXPECT_EQ(r.teardowns[gateway_.pid()], 1);
    EXPECT_NE(log().find(std::string("error: module ") + TEST_MODULE_SETUP +
                         ": teardown threw: the pool would not close"),
              std::string::npos)
        << log();
}

TEST_F(ModuleLifecycle, AThrowingSetupStopsTheStartWithOneLineNamingTheModule) {
    const std::string expected = std::string("error: module ") + TEST_MODULE_THROWS +
                                 ": setup failed: cannot open the database /srv/db\\x0Aat all\n";
    write_file(conf_, "mount = /bad=" + std::string(TEST_MODULE_THROWS) +
                          "\n[/bad]\ndatabase = /srv/db\n");
    for (const char* processes : {"2", "0"}) {
        Process p;
        const std::string out = dir_.file(std::string("start-") + processes + ".log");
        p.start({postern_bin(), "--config", conf_, "--listen", "http=" + addr_, "--processes",
                 processes},
                {}, out);
        const auto status = p.wait(15s);
        ASSERT_TRUE(status.has_value()) << "postern did not exit";
        EXPECT_EQ(describe_wait_status(*status), "exited 1") << "--processes " << processes;
        const std::string text = read_file(out);
        EXPECT_EQ(count_of(text, "\n"), 1u) << "--processes " << processes << ":\n" << text;
        EXPECT_NE(text.find(expected), std::string::npos) << text;
    }
    // Nothing was left listening; the same module, set up to succeed, serves.
    write_file(conf_, "mount = /m=" + std::string(TEST_MODULE_THROWS) + "\n[/m]\nfail = no\n");
    start("1");
    SocketClient c(addr_);
    c.send("GET /m HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_NE(c.recv_until_close(10s).find("set up"), std::string::npos);
    EXPECT_EQ(describe_wait_status(gateway_.stop()), "exited 0");
}

TEST_F(ModuleLifecycle, AReloadWhoseSetupThrowsKeepsTheOldWorkersWithOneLine) {
    write_config("kept");
    start("2");
    ASSERT_TRUE(wait_until(
        [&] { return log().find("2 worker processes serving") != std::string::npos; }, 15s));
    const std::set<pid_t> before = children_of(gateway_.pid());
    write_file(conf_, "mount = /m=" + std::string(TEST_MODULE_THROWS) +
                          "\naccess-log = off\n[/m]\ndatabase = /srv/new\n");
    gateway_.signal(SIGHUP);
    ASSERT_TRUE(wait_until(
        [&] {
            return log().find("reload failed: module " + std::string(TEST_MODULE_THROWS) +
                              ": setup failed: cannot open the database /srv/new\\x0Aat all; "
                              "the workers of the previous configuration go on serving") !=
                   std::string::npos;
        },
        15s));
    // Both new workers failed; the old ones serve, with their settings.
    ASSERT_TRUE(wait_until([&] { return children_of(gateway_.pid()) == before; }, 15s))
        << "the old workers changed";
    EXPECT_EQ(get().rfind("kept pid=", 0), 0u);
    const std::string text = log();
    EXPECT_EQ(count_of(text, " error: "), 1u) << "one line:\n" << text;
    EXPECT_EQ(describe_wait_status(gateway_.stop()), "exited 0");
    // The old workers tore down once each, at the stop.
    Record r = read_record(record_);
    for (pid_t w : before)
        EXPECT_EQ(r.teardowns[w], 1) << "worker " << w;
}

TEST_F(ModuleLifecycle, ASectionForAPrefixWithNoMountIsOneLineNamingFileAndLine) {
    write_file(conf_, "mount = /m=" + std::string(TEST_MODULE_SETUP) + "\n\n[/n]\nkey = v\n");
    Process p;
    const std::string out = dir_.file("section.log");
    p.start({postern_bin(), "--config", conf_, "--listen", "http=" + addr_}, {}, out);
    const auto status = p.wait(15s);
    ASSERT_TRUE(status.has_value());
    EXPECT_EQ(describe_wait_status(*status), "exited 2");
    const std::string text = read_file(out);
    EXPECT_EQ(text, "postern: " + conf_ + ":3: section [/n] names no mount (mounted: /m)\n");
}

}  // namespace
}  // namespace postern::test
