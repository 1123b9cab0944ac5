// Postern core: the command line and config file of the `postern` executable.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "postern/server.hpp"

namespace postern {

/// A bad option or value: what() is the one line to print.
class CliError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct CliConfig {
    Options options;
    /// PREFIX=MODULE.so pairs, in order (the modules are loaded later).
    std::vector<std::pair<std::string, std::string>> modules;
    std::string log_level = "info";
    bool help = false;
    bool version = false;
};

/// Parses the arguments (argv[1..]). Every option is `--name value` or
/// `--name=value`; `--config FILE` reads `name = value` lines (the same
/// names, '#' comments) at that point. Throws CliError.
CliConfig parse_command_line(int argc, const char* const argv[]);

/// The text of `postern --help`.
std::string usage();

}  // namespace postern
