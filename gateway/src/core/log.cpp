#include "core/log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <mutex>
#include <stdexcept>

namespace postern::log {

namespace {

using Clock = std::chrono::steady_clock;

/// A failed access-log write is reported at most this often (nginx: once a
/// second), with the count of lines lost since the last report.
constexpr Clock::duration kReportInterval = std::chrono::seconds(1);

std::atomic<Level> g_level{Level::info};
std::atomic<int> g_access_fd{2};

// Lines lost on the error log (stderr), and the errno of the last loss.
std::atomic<std::uint64_t> g_error_lost{0};
std::atomic<int> g_error_errno{0};
// Lines lost on the access log since the last report.
std::atomic<std::uint64_t> g_access_lost{0};

// The names the log files were opened by (for reopen()), and the time of
// the last access-log failure report. Written at start and under the lock.
std::mutex g_mutex;
std::string g_access_path;
std::string g_error_path;
bool g_reported = false;
Clock::time_point g_reported_at;

/// 0 when the whole line went out, otherwise the errno of the failure.
int write_all(int fd, const std::string& line) {
    // One write(2) per line (O_APPEND for files): lines from several worker
    // threads never interleave.
    const char* p = line.data();
    std::size_t left = line.size();
    while (left > 0) {
        ssize_t n = ::write(fd, p, left);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (n == 0)
            return EIO;
        p += n;
        left -= static_cast<std::size_t>(n);
    }
    return 0;
}

std::string timestamp() {
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    ::gmtime_r(&now, &tm);
    char buf[32];
    std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

const char* name_of(Level level) {
    switch (level) {
        case Level::debug:
            return "debug";
        case Level::info:
            return "info";
        case Level::warn:
            return "warn";
        case Level::error:
            return "error";
    }
    return "?";
}

std::string lines(std::uint64_t n) {
    return std::to_string(n) + (n == 1 ? " line" : " lines");
}

std::string format(Level level, std::string_view message) {
    std::string line = timestamp();
    line += " postern[";
    line += std::to_string(::getpid());
    line += "] ";
    line += name_of(level);
    line += ": ";
    line += message;
    line += '\n';
    return line;
}

/// Writes a formatted line to the error log; counts it when it is lost, and
/// first reports the lines lost before, once the error log takes lines again.
void error_log_line(const std::string& line) {
    if (g_error_lost.load(std::memory_order_relaxed) != 0) {
        const std::uint64_t lost = g_error_lost.exchange(0);
        if (lost != 0) {
            const int err = g_error_errno.load();
            const std::string note = format(
                Level::error,
                lines(lost) + " of this log could not be written" +
                    (err != 0 ? std::string(" (") + std::strerror(err) + ")" : std::string()) +
                    " and are lost");
            if (const int e = write_all(2, note); e != 0) {
                g_error_lost.fetch_add(lost + 1);
                g_error_errno.store(e);
                return;
            }
        }
    }
    if (const int e = write_all(2, line); e != 0) {
        g_error_lost.fetch_add(1);
        g_error_errno.store(e);
    }
}

/// An access-log line could not be written (`err`): counted, and reported
/// on the error log unless a report went out less than a second ago.
void access_failed(int err) {
    g_access_lost.fetch_add(1);
    std::string path;
    std::uint64_t lost = 0;
    bool first = false;
    {
        std::lock_guard lock(g_mutex);
        const auto now = Clock::now();
        if (g_reported && now - g_reported_at < kReportInterval)
            return;
        first = !g_reported;
        g_reported = true;
        g_reported_at = now;
        lost = g_access_lost.exchange(0);
        path = g_access_path.empty() ? "(stderr)" : g_access_path;
    }
    if (lost == 0)
        return;
    error_log_line(format(Level::error, "cannot write the access log " + path + ": " +
                                            std::strerror(err) + ": " + lines(lost) + " lost" +
                                            (first ? "" : " since the last report") +
                                            " (reported at most once a second)"));
}

/// An access-log line went out after some were lost: says how many.
void access_recovered() {
    const std::uint64_t lost = g_access_lost.exchange(0);
    if (lost == 0)
        return;
    std::string path;
    {
        std::lock_guard lock(g_mutex);
        path = g_access_path.empty() ? "(stderr)" : g_access_path;
    }
    error_log_line(format(Level::warn, "the access log " + path + " takes lines again; " +
                                           lines(lost) + " lost since the last report"));
}

/// Opens `path` again and puts it in place of `fd`. Empty when done,
/// otherwise why not.
std::string reopen_onto(const std::string& path, int fd) {
    const int fresh = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fresh < 0)
        return std::strerror(errno);
    std::string why;
    if (fresh != fd && ::dup2(fresh, fd) < 0)
        why = std::strerror(errno);
    if (fresh != fd)
        ::close(fresh);
    if (fd > 2)
        ::fcntl(fd, F_SETFD, FD_CLOEXEC);  // dup2 clears it; stderr stays inherited
    return why;
}

}  // namespace

void set_level(Level level) {
    g_level = level;
}
Level level() {
    return g_level;
}
bool enabled(Level level) {
    return static_cast<int>(level) >= static_cast<int>(g_level.load());
}

void write(Level level, std::string_view message) {
    if (!enabled(level))
        return;
    error_log_line(format(level, message));
}

void open_access_log(const std::string& target) {
    if (target.empty() || target == "-") {
        g_access_fd = 2;
        std::lock_guard lock(g_mutex);
        g_access_path.clear();
        return;
    }
    if (target == "off") {
        g_access_fd = -1;
        std::lock_guard lock(g_mutex);
        g_access_path.clear();
        return;
    }
    int fd = ::open(target.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0)
        throw std::runtime_error("cannot open access log " + target + ": " + std::strerror(errno));
    {
        std::lock_guard lock(g_mutex);
        g_access_path = target;
        g_reported = false;
    }
    int old = g_access_fd.exchange(fd);
    if (old > 2)
        ::close(old);
}

bool access_log_enabled() {
    return g_access_fd.load() >= 0;
}

void access(std::string_view line) {
    int fd = g_access_fd.load();
    if (fd < 0)
        return;
    std::string l(line);
    l += '\n';
    if (const int err = write_all(fd, l); err != 0)
        access_failed(err);
    else if (g_access_lost.load(std::memory_order_relaxed) != 0)
        access_recovered();
}

void remember_error_log() {
    char buf[4096];
    const ssize_t n = ::readlink("/proc/self/fd/2", buf, sizeof(buf) - 1);
    struct stat fd_stat {};
    struct stat path_stat {};
    std::string path;
    if (n > 0 && buf[0] == '/' && ::fstat(2, &fd_stat) == 0 && S_ISREG(fd_stat.st_mode)) {
        path.assign(buf, static_cast<std::size_t>(n));
        // The name must still lead to the same file ("... (deleted)" does not).
        if (::stat(path.c_str(), &path_stat) != 0 || path_stat.st_dev != fd_stat.st_dev ||
            path_stat.st_ino != fd_stat.st_ino)
            path.clear();
    }
    std::lock_guard lock(g_mutex);
    g_error_path = path;
}

std::vector<std::string> reopen() {
    std::string access_path;
    std::string error_path;
    {
        std::lock_guard lock(g_mutex);
        access_path = g_access_path;
        error_path = g_error_path;
    }
    std::vector<std::string> done;
    auto one = [&](const char* what, const std::string& path, int fd) {
        if (path.empty() || fd < 0)
            return;
        const std::string why = reopen_onto(path, fd);
        if (why.empty())
            done.push_back(std::string(what) + " " + path);
        else
            write(Level::error, std::string("cannot reopen the ") + what + " " + path + ": " + why +
                                    "; writing to the file open before");
    };
    // The error log first: a failure to reopen the access log is written to
    // the new one.
    one("error log", error_path, 2);
    const int access_fd = g_access_fd.load();
    if (access_fd > 2)
        one("access log", access_path, access_fd);
    {
        std::lock_guard lock(g_mutex);
        g_reported = false;  // a failure of the new file is reported at once
    }
    return done;
}

}  // namespace postern::log
