// Postern core: the error log (stderr) and the access log.
//
// Every line names the guilty party: "front end 127.0.0.1:51234 sent ...",
// "application callback threw: ...". Thread-safe: one line is written with
// one write(2), so lines from worker threads never interleave.
//
// A line that cannot be written (a full disk: ENOSPC; a closed pipe) is
// counted, never silently dropped: an access-log failure is reported on the
// error log at once, then at most once a second with the count of lines
// lost meanwhile (as nginx does); lines lost on the error log itself are
// reported on it, with their count, as soon as a write to it succeeds.
//
// reopen() opens the log files again by name (SIGUSR1, after logrotate
// renamed them), as nginx's `-s reopen`: the descriptor number stays the
// same (dup2), so a thread writing meanwhile writes to the old file or the
// new one, never to a closed descriptor.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace postern::log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3 };

void set_level(Level level);
Level level();
bool enabled(Level level);
void write(Level level, std::string_view message);

inline void debug(std::string_view m) {
    write(Level::debug, m);
}
inline void info(std::string_view m) {
    write(Level::info, m);
}
inline void warn(std::string_view m) {
    write(Level::warn, m);
}
inline void error(std::string_view m) {
    write(Level::error, m);
}

/// Opens the access log: "" or "-" for stderr, "off" for none, otherwise a
/// file appended to. Throws std::runtime_error naming the file on failure.
void open_access_log(const std::string& target);
bool access_log_enabled();
/// Writes one line to the access log as it is (newline appended).
void access(std::string_view line);

/// Notes the path of the error log (stderr) when it is a regular file (and
/// forgets it otherwise), so that reopen() can open it again by that name;
/// call once at start, before any worker process is forked (they inherit
/// it). Linux: reads /proc/self/fd/2.
void remember_error_log();

/// Reopens the access log (when it is a file) and the error log (when
/// remember_error_log() found a file) by the names they were opened with,
/// creating them if they were renamed or deleted. Returns what was reopened
/// ("access log /var/log/postern/access.log"), one entry each; a file that
/// cannot be reopened is logged and written on as before.
std::vector<std::string> reopen();

}  // namespace postern::log
