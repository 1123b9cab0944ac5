#include "core/master.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>
#include <stdexcept>

#include "core/connection.hpp"
#include "core/log.hpp"

namespace postern::supervision {

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
    SupervisedWorker w;
    w.cfg = gen.cfg;
    w.cfg.options.listeners.clear();
    for (const auto& key : gen.keys) {
        const Listener& l = listeners_.at(key);
        w.cfg.options.listeners.push_back(
            ListenSpec{l.protocol, "fd:" + std::to_string(l.socket.fd)});
    }
    w.slot = self.slot.get();
    w.status_fd = status_fd;
    w.limit = limit;
    w.board = board_.get();
    w.record = self.record;
    serve_supervised(std::move(w));
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

int run_master(CliConfig cfg, const ConfigLoader& load, const systemd::Notifier& notifier,
               std::vector<std::string> passed) {
    Supervisor supervisor(load, notifier, std::move(passed));
    return supervisor.run(std::move(cfg));
}

}  // namespace postern::supervision
