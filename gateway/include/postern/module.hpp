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
/// Keys and values are free text (`key = value`, '#' comments); a section
/// ends at the next section or the end of the file. Settings before the
/// first section are the gateway's own options.
class ModuleConfig {
  public:
    ModuleConfig() = default;
    ModuleConfig(std::string mount, std::string module,
                 std::vector<std::pair<std::string, std::string>> settings)
        : mount_(std::move(mount)), module_(std::move(module)), settings_(std::move(settings)) {}

    /// The mount prefix ("/api") and the module's file.
    const std::string& mount() const noexcept { return mount_; }
    const std::string& module() const noexcept { return module_; }
    /// The last value given for `key`, or `fallback`.
    std::string_view get(std::string_view key, std::string_view fallback = {}) const noexcept;
    /// The value as a decimal integer in [min, max], or `fallback`; throws
    /// std::invalid_argument naming the key and the mount otherwise.
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
using SetupFn = Handler (*)(const ModuleConfig&);
/// Runs once in each worker process when it stops, after its requests
/// have drained.
using TeardownFn = void (*)();

/// What POSTERN_MODULE exports (`postern_module_v1`).
struct ModuleEntry {
    int abi;
    SetupFn setup;
    TeardownFn teardown;  ///< may be null
};

}  // namespace postern
