// Postern core, internal to the supervisor: what run_gateway, the master
// (master.hpp) and a worker process (worker.cpp) share. supervisor.cpp
// holds run_gateway and the helpers; master.cpp and master_watch.cpp the
// master process; worker.cpp what runs in a worker process (and in the one
// process of --processes 0).
#pragma once

#include <signal.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/listen.hpp"
#include "core/supervisor.hpp"
#include "core/systemd.hpp"

namespace postern {

class WorkerSlot;
namespace status {
class Board;
}

namespace supervision {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

/// The exit status of a worker that could not start (gunicorn's too).
constexpr int kBootFailed = 3;

/// "250 ms".
std::string ms_text(milliseconds d);

/// "1 request", "2 requests".
std::string count_of(std::uint64_t n, const char* what);

/// Sets the log level from --log-level's text.
void apply_log_level(const std::string& level);

/// Completes the --listen list: systemd's sockets are assigned to it (see
/// assign_passed_sockets), the default is added when it is empty. Returns,
/// per spec, the passed descriptor it takes, or -1. Logs each assignment.
std::vector<int> settle_listeners(std::vector<ListenSpec>& specs,
                                  const std::vector<std::string>& passed);

/// The signals the main thread of every process takes (sigwait, signalfd):
/// stop, reload, reopen the logs.
sigset_t stop_signals();

/// --processes 0: one process, no supervisor (worker.cpp).
int serve_single(CliConfig cfg, const std::vector<std::string>& passed,
                 const systemd::Notifier& notifier);

/// What a worker process the master forked serves with: `cfg` with its
/// listeners as "fd:N", its scoreboard slot, the write end of its status
/// pipe, its --max-requests limit and its record on the status board (-1
/// for none).
struct SupervisedWorker {
    CliConfig cfg;
    WorkerSlot* slot = nullptr;
    int status_fd = -1;
    std::uint64_t limit = 0;
    status::Board* board = nullptr;
    int record = -1;
};

/// In a worker process the master forked, once it let go of the master's
/// descriptors: serves until stopped, then exits (worker.cpp). Never
/// returns, never unwinds into the master's frames.
[[noreturn]] void serve_supervised(SupervisedWorker w);

/// --processes 1 or more: the master process (master.cpp).
int run_master(CliConfig cfg, const ConfigLoader& load, const systemd::Notifier& notifier,
               std::vector<std::string> passed);

}  // namespace supervision
}  // namespace postern
