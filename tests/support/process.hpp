// Test support: child processes, temporary directories and config templates,
// for integration tests that run the real nginx, Apache and `postern`.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postern::test {

using namespace std::chrono_literals;

/// A fresh directory (mode 0755, so unprivileged worker processes of nginx
/// and Apache can reach sockets inside it) under $TMPDIR or /tmp, removed
/// with everything in it on destruction unless keep() was called.
/// Not copyable.
class TempDir {
  public:
    /// Creates "<tmp>/<prefix>-XXXXXX"; throws std::runtime_error on failure.
    explicit TempDir(std::string_view prefix = "postern-test");
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::string& path() const noexcept { return path_; }
    /// path() + "/" + name.
    std::string file(std::string_view name) const;
    /// Makes path()/name (and its parents) with mode 0755; returns its path.
    std::string subdir(std::string_view name) const;
    /// Leaves the directory on disk (for a post-mortem after a failure).
    void keep() noexcept { keep_ = true; }

  private:
    std::string path_;
    bool keep_ = false;
};

/// One child process started with fork/exec, in a process group of its own,
/// with stdin from /dev/null and stdout+stderr appended to a log file. If the
/// test process dies first, the child gets SIGTERM (PR_SET_PDEATHSIG), so a
/// crashed test never leaves nginx or Apache running.
///
/// stop() ends exactly this child and the processes in its group: SIGTERM,
/// a bounded wait, then SIGKILL to the group. The destructor stops a child
/// still running. Waits use a pidfd with a deadline; nothing here sleeps.
/// Not copyable; belongs to the thread that started it.
class Process {
  public:
    Process() = default;
    ~Process();
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;

    /// Starts argv[0] (an absolute path) with `argv`, the test's environment
    /// plus `env` ("NAME=VALUE", overriding a variable of the same name), and
    /// output appended to `log_path`. Throws std::runtime_error with the
    /// reason when the program cannot be started (exec failed, bad path).
    void start(const std::vector<std::string>& argv, const std::vector<std::string>& env,
               const std::string& log_path);

    pid_t pid() const noexcept { return pid_; }
    const std::string& log_path() const noexcept { return log_path_; }
    /// The command line, for messages.
    std::string command_line() const;

    /// True while the child has not exited (reaps it once it has).
    bool running();
    /// Waits up to `timeout` for the child to exit by itself; its wait status
    /// (as waitpid gives it) if it did, empty otherwise.
    std::optional<int> wait(std::chrono::milliseconds timeout);
    /// SIGTERM, up to `timeout` for it to exit, then SIGKILL to its process
    /// group. Returns the wait status; -1 if it was never started.
    int stop(std::chrono::milliseconds timeout = 10s);
    /// Sends `sig` to the child (not its group).
    void signal(int sig);

  private:
    /// Waits for the exit without reaping; true if it happened in time.
    bool wait_exited(std::chrono::milliseconds timeout);
    int reap();

    pid_t pid_ = -1;
    int pidfd_ = -1;
    std::optional<int> status_;
    std::vector<std::string> argv_;
    std::string log_path_;
};

/// "exited 0", "killed by signal 9", ... for a wait status.
std::string describe_wait_status(int status);

/// Replaces every placeholder @NAME@ (NAME: capital letters, digits and '_',
/// starting with a letter) in `text` with values.at(NAME). Throws
/// std::runtime_error naming a placeholder that has no value, so a template
/// is never used half-filled.
std::string render(std::string_view text, const std::map<std::string, std::string>& values);
/// render() over the contents of a file.
std::string render_template(const std::string& template_path,
                            const std::map<std::string, std::string>& values);

/// The whole contents of a file; throws std::runtime_error if unreadable.
std::string read_file(const std::string& path);
/// Creates or replaces a file; throws std::runtime_error on failure.
void write_file(const std::string& path, std::string_view contents);
/// The last `lines` lines of a file ("" if it does not exist), for failure
/// messages.
std::string tail_file(const std::string& path, std::size_t lines = 30);

}  // namespace postern::test
