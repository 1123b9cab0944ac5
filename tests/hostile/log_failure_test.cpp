// Hostile suite: logs that fail (issue 12, item 9), in process. A line that
// cannot be written is counted and reported, never dropped in silence; a
// renamed log file is reopened by its name (core/log.hpp). The error log is
// stderr, pointed at a file of the test for each case.
#include "core/log.hpp"
#include "postern/server.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

namespace postern {
namespace {

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

std::size_t count(const std::string& text, const std::string& needle) {
    std::size_t n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
        ++n;
    return n;
}

/// A directory of its own, and stderr pointed at `target` until the end of
/// the test (then back, with the logs as they were).
class LogFailure : public ::testing::Test {
  protected:
    void SetUp() override {
        char tmpl[] = "/tmp/postern-log-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        saved_stderr_ = ::dup(2);
        ASSERT_GE(saved_stderr_, 0);
    }
    void TearDown() override {
        log::open_access_log("-");
        ::dup2(saved_stderr_, 2);
        ::close(saved_stderr_);
        log::remember_error_log();
        std::remove(file("access.log").c_str());
        std::remove(file("access.log.1").c_str());
        std::remove(file("error.log").c_str());
        std::remove(file("error.log.1").c_str());
        ::rmdir(dir_.c_str());
    }
    std::string file(const char* name) const { return dir_ + "/" + name; }
    /// stderr appended to `path` from now on.
    void stderr_to(const std::string& path) {
        const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
        ASSERT_GE(fd, 0) << path;
        ASSERT_EQ(::dup2(fd, 2), 2);
        ::close(fd);
    }

    std::string dir_;
    int saved_stderr_ = -1;
};

TEST_F(LogFailure, AnAccessLogOnAFullDiskIsReportedAtOnceThenOnceASecondWithTheCount) {
    stderr_to(file("error.log"));
    log::open_access_log("/dev/full");
    log::access("GET /first");
    std::string err = slurp(file("error.log"));
    EXPECT_EQ(count(err,
                    "cannot write the access log /dev/full: No space left on device: 1 "
                    "line lost (reported at most once a second)"),
              1u)
        << err;
    // More within the second: counted, not reported one by one ...
    for (int i = 0; i < 9; ++i)
        log::access("GET /more");
    EXPECT_EQ(count(slurp(file("error.log")), "cannot write the access log"), 1u);
    // ... until the first failure a second after the report says how many.
    const std::regex later(R"(: (\d+) lines lost since the last report)");
    std::smatch m;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    int tries = 0;
    while (!std::regex_search(err, m, later) && std::chrono::steady_clock::now() < deadline) {
        log::access("GET /again");
        ++tries;
        err = slurp(file("error.log"));
    }
    ASSERT_TRUE(std::regex_search(err, m, later)) << err;
    EXPECT_EQ(std::stoi(m[1]), 9 + tries) << err;
    EXPECT_EQ(count(err, "cannot write the access log"), 2u) << err;
}

TEST_F(LogFailure, LinesLostOnTheErrorLogAreCountedInItOnceItWorksAgain) {
    stderr_to("/dev/full");
    log::error("lost one");
    log::error("lost two");
    log::warn("lost three");
    stderr_to(file("error.log"));
    log::error("back");
    const std::string err = slurp(file("error.log"));
    const auto note = err.find(
        "error: 3 lines of this log could not be written (No space left on device) and are lost");
    ASSERT_NE(note, std::string::npos) << err;
    EXPECT_LT(note, err.find("error: back")) << "the count comes first: " << err;
    EXPECT_EQ(err.find("lost one"), std::string::npos);
}

TEST_F(LogFailure, ReopenWritesToANewFileByTheOldNamesOnceTheyWereRenamed) {
    stderr_to(file("error.log"));
    log::remember_error_log();
    log::open_access_log(file("access.log"));
    log::access("GET /before");
    log::error("before");
    ASSERT_EQ(::rename(file("access.log").c_str(), file("access.log.1").c_str()), 0);
    ASSERT_EQ(::rename(file("error.log").c_str(), file("error.log.1").c_str()), 0);
    // Until the reopen, the renamed files are written (logrotate's window).
    log::access("GET /between");
    const auto done = log::reopen();
    ASSERT_EQ(done.size(), 2u);
    EXPECT_EQ(done[0], "error log " + file("error.log"));
    EXPECT_EQ(done[1], "access log " + file("access.log"));
    log::access("GET /after");
    log::error("after");
    EXPECT_EQ(slurp(file("access.log.1")), "GET /before\nGET /between\n");
    EXPECT_EQ(slurp(file("access.log")), "GET /after\n");
    EXPECT_NE(slurp(file("error.log.1")).find("before"), std::string::npos);
    EXPECT_EQ(slurp(file("error.log.1")).find("after"), std::string::npos);
    EXPECT_NE(slurp(file("error.log")).find("error: after"), std::string::npos);
}

TEST_F(LogFailure, StderrThatIsNoFileIsNotReopenedAndAFileThatCannotBeIsLogged) {
    int pipe_fds[2];
    ASSERT_EQ(::pipe(pipe_fds), 0);
    ASSERT_EQ(::dup2(pipe_fds[1], 2), 2);  // as under systemd's journal
    ::close(pipe_fds[1]);
    log::remember_error_log();
    EXPECT_TRUE(log::reopen().empty());
    ::close(pipe_fds[0]);
    // An access log whose directory is gone: the old file is kept.
    stderr_to(file("error.log"));
    const std::string sub = dir_ + "/sub";
    ASSERT_EQ(::mkdir(sub.c_str(), 0700), 0);
    log::open_access_log(sub + "/access.log");
    ASSERT_EQ(::rename((sub + "/access.log").c_str(), file("access.log.1").c_str()), 0);
    ASSERT_EQ(::rmdir(sub.c_str()), 0);
    EXPECT_TRUE(log::reopen().empty());
    log::access("GET /still");
    EXPECT_EQ(slurp(file("access.log.1")), "GET /still\n");
    EXPECT_NE(slurp(file("error.log"))
                  .find("cannot reopen the access log " + sub +
                        "/access.log: No such file or directory; writing to the file open before"),
              std::string::npos)
        << slurp(file("error.log"));
}

}  // namespace
}  // namespace postern

namespace postern {
namespace {

// Library mode: postern::serve() reopens its logs on SIGUSR1 too, as the
// executable's master does (a forked child runs it; the test renames its
// access log, signals it and sees the next request in a new file).
TEST(LibraryModeLogs, SigusrOneReopensTheAccessLog) {
    char dir_template[] = "/tmp/postern-serve-XXXXXX";
    ASSERT_NE(::mkdtemp(dir_template), nullptr);
    const std::string dir = dir_template;
    const std::string log_path = dir + "/access.log";
    const std::string sock = dir + "/http.sock";
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        Options o;
        o.listeners = {{"http", sock}};
        o.access_log = log_path;
        o.threads = 1;
        const int rc = serve([](Request&, Response& res) { res.write("ok\n"); }, std::move(o));
        ::_exit(rc);
    }
    const auto request = [&](const std::string& path) {
        for (int i = 0; i < 500; ++i) {
            const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
            sockaddr_un a{};
            a.sun_family = AF_UNIX;
            std::snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock.c_str());
            if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) {
                const std::string req =
                    "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
                (void)::write(fd, req.data(), req.size());
                char buf[512];
                std::string got;
                ssize_t n;
                while ((n = ::read(fd, buf, sizeof(buf))) > 0)
                    got.append(buf, static_cast<std::size_t>(n));
                ::close(fd);
                return got;
            }
            ::close(fd);
            std::this_thread::sleep_for(std::chrono::milliseconds(10));  // start-up
        }
        return std::string();
    };
    const auto slurp = [](const std::string& path) {
        std::ifstream in(path);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    };
    const auto eventually = [](const std::function<bool()>& done) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (!done() && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        return done();
    };
    EXPECT_NE(request("/before").find("200"), std::string::npos);
    EXPECT_TRUE(eventually([&] { return slurp(log_path).find("/before") != std::string::npos; }));
    ASSERT_EQ(::rename(log_path.c_str(), (log_path + ".1").c_str()), 0);
    ::kill(child, SIGUSR1);
    EXPECT_TRUE(eventually([&] { return ::access(log_path.c_str(), F_OK) == 0; }));
    EXPECT_NE(request("/after").find("200"), std::string::npos);
    EXPECT_TRUE(eventually([&] { return slurp(log_path).find("/after") != std::string::npos; }));
    EXPECT_EQ(slurp(log_path + ".1").find("/after"), std::string::npos);
    ::kill(child, SIGTERM);
    int status = 0;
    ::waitpid(child, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    std::system(("rm -rf " + dir).c_str());
}

}  // namespace
}  // namespace postern
