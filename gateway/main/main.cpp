// The `postern` executable: loads the application modules, binds the
// listeners, serves until SIGTERM/SIGINT, drains, exits 0.
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "core/cli.hpp"
#include "core/log.hpp"
#include "core/module.hpp"
#include "postern/postern.hpp"

namespace {

// A process manager (spawn-fcgi, mod_fcgid) starts a FastCGI application
// with the listening socket on descriptor 0 (FastCGI 1.0 §2.2).
bool fd0_is_listening_socket() {
    int accepting = 0;
    socklen_t len = sizeof(accepting);
    return ::getsockopt(0, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) == 0 && accepting != 0;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace postern;
    CliConfig cfg;
    try {
        cfg = parse_command_line(argc, argv);
    } catch (const CliError& e) {
        std::fprintf(stderr, "postern: %s\n", e.what());
        return 2;
    }
    if (cfg.help) {
        std::fputs(usage().c_str(), stdout);
        return 0;
    }
    if (cfg.version) {
        std::printf("postern %s\n", POSTERN_VERSION);
        return 0;
    }
    log::set_level(cfg.log_level == "debug"   ? log::Level::debug
                   : cfg.log_level == "warn"  ? log::Level::warn
                   : cfg.log_level == "error" ? log::Level::error
                                              : log::Level::info);
    if (cfg.modules.empty()) {
        std::fprintf(stderr,
                     "postern: no application: give --app MODULE.so or --mount PREFIX=MODULE.so\n");
        return 2;
    }
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
    if (cfg.options.listeners.empty()) {
        if (fd0_is_listening_socket())
            cfg.options.listeners.push_back(ListenSpec{"fastcgi", "fd:0"});
        else
            cfg.options.listeners.push_back(ListenSpec{"fastcgi", "127.0.0.1:9000"});
    }
    try {
        for (const auto& [prefix, file] : cfg.modules)
            cfg.options.mounts.push_back(Mount{prefix, load_module(file), file});
    } catch (const std::exception& e) {
        std::fprintf(stderr, "postern: %s\n", e.what());
        return 1;
    }
    return serve(nullptr, std::move(cfg.options));
}
