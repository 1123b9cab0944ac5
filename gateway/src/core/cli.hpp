// Postern core: the command line and config file of the `postern` executable.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "postern/server.hpp"

namespace postern {

/// A bad option or value: what() is the one line to print.
class CliError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

/// The number of CPUs this process may run on (its affinity mask), at
/// least 1: the default of --processes.
unsigned available_cpus();

/// A `[PREFIX]` section of a --config file: free-form `key = value`
/// settings for the module mounted at PREFIX (postern::ModuleConfig), not
/// options.
struct MountSection {
    /// As written between the brackets ("/api").
    std::string prefix;
    /// "FILE:LINE" of the section line, for errors.
    std::string where;
    /// In file order; a key given twice keeps both (ModuleConfig::get takes
    /// the last).
    std::vector<std::pair<std::string, std::string>> settings;
};

struct CliConfig {
    Options options;
    /// Worker processes sharing the listeners; 0 serves in this one process,
    /// without a supervisor.
    unsigned processes = available_cpus();
    /// A worker is replaced after this many requests (0: never), plus up to
    /// max_requests_jitter more, picked per worker.
    std::uint64_t max_requests = 0;
    std::uint64_t max_requests_jitter = 0;
    /// A worker process running one request for longer is killed (and
    /// replaced), as PHP-FPM's request_terminate_timeout; 0: never.
    std::chrono::milliseconds request_timeout{0};
    /// A worker process whose reactor has not beaten its heartbeat for this
    /// long (stopped, swapped out, deadlocked) is killed and replaced, as
    /// gunicorn's --timeout; 0: never. At least 1000 ms otherwise.
    std::chrono::milliseconds worker_timeout{30000};
    /// PREFIX=MODULE.so pairs, in order (the modules are loaded later).
    std::vector<std::pair<std::string, std::string>> modules;
    /// The mounts' sections of the --config files, in the order read.
    std::vector<MountSection> sections;
    std::string log_level = "info";
    bool help = false;
    bool version = false;
};

/// Parses the arguments (argv[1..]). Every option is `--name value` or
/// `--name=value`; `--config FILE` reads `name = value` lines (the same
/// names, '#' comments) at that point, up to its first `[PREFIX]` line;
/// from there on, each section's `key = value` lines are the settings of
/// the module mounted at PREFIX (MountSection). Throws CliError: a bad
/// line names FILE:LINE, and so does a section whose PREFIX no --mount or
/// --app names (a typo would otherwise drop its settings unseen).
CliConfig parse_command_line(int argc, const char* const argv[]);

/// The settings of the mount at `prefix`: those of every section naming it
/// ("[/api]" and "[/api/]" name the mount "/api"; "[/]" the one at "/"), in
/// the order read.
std::vector<std::pair<std::string, std::string>> mount_settings(const CliConfig& cfg,
                                                                std::string_view prefix);

/// The text of `postern --help`.
std::string usage();

/// One option of the command line (and of the config file, without the
/// dashes): the one table that `--help`, the man page postern(8) and
/// README's option table are made from or checked against.
struct OptionDef {
    const char* name;
    const char* arg;  // nullptr: a flag
    const char* help;
};

/// Every option, in the order `--help` lists them.
std::span<const OptionDef> option_table();

}  // namespace postern
