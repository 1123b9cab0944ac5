#include "core/log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <stdexcept>

namespace postern::log {

namespace {

std::atomic<Level> g_level{Level::info};
std::atomic<int> g_access_fd{2};

void write_all(int fd, const std::string& line) {
    // One write(2) per line (O_APPEND for files): lines from several worker
    // threads never interleave.
    const char* p = line.data();
    std::size_t left = line.size();
    while (left > 0) {
        ssize_t n = ::write(fd, p, left);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        p += n;
        left -= static_cast<std::size_t>(n);
    }
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
    std::string line = timestamp();
    line += " postern[";
    line += std::to_string(::getpid());
    line += "] ";
    line += name_of(level);
    line += ": ";
    line += message;
    line += '\n';
    write_all(2, line);
}

void open_access_log(const std::string& target) {
    if (target.empty() || target == "-") {
        g_access_fd = 2;
        return;
    }
    if (target == "off") {
        g_access_fd = -1;
        return;
    }
    int fd = ::open(target.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0)
        throw std::runtime_error("cannot open access log " + target + ": " + std::strerror(errno));
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
    write_all(fd, l);
}

}  // namespace postern::log
