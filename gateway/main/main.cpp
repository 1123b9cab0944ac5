// The `postern` executable: reads the options, then hands over to the
// supervisor (core/supervisor.hpp), which binds the listeners and runs the
// worker processes, or with --processes 0 serves in this one process.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/cli.hpp"
#include "core/supervisor.hpp"
#include "postern/postern.hpp"

namespace {

/// The settings that come from outside the command line, and the check
/// that there is something to serve. Throws postern::CliError.
void complete(postern::CliConfig& cfg) {
    if (cfg.modules.empty())
        throw postern::CliError("no application: give --app MODULE.so or --mount PREFIX=MODULE.so");
    // The allow-list libfcgi applications read from the environment
    // (FastCGI 1.0 §3.2), for process managers that set it; --allow wins.
    if (const char* addrs = std::getenv("FCGI_WEB_SERVER_ADDRS");
        addrs && cfg.options.allow.empty()) {
        std::string list = addrs;
        for (std::size_t start = 0; start <= list.size();) {
            std::size_t comma = list.find(',', start);
            if (comma == std::string::npos)
                comma = list.size();
            if (comma > start)
                cfg.options.allow.push_back(list.substr(start, comma - start));
            start = comma + 1;
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    using namespace postern;
    CliConfig cfg;
    try {
        cfg = parse_command_line(argc, argv);
        if (cfg.help) {
            std::fputs(usage().c_str(), stdout);
            return 0;
        }
        if (cfg.version) {
            std::printf("postern %s\n", POSTERN_VERSION);
            return 0;
        }
        complete(cfg);
    } catch (const CliError& e) {
        std::fprintf(stderr, "postern: %s\n", e.what());
        return 2;
    }
    // SIGHUP reads the command line and the --config file again.
    const ConfigLoader load = [argc, argv] {
        CliConfig fresh = parse_command_line(argc, argv);
        complete(fresh);
        return fresh;
    };
    return run_gateway(std::move(cfg), load);
}
