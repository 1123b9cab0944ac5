// Postern core, internal: the master process of the supervisor (see
// supervisor.hpp). master.cpp runs its loop (spawning, reaping, reload,
// signals, listeners); master_watch.cpp what it does when a worker dies or
// stalls (the death report, the crash storm, --request-timeout,
// --worker-timeout).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/backoff.hpp"
#include "core/cli.hpp"
#include "core/listen.hpp"
#include "core/scoreboard.hpp"
#include "core/status.hpp"
#include "core/supervisor_parts.hpp"
#include "core/systemd.hpp"

namespace postern::supervision {

/// Past the drain time, a stopping worker gets this long before SIGKILL: a
/// callback still running when the drain time ends is waited for (a thread
/// cannot be cancelled safely), and a worker joins its threads before it
/// exits.
constexpr milliseconds kKillGrace{5000};
/// Requests named in one crash report.
constexpr std::size_t kNamedRequests = 10;
/// A crash storm: this many workers dead while serving within kStormWindow.
constexpr std::size_t kStormCrashes = 3;
constexpr std::chrono::seconds kStormWindow{60};

/// One configuration, as read at start or on a SIGHUP, and the listeners it
/// serves (keys of Supervisor::listeners_).
struct Generation {
    unsigned number = 0;
    CliConfig cfg;
    std::vector<std::string> keys;
};
using GenerationPtr = std::shared_ptr<const Generation>;

struct Listener {
    std::string protocol;
    BoundSocket socket;
};

struct Worker {
    enum class State { booting, serving, stopping };

    pid_t pid = -1;
    GenerationPtr gen;
    std::unique_ptr<WorkerSlot> slot;
    /// Its record on the status board (--status), -1 for none.
    int record = -1;
    /// The read end of the worker's status pipe: 'R' once it serves, 'Q'
    /// when --max-requests is reached, 'E' and a message if it cannot start.
    int status_fd = -1;
    State state = State::booting;
    /// Asked to be replaced (--max-requests); serves until its replacement does.
    bool retire = false;
    bool error_follows = false;
    bool killed = false;
    /// Killed for its silence (--worker-timeout).
    bool silent = false;
    Clock::time_point ready_at;
    Clock::time_point kill_at;
    std::string boot_error;
};

class Supervisor {
  public:
    Supervisor(const ConfigLoader& load, const systemd::Notifier& notifier,
               std::vector<std::string> passed)
        : load_(load), notifier_(notifier), passed_(std::move(passed)) {}
    ~Supervisor();
    Supervisor(const Supervisor&) = delete;
    Supervisor& operator=(const Supervisor&) = delete;

    int run(CliConfig cfg);

  private:
    GenerationPtr prepare(CliConfig cfg);
    bool spawn();
    [[noreturn]] void become_worker(Worker& self, int status_fd, std::uint64_t limit);
    void read_status(Worker& w);
    void reap();
    void worker_exited(Worker& w, int status);
    void reconcile();
    void stop_worker(Worker& w, const std::string& why);
    void reload();
    /// SIGUSR1: reopens the master's log files, then has every worker
    /// reopen its own (as nginx's `-s reopen`).
    void reopen_logs();
    /// SIGTTIN (+1) and SIGTTOU (-1): one worker process more or fewer,
    /// until the next reload (as gunicorn).
    void resize(int delta);
    /// Worker processes wanted: the configuration's, or as resized.
    std::size_t wanted() const { return wanted_ ? *wanted_ : current_->cfg.processes; }
    void abandon_reload(const std::string& why);
    void shut_down(bool drain, const char* signal);
    void announce(const Generation& gen) const;
    void close_listener(std::map<std::string, Listener>::iterator it);
    void close_unused_listeners();
    int poll_timeout(Clock::time_point now) const;
    /// --request-timeout: kills a worker whose longest request ran too long.
    void check_request_times(Clock::time_point now);
    /// --worker-timeout: kills a worker whose heartbeat is too old.
    void check_heartbeats(Clock::time_point now);
    /// A worker died while serving: counted for the crash-storm report.
    void crash_storm(Clock::time_point now, const WorkerSlot::InFlightReport& report);
    /// Workers of the current configuration, other than `except`, that
    /// serve or are starting.
    std::size_t others_alive(const Worker* except) const;
    std::size_t count(const GenerationPtr& gen, Worker::State state) const;
    std::string pids(const GenerationPtr& gen) const;

    const ConfigLoader& load_;
    const systemd::Notifier& notifier_;
    std::vector<std::string> passed_;
    std::map<std::string, Listener> listeners_;
    GenerationPtr current_;
    /// During a reload: the configuration the old workers run, to go back
    /// to if the new one fails to start.
    GenerationPtr previous_;
    std::list<Worker> workers_;
    /// The counters behind --status, shared with every worker.
    std::unique_ptr<status::Board> board_;
    /// Set by SIGTTIN / SIGTTOU; a reload goes back to the configuration.
    std::optional<std::size_t> wanted_;
    Backoff backoff_;
    Clock::time_point next_spawn_{};
    /// Replacements owed at once, whatever next_spawn_ says: of workers
    /// that died while serving.
    std::size_t owed_ = 0;
    /// Deaths while serving in the last kStormWindow, each with the
    /// requests it was running.
    std::deque<std::pair<Clock::time_point, std::vector<std::string>>> crashes_;
    /// When the master last looked at the heartbeats.
    Clock::time_point heartbeats_checked_{};
    // When the master last came back from a gap in its own looks (stopped,
    // swapped): the workers' silence counts from there at the earliest.
    Clock::time_point heartbeats_resumed_{};
    std::mt19937_64 random_{std::random_device{}()};
    unsigned generations_ = 0;
    pid_t master_pid_ = -1;
    int signal_fd_ = -1;
    bool ever_ready_ = false;
    bool stopping_ = false;
    bool fatal_ = false;
};

}  // namespace postern::supervision
