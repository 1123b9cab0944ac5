// Hostile suite: logs that fail (issue 12, item 9), in process. A line that
// cannot be written is counted and reported, never dropped in silence; a
// renamed log file is reopened by its name (core/log.hpp). The error log is
// stderr, pointed at a file of the test for each case.
#include "core/log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

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
