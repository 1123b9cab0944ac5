#include "core/systemd.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "notify_socket.hpp"

namespace postern::systemd {
namespace {

struct CountCase {
    const char* pid;
    const char* fds;
    pid_t self;
    int expected;  // -1: throws
};

void PrintTo(const CountCase& c, std::ostream* os) {
    *os << "LISTEN_PID=" << (c.pid ? c.pid : "(unset)")
        << " LISTEN_FDS=" << (c.fds ? c.fds : "(unset)") << " self=" << c.self;
}

class PassedSocketCount : public ::testing::TestWithParam<CountCase> {};

TEST_P(PassedSocketCount, ReadsLikeSdListenFds) {
    const CountCase& c = GetParam();
    if (c.expected < 0) {
        EXPECT_THROW(passed_socket_count(c.pid, c.fds, c.self), std::runtime_error);
    } else {
        EXPECT_EQ(passed_socket_count(c.pid, c.fds, c.self), c.expected);
    }
}

INSTANTIATE_TEST_SUITE_P(Cases, PassedSocketCount,
                         ::testing::Values(CountCase{nullptr, nullptr, 42, 0},  // not activated
                                           CountCase{nullptr, "2", 42, 0},      // no LISTEN_PID
                                           CountCase{"41", "2", 42,
                                                     0},  // meant for another process
                                           CountCase{"42x", "2", 42, 0},       // not a pid
                                           CountCase{"42", "2", 42, 2},        // ours
                                           CountCase{"42", "0", 42, 0},        // ours, none
                                           CountCase{"42", "4096", 42, 4096},  // the bound
                                           CountCase{"42", nullptr, 42, -1},  // ours, but malformed
                                           CountCase{"42", "", 42, -1},       //
                                           CountCase{"42", "-1", 42, -1},     //
                                           CountCase{"42", " 2", 42, -1},     //
                                           CountCase{"42", "4097", 42, -1},   // not systemd talking
                                           CountCase{"42", "99999999999999999999", 42, -1}));

std::vector<ListenSpec> specs(std::vector<std::pair<const char*, const char*>> list) {
    std::vector<ListenSpec> out;
    for (auto [p, a] : list)
        out.push_back(ListenSpec{p, a});
    return out;
}

TEST(AssignPassedSockets, WithoutListenEveryPassedSocketIsFastcgi) {
    auto s = specs({});
    EXPECT_EQ(assign_passed_sockets(s, {"/run/a.sock", "127.0.0.1:9000"}),
              (std::vector<int>{3, 4}));
    ASSERT_EQ(s.size(), 2u);
    EXPECT_EQ(s[0].protocol, "fastcgi");
    EXPECT_EQ(s[0].address, "fd:3");
    EXPECT_EQ(s[1].address, "fd:4");
}

TEST(AssignPassedSockets, FdNThenTheSameAddressThenInOrder) {
    auto s = specs({{"http", "localhost:8000"},    // no match: in order
                    {"fastcgi", "/run/a.sock"},    // by address
                    {"ajp", "fd:5"},               // named
                    {"scgi", "127.0.0.1:9100"}});  // nothing left: binds itself
    EXPECT_EQ(assign_passed_sockets(s, {"127.0.0.1:8000", "/run/a.sock", "[::1]:8009"}),
              (std::vector<int>{3, 4, 5, -1}));
    EXPECT_EQ(s[0].address, "localhost:8000") << "specs given are left as they are";
}

TEST(AssignPassedSockets, AnAddressMatchWinsOverOrder) {
    auto s = specs({{"fastcgi", "/run/b.sock"}, {"http", "127.0.0.1:8000"}});
    EXPECT_EQ(assign_passed_sockets(s, {"127.0.0.1:8000", "/run/b.sock"}),
              (std::vector<int>{4, 3}));
}

TEST(AssignPassedSockets, DescriptorsOutsideThePassedRangeAreNotTaken) {
    auto s = specs({{"fastcgi", "fd:0"}, {"http", "fd:9"}, {"http", "127.0.0.1:1"}});
    EXPECT_EQ(assign_passed_sockets(s, {"/run/a.sock"}), (std::vector<int>{-1, -1, 3}));
}

TEST(AssignPassedSockets, APassedSocketWithoutListenerIsAnError) {
    auto s = specs({{"fastcgi", "fd:4"}});
    try {
        assign_passed_sockets(s, {"/run/a.sock", "/run/b.sock"});
        FAIL() << "no error";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("fd:3 (/run/a.sock) has no --listen"),
                  std::string::npos)
            << e.what();
    }
    auto twice = specs({{"fastcgi", "fd:3"}, {"http", "fd:3"}});
    EXPECT_THROW(assign_passed_sockets(twice, {"/run/a.sock"}), std::runtime_error);
}

TEST(AssignPassedSockets, NothingPassedChangesNothing) {
    auto s = specs({{"fastcgi", "127.0.0.1:9000"}});
    EXPECT_EQ(assign_passed_sockets(s, {}), (std::vector<int>{-1}));
    auto none = specs({});
    EXPECT_TRUE(assign_passed_sockets(none, {}).empty());
    EXPECT_TRUE(none.empty());
}

using test::NotifySocket;

TEST(Notifier, SendsEachStateAsOneDatagram) {
    const std::string path = ::testing::TempDir() + "postern-notify-" + std::to_string(::getpid());
    ::unlink(path.c_str());
    NotifySocket systemd(path);
    Notifier n(path);
    EXPECT_TRUE(n.enabled());
    EXPECT_TRUE(n.notify("READY=1\nSTATUS=2 worker processes serving"));
    EXPECT_TRUE(n.notify("STOPPING=1"));
    EXPECT_EQ(systemd.receive(), "READY=1\nSTATUS=2 worker processes serving");
    EXPECT_EQ(systemd.receive(), "STOPPING=1");
    ::unlink(path.c_str());
}

TEST(Notifier, AbstractSocketsStartWithAnAt) {
    const std::string name = "postern-notify-test-" + std::to_string(::getpid());
    NotifySocket systemd(name, true);
    EXPECT_TRUE(Notifier("@" + name).notify("READY=1"));
    EXPECT_EQ(systemd.receive(), "READY=1");
}

TEST(Notifier, WithoutASocketItDoesNothing) {
    EXPECT_FALSE(Notifier().enabled());
    EXPECT_FALSE(Notifier().notify("READY=1"));
    EXPECT_FALSE(Notifier("relative/path").notify("READY=1"));
    EXPECT_FALSE(Notifier("/nonexistent/postern/notify").notify("READY=1"));
}

}  // namespace
}  // namespace postern::systemd
