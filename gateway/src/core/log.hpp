// Postern core: the error log (stderr) and the access log.
//
// Every line names the guilty party: "front end 127.0.0.1:51234 sent ...",
// "application callback threw: ...". Thread-safe: one line is written with
// one write(2), so lines from worker threads never interleave.
#pragma once

#include <string>
#include <string_view>

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

}  // namespace postern::log
