// Postern core: the processes of the `postern` executable. With
// --processes N (N >= 1) a supervisor (the master process) binds every
// listener, then forks N worker processes that share the listening sockets
// (prefork, as PHP-FPM and gunicorn do); each worker loads the modules
// itself (running a POSTERN_MODULE's setup there, after the fork, and its
// teardown once the worker drained) and runs a Server with its own threads. The master never loads
// a module and never runs a request.
//
//   * a worker that dies (a signal, an exit it was not asked for) is logged
//     with the requests it was running, read from its scoreboard slot, and
//     replaced. One that dies while serving a request is replaced at once,
//     however young: backing off there would let one URL that crashes its
//     worker, asked again and again, empty the pool. Three or more such
//     deaths within a minute are logged as a crash storm, with the request
//     lines the dead workers were running. Only workers that die before
//     they are ready (a module whose init crashes, a bad deploy), or young
//     and idle (a module's own thread that crashes), are replaced later and
//     later (Backoff); an idle one that was the last worker serving is
//     replaced at once all the same (back-off never empties the pool);
//   * --worker-timeout: a worker whose reactor has not beaten its heartbeat
//     (scoreboard.hpp; beaten by the reactor's sweeper, see reactor.hpp)
//     for that long is stopped, swapped out or deadlocked: it is logged with
//     what it was running, killed (SIGKILL) and replaced at once. The
//     heartbeat does not depend on the worker reporting its requests, and
//     threads busy in long callbacks do not stop it (--request-timeout's
//     business). A master that did not run for a while itself (the whole
//     process group stopped) gives the workers one more look first;
//   * SIGUSR1: the master reopens its log files and sends SIGUSR1 to every
//     worker, which reopens its own (logrotate's postrotate), as nginx does;
//   * --max-requests: a worker that served that many asks to be replaced; a
//     replacement starts first, then the worker stops accepting and drains;
//   * SIGHUP re-reads the configuration and starts a new set of workers;
//     once all of them serve, the old ones drain and stop. The listening
//     sockets stay open in the master throughout, so no connection is
//     refused. If the new configuration or a new worker fails to start, the
//     old workers go on serving;
//   * SIGTERM, SIGINT: every worker stops accepting and drains (up to
//     --drain-timeout), then the master exits 0; SIGQUIT: workers are
//     killed at once;
//   * systemd: sockets passed by socket activation are served, READY=1 is
//     sent to NOTIFY_SOCKET once the workers serve.
//
// With --processes 0 the same function serves in this one process.
#pragma once

#include <cstdint>
#include <functional>

#include "core/cli.hpp"

namespace postern {

/// Reads the configuration afresh (the command line, the --config file, the
/// environment's part); called at start and on each SIGHUP. Throws CliError
/// or std::runtime_error with one line.
using ConfigLoader = std::function<CliConfig()>;

/// The --max-requests limit of one worker: `max_requests` plus
/// `random % (jitter + 1)`, saturating; 0 (never) when `max_requests` is 0.
std::uint64_t recycle_after(std::uint64_t max_requests, std::uint64_t jitter,
                            std::uint64_t random) noexcept;

/// Runs the gateway as configured by `cfg` (from `load`) until SIGTERM,
/// SIGINT or SIGQUIT; returns the exit status: 0 after a stop, 1 when it
/// could not start (one line logged: an address in use, a module that does
/// not load). Call from the main thread before any other thread starts.
int run_gateway(CliConfig cfg, const ConfigLoader& load);

}  // namespace postern
