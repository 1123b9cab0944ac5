#include "core/supervisor.hpp"

#include <sys/socket.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "core/log.hpp"
#include "core/supervisor_parts.hpp"
#include "core/systemd.hpp"

namespace postern {

std::uint64_t recycle_after(std::uint64_t max_requests, std::uint64_t jitter,
                            std::uint64_t random) noexcept {
    if (max_requests == 0)
        return 0;
    const std::uint64_t extra = jitter == UINT64_MAX ? random : random % (jitter + 1);
    return extra > UINT64_MAX - max_requests ? UINT64_MAX : max_requests + extra;
}

namespace supervision {

std::string ms_text(milliseconds d) {
    return std::to_string(d.count()) + " ms";
}

std::string count_of(std::uint64_t n, const char* what) {
    return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
}

void apply_log_level(const std::string& level) {
    log::set_level(level == "debug"   ? log::Level::debug
                   : level == "warn"  ? log::Level::warn
                   : level == "error" ? log::Level::error
                                      : log::Level::info);
}

namespace {

/// A process manager (spawn-fcgi, mod_fcgid) starts a FastCGI application
/// with the listening socket on descriptor 0 (FastCGI 1.0 §2.2).
bool fd0_is_listening_socket() {
    int accepting = 0;
    socklen_t len = sizeof(accepting);
    return ::getsockopt(0, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) == 0 && accepting != 0;
}

/// The local addresses of the sockets systemd passed (LISTEN_FDS), taken
/// out of the environment.
std::vector<std::string> take_passed_sockets() {
    const int n = systemd::take_passed_sockets();
    std::vector<std::string> out;
    for (int i = 0; i < n; ++i)
        out.push_back(local_address(systemd::kFirstPassedFd + i));
    return out;
}

}  // namespace

std::vector<int> settle_listeners(std::vector<ListenSpec>& specs,
                                  const std::vector<std::string>& passed) {
    if (specs.empty() && passed.empty()) {
        specs.push_back(fd0_is_listening_socket() ? ListenSpec{"fastcgi", "fd:0"}
                                                  : ListenSpec{"fastcgi", "127.0.0.1:9000"});
    }
    std::vector<int> assigned = systemd::assign_passed_sockets(specs, passed);
    for (std::size_t i = 0; i < specs.size(); ++i) {
        if (assigned[i] < 0)
            continue;
        const std::string& bound =
            passed[static_cast<std::size_t>(assigned[i] - systemd::kFirstPassedFd)];
        log::debug("--listen " + specs[i].protocol + "=" + specs[i].address +
                   " serves the socket systemd passed as fd:" + std::to_string(assigned[i]) +
                   (bound.empty() ? "" : " (" + bound + ")"));
    }
    return assigned;
}

sigset_t stop_signals() {
    sigset_t set;
    sigemptyset(&set);
    for (int sig : {SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1})
        sigaddset(&set, sig);
    return set;
}

}  // namespace supervision

int run_gateway(CliConfig cfg, const ConfigLoader& load) {
    supervision::apply_log_level(cfg.log_level);
    // SIGUSR1 reopens it by this name.
    log::remember_error_log();
    const systemd::Notifier notifier = systemd::Notifier::from_environment();
    std::vector<std::string> passed;
    try {
        passed = supervision::take_passed_sockets();
    } catch (const std::exception& e) {
        log::error(e.what());
        return 1;
    }
    if (cfg.processes == 0)
        return supervision::serve_single(std::move(cfg), passed, notifier);
    return supervision::run_master(std::move(cfg), load, notifier, std::move(passed));
}

}  // namespace postern
