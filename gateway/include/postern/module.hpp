// Postern: a module with state of its own (POSTERN_MODULE).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "postern/handler.hpp"

namespace postern {

/// The settings of one mount from the --config file: the lines of the
/// section named after the mount's prefix,
///
///     mount = /api=/usr/lib/postern/rest.so
///     [/api]
///     database = /var/lib/rest/items.db
///     page-size = 50
///
/// Keys and values are free text (`key = value`, '#' comments, so a value
/// holds no '#'; spaces around the key and the value are dropped, quotes are
/// kept as written; `key =` is an empty value); a section ends at the next
/// section or the end of the file; a key given twice keeps the last value.
/// Settings before the first section are the gateway's own options. A
/// section whose prefix is not mounted stops the start (or a reload) with
/// the file and line: a typo never drops settings unseen. SIGHUP reads the
/// file again, and the workers it starts get the new settings.
///
/// The gateway builds one per mount in each worker process and keeps it
/// until that module's teardown has run: the views get() returns stay
/// valid as long as the handler can be called. Read-only, so safe to read
/// from any thread.
class ModuleConfig {
  public:
    ModuleConfig() = default;
    ModuleConfig(std::string mount, std::string module,
                 std::vector<std::pair<std::string, std::string>> settings)
        : mount_(std::move(mount)), module_(std::move(module)), settings_(std::move(settings)) {}

    /// The mount prefix ("/api") and the module's file.
    const std::string& mount() const noexcept { return mount_; }
    const std::string& module() const noexcept { return module_; }
    /// The last value given for `key` (possibly empty), or `fallback` when
    /// the section has no such key (or there is no section).
    std::string_view get(std::string_view key, std::string_view fallback = {}) const noexcept;
    /// The value as a decimal integer in [min, max] ("-5", "50"; no '+',
    /// no spaces inside), or `fallback` when the key is absent; throws
    /// std::invalid_argument naming the key and the mount when it is given
    /// but empty, not a number or out of range (thrown from setup, that
    /// stops the start with that line).
    long long get_int(std::string_view key, long long fallback, long long min, long long max) const;
    const std::vector<std::pair<std::string, std::string>>& settings() const noexcept {
        return settings_;
    }

  private:
    std::string mount_;
    std::string module_;
    std::vector<std::pair<std::string, std::string>> settings_;
};

/// Runs once in each worker process, after the fork and before it serves:
/// open pools, read files, build a Router. Returns the mount's handler.
/// Anything it throws stops the start-up (or the reload) with one line
/// naming the module.
///
/// What a user must know:
///  - State is per worker process. With `--processes N` (default: one per
///    CPU) there are N copies of whatever setup builds, each set up in its
///    own process after the fork, never shared: N database pools, N caches.
///    A setting or a counter changed in one worker is not seen by the
///    others; state that must be shared lives outside (a database, a file).
///    With `--processes 0` there is one process and one setup. A worker
///    replaced (it died, --max-requests, SIGHUP) runs setup afresh.
///  - Threads: setup runs on the worker's main thread before any request.
///    The handler it returns is then called on many threads at once (up to
///    --threads): what it shares across requests must be synchronised (a
///    mutex, atomics, a thread-safe pool). A long stream or a slow upload
///    holds one of those threads for as long as it lasts.
///  - A setup that blocks delays that worker's start (the master waits for
///    it; it is not counted against --worker-timeout, which watches workers
///    that serve).
///  - If the setup of a later mount fails, the teardown of the modules
///    already set up in that process runs before it exits.
using SetupFn = Handler (*)(const ModuleConfig&);
/// Runs once in each worker process when it stops (SIGTERM, SIGINT, a
/// reload or --max-requests replacing it; also with --processes 0), after
/// its requests have drained and the handler, and everything it captured,
/// has been destroyed; on the worker's main thread, with no request
/// running. Teardowns run last mount first. An exception from teardown is
/// logged naming the module; the worker stops normally. Not run when the
/// process is killed (SIGKILL, SIGQUIT, a crash) or the setup of its own
/// module failed.
using TeardownFn = void (*)();

/// What POSTERN_MODULE exports (`postern_module_v1`).
struct ModuleEntry {
    int abi;
    SetupFn setup;
    TeardownFn teardown;  ///< may be null
};

}  // namespace postern
