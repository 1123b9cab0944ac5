#include "core/supervisor.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/backoff.hpp"
#include "core/connection.hpp"
#include "core/listen.hpp"
#include "core/log.hpp"
#include "core/module.hpp"
#include "core/scoreboard.hpp"
#include "core/status.hpp"
#include "core/systemd.hpp"
#include "postern/server.hpp"

namespace postern {

std::uint64_t recycle_after(std::uint64_t max_requests, std::uint64_t jitter,
                            std::uint64_t random) noexcept {
    if (max_requests == 0)
        return 0;
    const std::uint64_t extra = jitter == UINT64_MAX ? random : random % (jitter + 1);
    return extra > UINT64_MAX - max_requests ? UINT64_MAX : max_requests + extra;
}

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

/// The exit status of a worker that could not start (gunicorn's too).
constexpr int kBootFailed = 3;
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

std::string ms_text(milliseconds d) {
    return std::to_string(d.count()) + " ms";
}

/// "1 request", "2 requests".
std::string count_of(std::uint64_t n, const char* what) {
    return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
}

/// "signal 6 (SIGABRT: Aborted)".
std::string signal_text(int sig) {
    std::string s = "signal " + std::to_string(sig);
    if (const char* abbrev = ::sigabbrev_np(sig)) {
        s += std::string(" (SIG") + abbrev;
        if (const char* what = ::sigdescr_np(sig))
            s += std::string(": ") + what;
        s += ")";
    }
    return s;
}

std::string describe_status(int status) {
    if (WIFEXITED(status))
        return "exited with status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status))
        return "killed by " + signal_text(WTERMSIG(status)) +
               (WCOREDUMP(status) ? ", core dumped" : "");
    return "ended (wait status " + std::to_string(status) + ")";
}

void apply_log_level(const std::string& level) {
    log::set_level(level == "debug"   ? log::Level::debug
                   : level == "warn"  ? log::Level::warn
                   : level == "error" ? log::Level::error
                                      : log::Level::info);
}

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

/// Completes the --listen list: systemd's sockets are assigned to it (see
/// assign_passed_sockets), the default is added when it is empty. Returns,
/// per spec, the passed descriptor it takes, or -1. Logs each assignment.
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

/// The signals the main thread of every process takes (sigwait, signalfd):
/// stop, reload, reopen the logs.
sigset_t stop_signals() {
    sigset_t set;
    sigemptyset(&set);
    for (int sig : {SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1})
        sigaddset(&set, sig);
    return set;
}

/// What a serving process tells whoever started it.
struct WorkerHooks {
    std::function<void()> ready;
    std::function<void(const std::string&)> failed;  ///< could not start
    std::function<void()> stopping;
    bool supervised = false;
};

/// One serving process: loads the modules, runs a Server on the listeners
/// of `cfg` until SIGTERM or SIGINT, drains, returns the exit status. The
/// caller has blocked stop_signals() in this thread, so every thread the
/// Server starts has them blocked too and sigwait takes them here.
int serve_worker(CliConfig cfg, const WorkerHooks& hooks) {
    Options options = std::move(cfg.options);
    // Each worker process polls with its share of the CPUs (see
    // Options::pollers); with one worker per CPU, one thread each.
    if (options.pollers == 0 && cfg.processes > 1)
        options.pollers = std::max(1u, available_cpus() / cfg.processes);
    std::unique_ptr<Server> server;
    try {
        for (const auto& [prefix, file] : cfg.modules)
            options.mounts.push_back(Mount{prefix, load_module(file), file});
        server = std::make_unique<Server>(std::move(options));
        // The master says once where the workers listen and what they
        // mount; N workers saying it on every start would bury the rest.
        const log::Level was = log::level();
        if (hooks.supervised && was == log::Level::info)
            log::set_level(log::Level::warn);
        server->start();
        log::set_level(was);
    } catch (const std::exception& e) {
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
    log::write(level, "stopped");
    return 0;
}

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

// ---------------------------------------------------------------- master

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

Supervisor::~Supervisor() {
    for (auto& w : workers_)
        if (w.status_fd >= 0)
            ::close(w.status_fd);
    while (!listeners_.empty())
        close_listener(listeners_.begin());
    if (signal_fd_ >= 0)
        ::close(signal_fd_);
}

int Supervisor::run(CliConfig cfg) {
    master_pid_ = ::getpid();
    // Signals arrive as readable data on a descriptor, in the one loop.
    sigset_t set = stop_signals();
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTTIN);
    sigaddset(&set, SIGTTOU);
    ::sigprocmask(SIG_BLOCK, &set, nullptr);
    signal_fd_ = ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (signal_fd_ < 0) {
        log::error(std::string("signalfd: ") + std::strerror(errno));
        return 1;
    }
    ::signal(SIGPIPE, SIG_IGN);
    raise_descriptor_limit();
    try {
        // Records for the workers of two configurations at once (a reload)
        // and those being replaced meanwhile.
        board_ = std::make_unique<status::Board>(std::max<std::size_t>(64, cfg.processes * 4ul),
                                                 cfg.processes);
        current_ = prepare(std::move(cfg));
    } catch (const std::exception& e) {
        log::error(e.what());
        return 1;
    }

    while (!(stopping_ && workers_.empty())) {
        reconcile();
        if (fatal_)
            break;
        std::vector<pollfd> fds{{signal_fd_, POLLIN, 0}};
        for (const auto& w : workers_)
            if (w.status_fd >= 0)
                fds.push_back({w.status_fd, POLLIN, 0});
        const int n = ::poll(fds.data(), fds.size(), poll_timeout(Clock::now()));
        if (n < 0 && errno != EINTR) {
            log::error(std::string("poll: ") + std::strerror(errno));
            fatal_ = true;
            break;
        }
        for (auto& w : workers_)
            if (w.status_fd >= 0)
                read_status(w);
        bool children = false;
        signalfd_siginfo si{};
        while (::read(signal_fd_, &si, sizeof(si)) == static_cast<ssize_t>(sizeof(si))) {
            switch (si.ssi_signo) {
                case SIGCHLD:
                    children = true;
                    break;
                case SIGTERM:
                    shut_down(true, "SIGTERM");
                    break;
                case SIGINT:
                    shut_down(true, "SIGINT");
                    break;
                case SIGQUIT:
                    shut_down(false, "SIGQUIT");
                    break;
                case SIGHUP:
                    reload();
                    break;
                case SIGUSR1:
                    reopen_logs();
                    break;
                case SIGTTIN:
                    resize(+1);
                    break;
                case SIGTTOU:
                    resize(-1);
                    break;
                default:
                    break;
            }
        }
        if (children)
            reap();
        const auto now = Clock::now();
        for (auto& w : workers_) {
            if (w.state == Worker::State::stopping && !w.killed && now >= w.kill_at) {
                log::warn("worker " + std::to_string(w.pid) + " still running " +
                          ms_text(std::chrono::duration_cast<milliseconds>(
                              w.gen->cfg.options.drain_timeout + kKillGrace)) +
                          " after SIGTERM (a callback that does not return?): killing it");
                ::kill(w.pid, SIGKILL);
                w.killed = true;
            }
        }
        check_request_times(now);
        check_heartbeats(now);
    }
    if (fatal_) {
        // Could not start: no worker outlives the master's exit.
        for (auto& w : workers_)
            ::kill(w.pid, SIGKILL);
        for (auto& w : workers_)
            ::waitpid(w.pid, nullptr, 0);
        return 1;
    }
    log::info("stopped");
    return 0;
}

GenerationPtr Supervisor::prepare(CliConfig cfg) {
    auto gen = std::make_shared<Generation>();
    gen->number = ++generations_;
    auto& specs = cfg.options.listeners;
    const std::vector<int> assigned = settle_listeners(specs, passed_);
    std::vector<std::string> fresh;  // bound here: closed again if a later one fails
    try {
        for (std::size_t i = 0; i < specs.size(); ++i) {
            const ListenSpec& spec = specs[i];
            const std::string key = spec.protocol + "=" + spec.address;
            if (!known_protocol(spec.protocol))
                throw std::runtime_error("unknown protocol \"" + spec.protocol + "\" in --listen " +
                                         key);
            if (std::find(gen->keys.begin(), gen->keys.end(), key) != gen->keys.end())
                throw std::runtime_error("--listen " + key + " is given twice");
            if (listeners_.find(key) == listeners_.end()) {
                BoundSocket s = bind_listener(
                    assigned[i] >= 0 ? "fd:" + std::to_string(assigned[i]) : spec.address,
                    cfg.options.socket_mode);
                board_->listener(spec.protocol + "=" + s.address, spec.protocol);
                listeners_.emplace(key, Listener{spec.protocol, std::move(s)});
                fresh.push_back(key);
            }
            gen->keys.push_back(key);
        }
    } catch (...) {
        for (const auto& key : fresh)
            close_listener(listeners_.find(key));
        throw;
    }
    gen->cfg = std::move(cfg);
    return gen;
}

bool Supervisor::spawn() {
    const GenerationPtr gen = current_;
    auto failed = [&](const std::string& what) {
        const auto delay = backoff_.failure(Clock::duration::zero());
        log::error("cannot start a worker process: " + what + ": " + std::strerror(errno) +
                   "; trying again in " + ms_text(delay));
        next_spawn_ = Clock::now() + delay;
        owed_ = 0;  // fork itself fails: waiting is all there is to do
        return false;
    };
    Worker w;
    w.gen = gen;
    try {
        // A few entries more than threads: a module's own threads may run
        // requests too (they are counted either way).
        w.slot = std::make_unique<WorkerSlot>(gen->cfg.options.threads + 4);
        if (gen->cfg.request_timeout.count() > 0)
            w.slot->time_requests();
    } catch (const std::exception& e) {
        return failed(e.what());
    }
    if (!gen->cfg.options.status_path.empty()) {
        w.record = board_->claim();
        if (w.record < 0)
            log::warn("the status board is full: a new worker's requests are not counted");
    }
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
        board_->release(w.record);
        return failed("pipe");
    }
    const std::uint64_t limit =
        recycle_after(gen->cfg.max_requests, gen->cfg.max_requests_jitter, random_());
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::close(pipe_fds[0]);
        become_worker(w, pipe_fds[1], limit);
    }
    ::close(pipe_fds[1]);
    if (pid < 0) {
        ::close(pipe_fds[0]);
        board_->release(w.record);
        return failed("fork");
    }
    board_->started(w.record, static_cast<long>(pid));
    ::fcntl(pipe_fds[0], F_SETFL, ::fcntl(pipe_fds[0], F_GETFL) | O_NONBLOCK);
    w.pid = pid;
    w.status_fd = pipe_fds[0];
    log::debug("started worker " + std::to_string(pid) + " (configuration " +
               std::to_string(gen->number) + ")");
    workers_.push_back(std::move(w));
    return true;
}

void Supervisor::become_worker(Worker& self, int status_fd, std::uint64_t limit) {
    // In the child. Die with the master: no orphan keeps the listening
    // sockets (and their ports) after it is gone.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != master_pid_)
        std::_Exit(1);
    ::close(signal_fd_);
    for (auto& other : workers_) {
        if (other.status_fd >= 0)
            ::close(other.status_fd);
        other.slot.reset();
    }
    const Generation& gen = *self.gen;
    for (const auto& [key, l] : listeners_)
        if (std::find(gen.keys.begin(), gen.keys.end(), key) == gen.keys.end())
            ::close(l.socket.fd);
    // The stop signals wait for sigwait (serve_worker); the others as in a
    // fresh process.
    const sigset_t set = stop_signals();
    ::sigprocmask(SIG_SETMASK, &set, nullptr);
    // SIGTTIN and SIGTTOU are the master's (one worker more or fewer);
    // their default action would stop a worker that received one.
    ::signal(SIGTTIN, SIG_IGN);
    ::signal(SIGTTOU, SIG_IGN);
    attach_worker_slot(self.slot.get(), status_fd, limit);
    install_crash_recorder();
    if (self.record >= 0)
        status::attach(board_.get(), self.record);

    CliConfig cfg = gen.cfg;
    cfg.options.listeners.clear();
    for (const auto& key : gen.keys) {
        const Listener& l = listeners_.at(key);
        cfg.options.listeners.push_back(
            ListenSpec{l.protocol, "fd:" + std::to_string(l.socket.fd)});
    }
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
        code = serve_worker(std::move(cfg), hooks);
    } catch (const std::exception& e) {
        log::error(std::string("worker process: ") + e.what());
    } catch (...) {
        log::error("worker process: a non-standard exception");
    }
    attach_worker_slot(nullptr, -1, 0);
    std::exit(code);
}

void Supervisor::read_status(Worker& w) {
    char buf[512];
    for (;;) {
        const ssize_t n = ::read(w.status_fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0) {
            ::close(w.status_fd);
            w.status_fd = -1;
        }
        if (n <= 0)
            return;
        for (ssize_t i = 0; i < n; ++i) {
            const char c = buf[i];
            if (w.error_follows) {
                w.boot_error += c;
            } else if (c == 'E') {
                w.error_follows = true;
            } else if (c == 'R' && w.state == Worker::State::booting) {
                w.state = Worker::State::serving;
                w.ready_at = Clock::now();
                // At start the pool's readiness is one line (reconcile).
                log::write(ever_ready_ ? log::Level::info : log::Level::debug,
                           "worker " + std::to_string(w.pid) + " ready");
            } else if (c == 'Q' && w.state == Worker::State::serving && !w.retire) {
                w.retire = true;
                log::info("worker " + std::to_string(w.pid) + " served " +
                          count_of(w.slot->served(), "request") +
                          " (--max-requests): starting its replacement");
            }
        }
    }
}

void Supervisor::reap() {
    for (;;) {
        int status = 0;
        const pid_t pid = ::waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            return;
        auto it = std::find_if(workers_.begin(), workers_.end(),
                               [pid](const Worker& w) { return w.pid == pid; });
        if (it == workers_.end())
            continue;
        // Everything it wrote is in the pipe now.
        if (it->status_fd >= 0) {
            read_status(*it);
            if (it->status_fd >= 0)
                ::close(it->status_fd);
            it->status_fd = -1;
        }
        worker_exited(*it, status);
        // Its counts stay in the totals; its record is free again.
        board_->release(it->record);
        workers_.erase(it);
    }
}

/// The requests of `report` from the `first`-th on, at most kNamedRequests
/// of them named: "GET /x, GET /y and 3 more"; empty for none.
std::string requests_text(const WorkerSlot::InFlightReport& report, std::size_t first) {
    const std::size_t total = report.requests.size() - first + report.unnamed;
    std::string msg;
    for (std::size_t i = first; i < report.requests.size() && i < first + kNamedRequests; ++i)
        msg += (i == first ? "" : ", ") + report.requests[i];
    const std::size_t named = std::min(report.requests.size() - first, kNamedRequests);
    if (total > named)
        msg += (named > 0 ? " and " : "") + std::to_string(total - named) + " more";
    return msg;
}

/// "worker 4242 killed by signal 6 (SIGABRT: Aborted) while serving GET /x;
/// also in flight: GET /y; it had served 12 requests".
std::string death(const Worker& w, int status, const WorkerSlot::InFlightReport& report) {
    std::string msg = "worker " + std::to_string(w.pid) + " " + describe_status(status);
    std::size_t first = 0;
    if (report.crashed_thread_known) {
        msg += " while serving " + report.requests[0];
        first = 1;
    }
    if (const std::string others = requests_text(report, first); !others.empty())
        msg += (first == 1 ? "; also in flight: " : " with requests in flight: ") + others;
    else if (first == 0)
        msg += " with no request in flight";
    return msg + "; it had served " + count_of(w.slot->served(), "request");
}

void Supervisor::worker_exited(Worker& w, int status) {
    const auto now = Clock::now();
    const std::string who = "worker " + std::to_string(w.pid);
    if (fatal_)
        return;  // the one line is out; the others died of the same
    if (w.state == Worker::State::stopping) {
        const bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (clean || w.killed)
            log::info(who + " stopped");
        else  // died while draining: as much a crash as any
            log::error(death(w, status, w.slot->in_flight()) + " (it was stopping)");
        return;
    }
    auto hold_spawns = [&](milliseconds delay) {
        next_spawn_ = std::max(next_spawn_, now + delay);
        return delay.count() == 0 ? std::string("; replacing it")
                                  : "; replacing it in " + ms_text(delay) + " (" +
                                        std::to_string(backoff_.streak()) + " deaths in a row)";
    };
    // A worker starts taking requests a moment before its 'R' reaches the
    // master: one that ran requests was serving, whatever the pipe said.
    if (w.state == Worker::State::booting && !w.error_follows &&
        (w.slot->served() > 0 || !w.slot->in_flight().requests.empty() ||
         w.slot->in_flight().unnamed > 0)) {
        w.state = Worker::State::serving;
        w.ready_at = now;
    }
    if (w.state == Worker::State::booting) {
        const std::string why = !w.boot_error.empty()
                                    ? w.boot_error
                                    : who + " " + describe_status(status) + " while starting";
        if (!ever_ready_) {
            // At start-up: one clear line and a non-zero exit, not a loop
            // of workers failing the same way.
            log::error(why);
            fatal_ = true;
        } else if (previous_ && w.gen == current_) {
            abandon_reload(why);
        } else {
            const auto delay = backoff_.failure(Clock::duration::zero());
            next_spawn_ = std::max(next_spawn_, now + delay);
            log::error("a new worker could not start: " + why + "; trying again in " +
                       ms_text(delay));
        }
        return;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        log::warn(who + " exited: it was sent a stop signal directly, not through the master (" +
                  std::to_string(master_pid_) + ")" + hold_spawns(milliseconds(0)));
        board_->restarted(status::Restart::crashed);
        ++owed_;
        return;
    }
    board_->restarted(status::Restart::crashed);
    const WorkerSlot::InFlightReport report = w.slot->in_flight();
    const std::string what =
        death(w, status, report) + (w.silent ? " (silent past --worker-timeout)" : "");
    if (!report.requests.empty() || report.unnamed > 0 || w.killed) {
        // It died while serving (or the master killed it for a request or
        // for its silence): replaced at once, however young. Backing off
        // here would let one URL that crashes its worker, repeated, empty
        // the pool (PHP-FPM replaces such a child at once too).
        ++owed_;
        log::error(what + "; replacing it at once");
        if (!w.silent)  // a frozen worker is no crash a request caused
            crash_storm(now, report);
        return;
    }
    // It died ready but with nothing to do: if young, and again and again,
    // a module that crashes on its own (a thread of its own) could make the
    // master spin, so the back-off holds; never to the point of leaving no
    // worker at all.
    const auto delay = backoff_.failure(now - w.ready_at);
    if (others_alive(&w) == 0) {
        ++owed_;
        log::error(what + "; replacing it at once (no other worker serves)");
        return;
    }
    log::error(what + hold_spawns(delay));
}

void Supervisor::crash_storm(Clock::time_point now, const WorkerSlot::InFlightReport& report) {
    while (!crashes_.empty() && now - crashes_.front().first >= kStormWindow)
        crashes_.pop_front();
    std::vector<std::string> requests = report.requests;
    if (report.unnamed > 0)
        requests.push_back(count_of(report.unnamed, "unnamed request"));
    crashes_.emplace_back(now, std::move(requests));
    if (crashes_.size() < kStormCrashes)
        return;
    // Which requests the dead workers were running, most frequent first:
    // the ones to block at the front end if they crash the application.
    std::map<std::string, std::size_t> by_request;
    std::size_t idle = 0;
    for (const auto& [at, reqs] : crashes_) {
        for (const auto& r : reqs)
            ++by_request[r];
        idle += reqs.empty();
    }
    std::vector<std::pair<std::size_t, std::string>> ranked;
    for (const auto& [r, n] : by_request)
        ranked.emplace_back(n, r);
    std::stable_sort(ranked.begin(), ranked.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });
    std::string list;
    for (std::size_t i = 0; i < ranked.size() && i < kNamedRequests; ++i)
        list +=
            (i == 0 ? "" : ", ") + ranked[i].second + " (" + std::to_string(ranked[i].first) + "x)";
    if (ranked.size() > kNamedRequests)
        list += " and " + std::to_string(ranked.size() - kNamedRequests) + " other requests";
    if (idle > 0)
        list += (list.empty() ? "" : "; ") + std::to_string(idle) + " with no request in flight";
    log::error("crash storm: " + std::to_string(crashes_.size()) +
               " worker processes died while serving in the last minute, running: " + list +
               "; each is replaced at once (if a request crashes the application, block it at "
               "the front end)");
}

std::size_t Supervisor::others_alive(const Worker* except) const {
    return static_cast<std::size_t>(
        std::count_if(workers_.begin(), workers_.end(), [&](const Worker& w) {
            return &w != except && w.gen == current_ && !w.killed &&
                   w.state != Worker::State::stopping;
        }));
}

std::size_t Supervisor::count(const GenerationPtr& gen, Worker::State state) const {
    return static_cast<std::size_t>(std::count_if(
        workers_.begin(), workers_.end(),
        [&](const Worker& w) { return w.gen == gen && !w.retire && w.state == state; }));
}

std::string Supervisor::pids(const GenerationPtr& gen) const {
    std::string out;
    for (const auto& w : workers_)
        if (w.gen == gen && w.state == Worker::State::serving && !w.retire)
            out += (out.empty() ? "" : " ") + std::to_string(w.pid);
    return out;
}

void Supervisor::reconcile() {
    if (stopping_ || fatal_)
        return;
    const std::size_t want = wanted();
    std::size_t active =
        count(current_, Worker::State::booting) + count(current_, Worker::State::serving);
    // SIGTTOU: the oldest workers go first, as gunicorn's do (workers_ is
    // in the order they were started).
    for (auto it = workers_.begin(); it != workers_.end() && active > want; ++it) {
        if (it->gen == current_ && !it->retire && it->state != Worker::State::stopping) {
            stop_worker(*it, "SIGTTOU: one worker process fewer");
            --active;
        }
    }
    while (active < want && (owed_ > 0 || Clock::now() >= next_spawn_) && spawn()) {
        ++active;
        owed_ -= owed_ > 0;
    }
    if (active >= want)
        owed_ = 0;
    if (count(current_, Worker::State::serving) < want)
        return;
    // The wanted pool serves: what it replaces can stop.
    const std::string status = "STATUS=" + std::to_string(want) + " worker processes serving";
    if (!ever_ready_) {
        ever_ready_ = true;
        announce(*current_);
        log::info(std::to_string(want) + " worker processes serving: " + pids(current_));
        notifier_.notify("READY=1\n" + status);
    }
    if (previous_) {
        previous_.reset();
        apply_log_level(current_->cfg.log_level);
        announce(*current_);
        log::info("reload done: " + std::to_string(want) +
                  " worker processes serving: " + pids(current_));
        notifier_.notify("READY=1\n" + status);
    }
    for (auto& w : workers_) {
        if (w.state != Worker::State::stopping && (w.gen != current_ || w.retire)) {
            board_->restarted(w.retire ? status::Restart::recycled : status::Restart::reloaded);
            stop_worker(w, w.retire ? "replaced after --max-requests"
                                    : "replaced by the reloaded configuration");
        }
    }
    close_unused_listeners();
}

void Supervisor::stop_worker(Worker& w, const std::string& why) {
    ::kill(w.pid, SIGTERM);
    w.state = Worker::State::stopping;
    w.kill_at = Clock::now() + w.gen->cfg.options.drain_timeout + kKillGrace;
    log::info("stopping worker " + std::to_string(w.pid) + " (" + why +
              "): it finishes its requests in flight");
}

void Supervisor::reload() {
    if (stopping_)
        return;
    log::info("received SIGHUP: reloading the configuration");
    notifier_.notify("RELOADING=1");
    try {
        CliConfig cfg = load_();
        if (cfg.processes == 0)
            throw std::runtime_error(
                "--processes 0 (one process, no supervisor) takes a restart, not a reload");
        GenerationPtr gen = prepare(std::move(cfg));
        if (!previous_)
            previous_ = current_;
        current_ = std::move(gen);
        wanted_.reset();
        board_->set_processes(current_->cfg.processes);
        // The operator acted: start the new workers now, whatever the
        // streak of crashes before.
        backoff_ = Backoff();
        next_spawn_ = Clock::time_point{};
        log::info("starting " + std::to_string(current_->cfg.processes) +
                  " worker processes with the reloaded configuration");
    } catch (const std::exception& e) {
        log::error(std::string("reload failed: ") + e.what() +
                   "; the current workers go on serving");
        notifier_.notify("READY=1");
    }
}

void Supervisor::reopen_logs() {
    const std::vector<std::string> done = log::reopen();
    std::string what;
    for (const auto& d : done)
        what += (what.empty() ? "" : ", ") + d;
    log::info("received SIGUSR1: " +
              (what.empty() ? std::string("the master has no log file to reopen")
                            : "reopened the " + what) +
              "; telling the worker processes (" + std::to_string(workers_.size()) +
              ") to reopen theirs");
    for (const auto& w : workers_)
        ::kill(w.pid, SIGUSR1);
}

void Supervisor::resize(int delta) {
    if (stopping_)
        return;
    const char* sig = delta > 0 ? "SIGTTIN" : "SIGTTOU";
    const std::size_t now = wanted();
    const std::size_t next = delta > 0 ? std::min<std::size_t>(now + 1, 1024) : now - (now > 1);
    if (next == now) {
        log::warn(std::string("received ") + sig + ": " + std::to_string(now) +
                  " worker processes already, the " + (delta > 0 ? "most" : "fewest") +
                  " there can be; unchanged");
        return;
    }
    wanted_ = next;
    board_->set_processes(static_cast<unsigned>(next));
    log::info(std::string("received ") + sig + ": " + std::to_string(next) +
              " worker processes from now on (until the next reload)");
}

void Supervisor::abandon_reload(const std::string& why) {
    log::error("reload failed: " + why +
               "; the workers of the previous configuration go on serving");
    for (auto& w : workers_)
        if (w.gen == current_ && w.state != Worker::State::stopping)
            stop_worker(w, "its configuration failed to start");
    current_ = previous_;
    previous_.reset();
    board_->set_processes(current_->cfg.processes);
    close_unused_listeners();
    notifier_.notify("READY=1");
}

void Supervisor::shut_down(bool drain, const char* signal) {
    if (stopping_ && drain)
        return;
    const std::size_t n = workers_.size();
    if (!stopping_) {
        stopping_ = true;
        notifier_.notify("STOPPING=1");
        log::info(std::string("received ") + signal + ": " +
                  (drain ? "stopping " + std::to_string(n) +
                               " worker processes; requests in flight may finish within " +
                               ms_text(current_->cfg.options.drain_timeout)
                         : "killing " + std::to_string(n) + " worker processes"));
    }
    for (auto& w : workers_) {
        if (!drain) {
            ::kill(w.pid, SIGKILL);
            w.state = Worker::State::stopping;
            w.killed = true;
        } else if (w.state != Worker::State::stopping) {
            ::kill(w.pid, SIGTERM);
            w.state = Worker::State::stopping;
            w.kill_at = Clock::now() + w.gen->cfg.options.drain_timeout + kKillGrace;
        }
    }
    // The workers close their copies as they stop accepting: from then on
    // a new connection is refused, and a front end's balancer moves on.
    while (!listeners_.empty())
        close_listener(listeners_.begin());
}

void Supervisor::announce(const Generation& gen) const {
    for (const auto& key : gen.keys) {
        const Listener& l = listeners_.at(key);
        log::info("listening on " + l.protocol + "=" + l.socket.address);
    }
    for (const auto& [prefix, file] : gen.cfg.modules)
        log::info("mounted " + file + " at " + prefix);
}

void Supervisor::close_listener(std::map<std::string, Listener>::iterator it) {
    const BoundSocket& s = it->second.socket;
    ::close(s.fd);
    if (s.unix_socket && s.owns_path && !s.unix_path.empty())
        ::unlink(s.unix_path.c_str());
    listeners_.erase(it);
}

void Supervisor::close_unused_listeners() {
    std::set<std::string> used;
    auto use = [&](const GenerationPtr& g) {
        if (g)
            used.insert(g->keys.begin(), g->keys.end());
    };
    use(current_);
    use(previous_);
    for (const auto& w : workers_)
        use(w.gen);
    for (auto it = listeners_.begin(); it != listeners_.end();) {
        auto next = std::next(it);
        if (used.count(it->first) == 0) {
            log::info("no longer listening on " + it->first);
            close_listener(it);
        }
        it = next;
    }
}

void Supervisor::check_request_times(Clock::time_point now) {
    for (auto& w : workers_) {
        const milliseconds limit = w.gen->cfg.request_timeout;
        if (limit.count() == 0 || w.killed || w.state != Worker::State::serving)
            continue;
        const auto longest = w.slot->longest(now);
        if (!longest || longest->running < limit)
            continue;
        // A thread cannot be stopped safely inside a callback: the process
        // goes, and with it the other requests it was running.
        log::error("worker " + std::to_string(w.pid) + " has been running " + longest->request +
                   " for " + ms_text(std::chrono::duration_cast<milliseconds>(longest->running)) +
                   " (--request-timeout " + ms_text(limit) + "): killing it");
        ::kill(w.pid, SIGKILL);
        w.killed = true;
    }
}

void Supervisor::check_heartbeats(Clock::time_point now) {
    // When the master itself did not run for a while (the whole process
    // group stopped and continued, a machine swapping hard), the workers'
    // silence says nothing yet: they get one more look to beat again.
    // Their silence is counted from the master's resumption at the
    // earliest, so a loaded machine that is slow to run them again after a
    // stop does not cost a worker.
    const auto gap = now - heartbeats_checked_;
    heartbeats_checked_ = now;
    for (auto& w : workers_) {
        const milliseconds limit = w.gen->cfg.worker_timeout;
        if (limit.count() > 0 && gap > limit / 2)
            heartbeats_resumed_ = now;
    }
    for (auto& w : workers_) {
        const milliseconds limit = w.gen->cfg.worker_timeout;
        if (limit.count() == 0 || w.killed || w.state != Worker::State::serving)
            continue;
        // A reactor beats from its start, a little before the master reads
        // the worker's 'R'.
        const auto last =
            std::max({w.slot->heartbeat().value_or(w.ready_at), w.ready_at, heartbeats_resumed_});
        if (now - last < limit)
            continue;
        const WorkerSlot::InFlightReport report = w.slot->in_flight();
        const std::string running = requests_text(report, 0);
        log::error(
            "worker " + std::to_string(w.pid) + " has given no sign of life for " +
            ms_text(std::chrono::duration_cast<milliseconds>(now - last)) + " (--worker-timeout " +
            ms_text(limit) + "; stopped, swapped out or deadlocked?), " +
            (running.empty() ? std::string("with no request in flight") : "running " + running) +
            "; its connections hang: killing it");
        ::kill(w.pid, SIGKILL);
        w.killed = true;
        w.silent = true;
    }
}

int Supervisor::poll_timeout(Clock::time_point now) const {
    Clock::time_point next = Clock::time_point::max();
    for (const auto& w : workers_)
        if (w.gen->cfg.worker_timeout.count() > 0 && !w.killed)
            next = std::min(
                next, now + std::clamp<Clock::duration>(w.gen->cfg.worker_timeout / 4,
                                                        milliseconds(20), std::chrono::seconds(1)));
    if (owed_ > 0)
        next = now;
    for (const auto& w : workers_)
        if (w.gen->cfg.request_timeout.count() > 0 && !w.killed)
            next = std::min(
                next, now + std::clamp<Clock::duration>(w.gen->cfg.request_timeout / 10,
                                                        milliseconds(20), std::chrono::seconds(1)));
    if (!stopping_ && !fatal_ &&
        count(current_, Worker::State::booting) + count(current_, Worker::State::serving) <
            wanted())
        next = std::min(next, next_spawn_);
    for (const auto& w : workers_)
        if (w.state == Worker::State::stopping && !w.killed)
            next = std::min(next, w.kill_at);
    if (next == Clock::time_point::max())
        return -1;
    if (next <= now)
        return 0;
    // Rounded up: waking early would only poll again.
    return static_cast<int>(std::chrono::ceil<milliseconds>(next - now).count());
}

}  // namespace

int run_gateway(CliConfig cfg, const ConfigLoader& load) {
    apply_log_level(cfg.log_level);
    // SIGUSR1 reopens it by this name.
    log::remember_error_log();
    const systemd::Notifier notifier = systemd::Notifier::from_environment();
    std::vector<std::string> passed;
    try {
        passed = take_passed_sockets();
    } catch (const std::exception& e) {
        log::error(e.what());
        return 1;
    }
    if (cfg.processes == 0)
        return serve_single(std::move(cfg), passed, notifier);
    Supervisor supervisor(load, notifier, std::move(passed));
    return supervisor.run(std::move(cfg));
}

}  // namespace postern
