// How the master watches its workers: a death logged with the requests it
// cut short and the worker replaced (at once or after a back-off), crash
// storms, --request-timeout and --worker-timeout.
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "core/log.hpp"
#include "core/master.hpp"

namespace postern::supervision {

namespace {

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

}  // namespace

void Supervisor::worker_exited(Worker& w, int status) {
    const auto now = Clock::now();
    const std::string who = "worker " + std::to_string(w.pid);
    if (fatal_)
        return;  // the one line is out; the others died of the same
    if (w.state == Worker::State::stopping) {
        const bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (w.error_follows)
            // A worker of a reload abandoned because another one could not
            // start (a module that does not load, a setup that throws):
            // that one line is out; this one failed the same way.
            log::debug(who + " could not start either: " + w.boot_error);
        else if (clean || w.killed)
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
    // silence says nothing yet: it counts from the master's resumption at
    // the earliest, so a loaded machine that is slow to run them again after
    // the stop does not cost a worker.
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

}  // namespace postern::supervision
