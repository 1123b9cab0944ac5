#include "process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace postern::test {

namespace {

std::string errno_text(const std::string& what) {
    return what + ": " + std::strerror(errno);
}

/// The environment for a child: ours, with `extra` overriding.
std::vector<std::string> child_environment(const std::vector<std::string>& extra) {
    std::vector<std::string> env;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
        const std::string_view entry(*e);
        const auto name = entry.substr(0, entry.find('='));
        bool overridden = false;
        for (const auto& x : extra) {
            if (std::string_view(x).substr(0, x.find('=')) == name)
                overridden = true;
        }
        if (!overridden)
            env.emplace_back(entry);
    }
    env.insert(env.end(), extra.begin(), extra.end());
    return env;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
    std::vector<char*> out;
    out.reserve(strings.size() + 1);
    for (auto& s : strings)
        out.push_back(s.data());
    out.push_back(nullptr);
    return out;
}

/// In the child: reports errno to the parent on `report_fd`, exits 127.
[[noreturn]] void child_failed(int report_fd) {
    const int e = errno;
    [[maybe_unused]] auto n = ::write(report_fd, &e, sizeof(e));
    ::_exit(127);
}

/// Runs in the child between fork and exec: async-signal-safe calls only.
[[noreturn]] void exec_child(pid_t parent, int log_fd, int null_fd, int report_fd,
                             char* const* argv, char* const* envp) {
    auto fail = [report_fd] { child_failed(report_fd); };
    if (::setpgid(0, 0) != 0)
        fail();
    if (::prctl(PR_SET_PDEATHSIG, SIGTERM) != 0)
        fail();
    if (::getppid() != parent)
        ::_exit(127);  // the test died before prctl
    if (::dup2(null_fd, STDIN_FILENO) < 0 || ::dup2(log_fd, STDOUT_FILENO) < 0 ||
        ::dup2(log_fd, STDERR_FILENO) < 0) {
        fail();
    }
    // Signal dispositions set to "ignore" and the blocked mask survive exec:
    // start the program the way a shell would.
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGUSR1, SIGUSR2, SIGQUIT}) {
        ::sigaction(sig, &dfl, nullptr);
    }
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    // Descriptors the test opened without O_CLOEXEC stay out of the child;
    // report_fd is O_CLOEXEC and closes on a successful exec.
    if (report_fd > 3)
        ::close_range(3, static_cast<unsigned>(report_fd) - 1, 0);
    ::close_range(static_cast<unsigned>(report_fd) + 1, ~0U, 0);
    ::execve(argv[0], argv, envp);
    child_failed(report_fd);
}

}  // namespace

// ---------------------------------------------------------------- TempDir

TempDir::TempDir(std::string_view prefix) {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = (tmp != nullptr && *tmp != '\0' ? std::string(tmp) : std::string("/tmp")) +
                        "/" + std::string(prefix) + "-XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr)
        throw std::runtime_error(errno_text("mkdtemp " + templ));
    path_ = templ;
    if (::chmod(path_.c_str(), 0755) != 0)
        throw std::runtime_error(errno_text("chmod " + path_));
}

TempDir::~TempDir() {
    if (keep_ || path_.empty())
        return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

std::string TempDir::file(std::string_view name) const {
    return path_ + "/" + std::string(name);
}

std::string TempDir::subdir(std::string_view name) const {
    const std::string dir = file(name);
    std::filesystem::create_directories(dir);
    std::filesystem::permissions(dir, std::filesystem::perms(0755));
    return dir;
}

// ---------------------------------------------------------------- Process

Process::~Process() {
    if (pid_ > 0)
        stop(5s);
}

void Process::start(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                    const std::string& log_path) {
    if (pid_ > 0)
        throw std::logic_error("Process::start: already started " + command_line());
    if (argv.empty() || argv[0].empty() || argv[0][0] != '/') {
        throw std::runtime_error("Process::start: argv[0] must be an absolute path");
    }
    argv_ = argv;
    log_path_ = log_path;
    status_.reset();

    // Everything the child needs is prepared before fork: after it, the
    // child may only make async-signal-safe calls (the test is threaded).
    std::vector<std::string> args = argv;
    std::vector<std::string> envs = child_environment(env);
    auto c_argv = c_strings(args);
    auto c_envp = c_strings(envs);

    const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0)
        throw std::runtime_error(errno_text("open " + log_path));
    const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    int report[2];
    if (null_fd < 0 || ::pipe2(report, O_CLOEXEC) != 0) {
        const std::string err = errno_text("Process::start: pipe");
        ::close(log_fd);
        if (null_fd >= 0)
            ::close(null_fd);
        throw std::runtime_error(err);
    }

    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid == 0)
        exec_child(parent, log_fd, null_fd, report[1], c_argv.data(), c_envp.data());
    const int fork_errno = errno;
    ::close(log_fd);
    ::close(null_fd);
    ::close(report[1]);
    if (pid < 0) {
        ::close(report[0]);
        errno = fork_errno;
        throw std::runtime_error(errno_text("fork for " + command_line()));
    }
    pid_ = pid;
    // Close the parent's race with the child's own setpgid: either one
    // succeeding is enough (EACCES once the child has exec'd).
    ::setpgid(pid_, pid_);

    // The report pipe closes on a successful exec, or carries its errno.
    int child_errno = 0;
    ssize_t n;
    do {
        n = ::read(report[0], &child_errno, sizeof(child_errno));
    } while (n < 0 && errno == EINTR);
    ::close(report[0]);
    pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
    if (n == static_cast<ssize_t>(sizeof(child_errno))) {
        reap();
        pid_ = -1;
        throw std::runtime_error("cannot start " + command_line() + ": " +
                                 std::strerror(child_errno));
    }
}

std::string Process::command_line() const {
    std::string out;
    for (const auto& a : argv_) {
        if (!out.empty())
            out += ' ';
        out += a;
    }
    return out;
}

int Process::reap() {
    if (status_)
        return *status_;
    int status = 0;
    pid_t r;
    do {
        r = ::waitpid(pid_, &status, 0);
    } while (r < 0 && errno == EINTR);
    status_ = r == pid_ ? status : -1;
    if (pidfd_ >= 0) {
        ::close(pidfd_);
        pidfd_ = -1;
    }
    return *status_;
}

bool Process::wait_exited(std::chrono::milliseconds timeout) {
    if (status_)
        return true;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        siginfo_t info{};
        if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
            info.si_pid == pid_) {
            return true;
        }
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0)
            return false;
        if (pidfd_ >= 0) {
            // Readable once the process has exited.
            pollfd p{pidfd_, POLLIN, 0};
            ::poll(&p, 1, static_cast<int>(left.count()));
        } else {
            // Kernels without pidfd_open (< 5.3): poll the status.
            std::this_thread::sleep_for(std::min(left, std::chrono::milliseconds(10)));
        }
    }
}

bool Process::running() {
    if (pid_ <= 0 || status_)
        return false;
    if (!wait_exited(0ms))
        return true;
    reap();
    return false;
}

std::optional<int> Process::wait(std::chrono::milliseconds timeout) {
    if (pid_ <= 0)
        return std::nullopt;
    if (!wait_exited(timeout))
        return std::nullopt;
    return reap();
}

void Process::signal(int sig) {
    if (pid_ > 0 && !status_)
        ::kill(pid_, sig);
}

int Process::stop(std::chrono::milliseconds timeout) {
    if (pid_ <= 0)
        return -1;
    if (!status_) {
        ::kill(pid_, SIGTERM);
        const bool exited = wait_exited(timeout);
        // The leader is a zombie now (or still alive), so its process group
        // id cannot have been reused: this reaches only processes we started
        // and their children.
        ::kill(-pid_, SIGKILL);
        if (!exited)
            wait_exited(10s);
    }
    return reap();
}

std::string describe_wait_status(int status) {
    if (status < 0)
        return "unknown status";
    if (WIFEXITED(status))
        return "exited " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) {
        return "killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
               strsignal(WTERMSIG(status)) + ")";
    }
    return "status " + std::to_string(status);
}

// ---------------------------------------------------------------- templates

std::string render(std::string_view text, const std::map<std::string, std::string>& values) {
    auto is_name_char = [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    };
    std::string out;
    out.reserve(text.size());
    std::size_t i = 0;
    while (i < text.size()) {
        const auto at = text.find('@', i);
        if (at == std::string_view::npos)
            break;
        std::size_t end = at + 1;
        while (end < text.size() && is_name_char(text[end]))
            ++end;
        const bool placeholder = end > at + 1 && end < text.size() && text[end] == '@' &&
                                 text[at + 1] >= 'A' && text[at + 1] <= 'Z';
        if (!placeholder) {
            out.append(text.substr(i, at + 1 - i));
            i = at + 1;
            continue;
        }
        const std::string name(text.substr(at + 1, end - at - 1));
        const auto it = values.find(name);
        if (it == values.end())
            throw std::runtime_error("template placeholder @" + name + "@ has no value");
        out.append(text.substr(i, at - i));
        out += it->second;
        i = end + 1;
    }
    out.append(text.substr(std::min(i, text.size())));
    return out;
}

std::string render_template(const std::string& template_path,
                            const std::map<std::string, std::string>& values) {
    try {
        return render(read_file(template_path), values);
    } catch (const std::runtime_error& e) {
        throw std::runtime_error(template_path + ": " + e.what());
    }
}

// ---------------------------------------------------------------- files

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw std::runtime_error(errno_text("cannot read " + path));
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

void write_file(const std::string& path, std::string_view contents) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    out.close();
    if (!out)
        throw std::runtime_error(errno_text("cannot write " + path));
}

std::string tail_file(const std::string& path, std::size_t lines) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return {};
    std::ostringstream buf;
    buf << in.rdbuf();
    const std::string text = buf.str();
    std::size_t pos = text.size();
    if (pos != 0 && text[pos - 1] == '\n')
        --pos;  // the last line's own newline
    std::size_t seen = 0;
    while (pos != 0) {
        if (text[pos - 1] == '\n' && ++seen == lines)
            break;
        --pos;
    }
    return text.substr(pos);
}

}  // namespace postern::test
