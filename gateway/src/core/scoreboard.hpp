// Postern core: the scoreboard, a record of each worker process kept in
// memory it shares with the supervisor (as Apache's scoreboard and
// PHP-FPM's shared status do). A worker notes there the requests it is
// running and how many it has served; after the worker dies, the supervisor
// reads which requests died with it, and which one's thread crashed. The
// worker's reactor also beats there (worker_heartbeat()), so the supervisor
// can tell a frozen worker from a live one (--worker-timeout).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postern {

/// One worker's record: an anonymous MAP_SHARED mapping, made by the
/// supervisor before fork() so that both processes see the same memory.
/// The worker writes it without locks (each thread its own entry); the
/// supervisor reads it once the worker has exited (or for a test, from the
/// writing thread), so reads never race with writes. Not copyable.
class WorkerSlot {
  public:
    /// Room for `threads` requests in flight at once (threads running
    /// callbacks beyond that are counted, not named). Throws
    /// std::runtime_error when the mapping cannot be made.
    explicit WorkerSlot(std::size_t threads);
    ~WorkerSlot();
    WorkerSlot(const WorkerSlot&) = delete;
    WorkerSlot& operator=(const WorkerSlot&) = delete;

    /// Requests the worker finished.
    std::uint64_t served() const noexcept;

    struct InFlightReport {
        /// "METHOD URI" of each request running at the end; the one whose
        /// thread received the fatal signal first when it is known.
        std::vector<std::string> requests;
        /// requests[0] ran on the thread that crashed (SIGSEGV, SIGABRT...).
        bool crashed_thread_known = false;
        /// Requests running beyond the slot's room, not named.
        std::size_t unnamed = 0;
    };
    /// What was running when the worker stopped.
    InFlightReport in_flight() const;

    /// From now on each request notes when it started (--request-timeout);
    /// before the worker is forked.
    void time_requests() noexcept;
    struct Longest {
        std::string request;  ///< "METHOD URI"
        std::chrono::steady_clock::duration running;
    };
    /// The request that has run longest, read while the worker runs (racy
    /// by nature: a request may end meanwhile); nullopt when none runs or
    /// requests are not timed.
    std::optional<Longest> longest(std::chrono::steady_clock::time_point now) const;

    /// When the worker's reactor last beat (worker_heartbeat()); nullopt
    /// before the first beat. Read while the worker runs.
    std::optional<std::chrono::steady_clock::time_point> heartbeat() const noexcept;

    struct Header;
    struct Entry;

  private:
    friend class InFlight;
    friend void attach_worker_slot(WorkerSlot*, int, std::uint64_t) noexcept;
    friend void install_crash_recorder() noexcept;
    friend void worker_heartbeat() noexcept;

    Header* header_ = nullptr;
    std::size_t bytes_ = 0;
};

/// In a worker process, before its threads start: requests are recorded in
/// `slot` from now on (nullptr: no longer). Once `recycle_after` requests
/// (0: never) have been served, one byte 'Q' is written to `notify_fd`: the
/// worker asks the supervisor to replace it (--max-requests).
void attach_worker_slot(WorkerSlot* slot, int notify_fd, std::uint64_t recycle_after) noexcept;

/// In a worker process: on SIGSEGV, SIGBUS, SIGFPE, SIGILL and SIGABRT,
/// notes in the attached slot which request's thread received it, then
/// dies of that signal as it would have (the wait status and a core dump
/// are unchanged).
void install_crash_recorder() noexcept;

/// In a worker process: notes in the attached slot that the process is
/// alive now (a steady_clock reading in shared memory). Called by the
/// reactor's sweeper on each of its passes; one load when no slot is
/// attached. Lock-free.
void worker_heartbeat() noexcept;

/// Marks one request as running in the attached slot for its lifetime
/// (App::handle holds one around the callback), and counts it when done.
/// Costs one load when no slot is attached (single process, library mode).
class InFlight {
  public:
    InFlight(std::string_view method, std::string_view uri) noexcept;
    ~InFlight();
    InFlight(const InFlight&) = delete;
    InFlight& operator=(const InFlight&) = delete;

  private:
    WorkerSlot::Header* header_ = nullptr;
    WorkerSlot::Entry* entry_ = nullptr;
};

}  // namespace postern
