// What runs in a worker process: the serving loop, under the master or
// alone (--processes 0).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/cli.hpp"
#include "core/listen.hpp"
#include "core/log.hpp"
#include "core/module.hpp"
#include "core/scoreboard.hpp"
#include "core/status.hpp"
#include "core/supervisor_parts.hpp"
#include "postern/server.hpp"

namespace postern::supervision {

namespace {

/// What a serving process tells whoever started it.
struct WorkerHooks {
    std::function<void()> ready;
    std::function<void(const std::string&)> failed;  ///< could not start
    std::function<void()> stopping;
    bool supervised = false;
};

/// One serving process: loads the modules (running POSTERN_MODULE's setup),
/// runs a Server on the listeners of `cfg` until SIGTERM or SIGINT, drains,
/// runs the modules' teardown, returns the exit status. The
/// caller has blocked stop_signals() in this thread, so every thread the
/// Server starts has them blocked too and sigwait takes them here.
int serve_worker(CliConfig cfg, const WorkerHooks& hooks) {
    Options options = std::move(cfg.options);
    // Each worker process polls with its share of the CPUs (see
    // Options::pollers); with one worker per CPU, one thread each.
    if (options.pollers == 0 && cfg.processes > 1)
        options.pollers = std::max(1u, available_cpus() / cfg.processes);
    std::unique_ptr<Server> server;
    // Loaded (and set up) in this process, after the fork: a module's state
    // (a database pool, its threads) is this worker's own. Torn down once
    // its requests drained, or when the start fails past a setup.
    std::vector<LoadedModule> modules;
    try {
        for (const auto& [prefix, file] : cfg.modules) {
            modules.push_back(load_module(ModuleConfig(prefix, file, mount_settings(cfg, prefix))));
            options.mounts.push_back(Mount{prefix, modules.back().handler, file});
        }
        server = std::make_unique<Server>(std::move(options));
        // The master says once where the workers listen and what they
        // mount; N workers saying it on every start would bury the rest.
        const log::Level was = log::level();
        if (hooks.supervised && was == log::Level::info)
            log::set_level(log::Level::warn);
        server->start();
        log::set_level(was);
    } catch (const std::exception& e) {
        server.reset();
        options.mounts.clear();
        teardown_modules(modules);
        hooks.failed(e.what());
        return hooks.supervised ? kBootFailed : 1;
    }
    hooks.ready();
    const sigset_t set = stop_signals();
    const log::Level level = hooks.supervised ? log::Level::debug : log::Level::info;
    int sig = 0;
    for (;;) {
        if (::sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGUSR1) {
            // logrotate renamed the files: write to new ones by the old names.
            const std::vector<std::string> done = log::reopen();
            std::string what;
            for (const auto& d : done)
                what += (what.empty() ? "" : ", ") + d;
            log::write(level,
                       "received SIGUSR1: " + (what.empty() ? std::string("no log file to reopen")
                                                            : "reopened the " + what));
            continue;
        }
        if (sig == SIGHUP) {
            // A worker's reload is its replacement, which the master runs.
            if (!hooks.supervised)
                log::warn(
                    "received SIGHUP: reloading takes worker processes (--processes 1 or "
                    "more); ignored");
            continue;
        }
        if (sig == SIGQUIT) {
            log::write(level, "received SIGQUIT: stopping at once");
            std::_Exit(0);
        }
        break;
    }
    log::write(level, std::string("received ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") +
                          ": draining requests in flight, then stopping");
    hooks.stopping();
    server->stop();
    server.reset();
    // Every request has finished and no thread of the Server runs: nothing
    // calls a handler any more.
    teardown_modules(modules);
    log::write(level, "stopped");
    return 0;
}

}  // namespace

/// --processes 0: one process, no supervisor (as before the supervisor).
int serve_single(CliConfig cfg, const std::vector<std::string>& passed,
                 const systemd::Notifier& notifier) {
    if (cfg.max_requests != 0)
        log::warn("--max-requests takes worker processes (--processes 1 or more); ignored");
    if (cfg.request_timeout.count() != 0)
        log::warn("--request-timeout takes worker processes (--processes 1 or more); ignored");
    raise_descriptor_limit();
    try {
        auto& specs = cfg.options.listeners;
        const std::vector<int> assigned = settle_listeners(specs, passed);
        for (std::size_t i = 0; i < specs.size(); ++i)
            if (assigned[i] >= 0)
                specs[i].address = "fd:" + std::to_string(assigned[i]);
    } catch (const std::exception& e) {
        log::error(e.what());
        return 1;
    }
    const sigset_t set = stop_signals();
    ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
    // One process: no worker to add or take away.
    ::signal(SIGTTIN, SIG_IGN);
    ::signal(SIGTTOU, SIG_IGN);
    WorkerHooks hooks;
    hooks.ready = [&] { notifier.notify("READY=1\nSTATUS=serving"); };
    hooks.failed = [](const std::string& why) { log::error(why); };
    hooks.stopping = [&] { notifier.notify("STOPPING=1"); };
    return serve_worker(std::move(cfg), hooks);
}

void serve_supervised(SupervisedWorker w) {
    // The stop signals wait for sigwait (serve_worker); the others as in a
    // fresh process.
    const sigset_t set = stop_signals();
    ::sigprocmask(SIG_SETMASK, &set, nullptr);
    // SIGTTIN and SIGTTOU are the master's (one worker more or fewer);
    // their default action would stop a worker that received one.
    ::signal(SIGTTIN, SIG_IGN);
    ::signal(SIGTTOU, SIG_IGN);
    const int status_fd = w.status_fd;
    attach_worker_slot(w.slot, status_fd, w.limit);
    install_crash_recorder();
    if (w.record >= 0)
        status::attach(w.board, w.record);

    WorkerHooks hooks;
    hooks.supervised = true;
    hooks.ready = [status_fd] { [[maybe_unused]] ssize_t n = ::write(status_fd, "R", 1); };
    hooks.failed = [status_fd](const std::string& why) {
        const std::string msg = "E" + why;
        [[maybe_unused]] ssize_t n = ::write(status_fd, msg.data(), msg.size());
    };
    hooks.stopping = [] {};
    // Never unwind into the master's frames: its destructor would close and
    // remove the listening sockets the other processes serve.
    int code = 1;
    try {
        code = serve_worker(std::move(w.cfg), hooks);
    } catch (const std::exception& e) {
        log::error(std::string("worker process: ") + e.what());
    } catch (...) {
        log::error("worker process: a non-standard exception");
    }
    attach_worker_slot(nullptr, -1, 0);
    std::exit(code);
}

}  // namespace postern::supervision
