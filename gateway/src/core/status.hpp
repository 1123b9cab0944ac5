// Postern core: the counters behind --status PATH. Every worker process
// counts its requests in a record of one board, a MAP_SHARED mapping the
// supervisor makes before it forks (as PHP-FPM's shared status and Apache's
// scoreboard do), so whichever worker answers a status request sums what
// all of them did. Per listener: requests by status class, in flight,
// bytes, refused connections, malformed input by kind, a latency
// histogram; per worker: its pid, requests, in flight; for the pool: the
// workers restarted and why. Rendered as JSON or in the Prometheus text
// exposition format (version 0.0.4).
//
// Counting costs a handful of relaxed atomic additions per request, and one
// load when no record is attached (no --status).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace postern::status {

/// Malformed input, by kind.
enum class Malformed : std::uint8_t {
    bad_request,  ///< broken framing, a bad record or packet, a bad field (400)
    too_large,    ///< a limit on a head, a field count or a body (413, 414, 431)
    timeout,      ///< a request that stalled half-way (408)
    forbidden,    ///< a wrong or missing AJP secret (403)
    other,
    count_
};
inline constexpr std::array<std::string_view, 5> kMalformedNames = {
    "bad_request", "too_large", "timeout", "forbidden", "other"};

/// Connections closed at accept, by reason.
enum class Refused : std::uint8_t {
    overloaded,   ///< --max-connections reached (answered 503)
    not_allowed,  ///< not on --allow, --allow-uid, --allow-gid
    count_
};
inline constexpr std::array<std::string_view, 2> kRefusedNames = {"overloaded", "not_allowed"};

/// Why the supervisor replaced a worker.
enum class Restart : std::uint8_t {
    crashed,   ///< died of a signal or an exit it was not asked for
    recycled,  ///< --max-requests
    reloaded,  ///< SIGHUP
    count_
};
inline constexpr std::array<std::string_view, 3> kRestartNames = {"crashed", "recycled",
                                                                  "reloaded"};

/// Upper bounds of the latency histogram's buckets, in microseconds (the
/// last bucket, +Inf, is implicit).
inline constexpr std::array<std::uint64_t, 14> kLatencyBoundsUs = {
    500,     1'000,   2'500,   5'000,     10'000,    25'000,    50'000,
    100'000, 250'000, 500'000, 1'000'000, 2'500'000, 5'000'000, 10'000'000};

/// The status class index of an HTTP status: 0 for 1xx ... 4 for 5xx, 5 for
/// anything else (no answer at all).
constexpr std::size_t status_class(int status) noexcept {
    return status >= 100 && status < 600 ? static_cast<std::size_t>(status / 100 - 1) : 5;
}
inline constexpr std::array<std::string_view, 6> kClassNames = {"1xx", "2xx", "3xx",
                                                                "4xx", "5xx", "none"};

/// One listener's counters in one worker: only lock-free atomics, which work
/// across processes.
struct Counters {
    std::array<std::atomic<std::uint64_t>, 6> requests;
    std::atomic<std::uint64_t> in_flight;       ///< may wrap below zero transiently: read signed
    std::atomic<std::uint64_t> detached;        ///< detached responses open (read signed)
    std::atomic<std::uint64_t> bytes_received;  ///< request body bytes
    std::atomic<std::uint64_t> bytes_sent;      ///< response body bytes
    std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(Refused::count_)> refused;
    std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(Malformed::count_)> malformed;
    std::array<std::atomic<std::uint64_t>, kLatencyBoundsUs.size() + 1> latency;
    std::atomic<std::uint64_t> latency_sum_us;
};

/// Plain numbers summed from Counters.
struct Totals {
    std::array<std::uint64_t, 6> requests{};
    std::int64_t in_flight = 0;
    std::int64_t detached = 0;
    std::uint64_t bytes_received = 0;
    std::uint64_t bytes_sent = 0;
    std::array<std::uint64_t, static_cast<std::size_t>(Refused::count_)> refused{};
    std::array<std::uint64_t, static_cast<std::size_t>(Malformed::count_)> malformed{};
    std::array<std::uint64_t, kLatencyBoundsUs.size() + 1> latency{};
    std::uint64_t latency_sum_us = 0;

    void add(const Counters& c) noexcept;
    void add(const Totals& t) noexcept;
    std::uint64_t requests_total() const noexcept;
};

/// What a status page shows, read from a board at one moment.
struct Snapshot {
    struct Listener {
        std::string name;      ///< "fastcgi=127.0.0.1:9000"
        std::string protocol;  ///< "fastcgi"
        Totals totals;
    };
    struct Worker {
        long pid = 0;
        std::int64_t started = 0;  ///< Unix time
        Totals totals;             ///< over every listener
    };
    long master_pid = 0;
    std::int64_t started = 0;  ///< Unix time the board was made
    std::int64_t now = 0;
    unsigned processes = 0;  ///< worker processes wanted (0: one process)
    std::array<std::uint64_t, static_cast<std::size_t>(Restart::count_)> restarts{};
    std::vector<Listener> listeners;
    std::vector<Worker> workers;  ///< live ones, by record
    Totals totals;                ///< every listener, every worker, dead ones too
};

/// The board: a header, a record of counters for workers that have exited
/// (folded in so that totals never go down), and `records` worker records.
/// Not copyable.
class Board {
  public:
    static constexpr std::size_t kMaxListeners = 32;
    static constexpr std::size_t kNameBytes = 120;

    /// Throws std::runtime_error when the mapping cannot be made.
    Board(std::size_t records, unsigned processes);
    ~Board();
    Board(const Board&) = delete;
    Board& operator=(const Board&) = delete;

    /// The slot of listener `name` ("PROTOCOL=ADDRESS"), added when new;
    /// -1 when the board has no room left. Adding is for one process at a
    /// time (the supervisor before it forks, or a single-process Server).
    int listener(std::string_view name, std::string_view protocol);

    /// A free worker record for a worker about to start, or -1 (full). For
    /// the supervisor (one thread).
    int claim();
    /// The worker of `record` runs as `pid`.
    void started(int record, long pid) noexcept;
    /// The worker of `record` has exited (no more writes to it): its counts
    /// move to the retired record and the record is free again.
    void release(int record) noexcept;
    void restarted(Restart why) noexcept;
    void set_processes(unsigned n) noexcept;

    /// Listener `listener`'s counters in record `record`; nullptr if either
    /// is out of range.
    Counters* counters(int record, int listener) noexcept;

    Snapshot snapshot() const;

    struct Header;
    struct Record;

  private:
    Header* header_ = nullptr;
    std::size_t bytes_ = 0;
};

/// In the process that serves requests: counts go to `record` of `board`
/// from now on (nullptr: nowhere).
void attach(Board* board, int record) noexcept;
/// The attached board, or nullptr.
Board* attached() noexcept;

/// This process's counters for listener `listener`, or nullptr (none
/// attached, or no such listener).
Counters* counters(int listener) noexcept;

/// Counts a request in flight on `c` (nullptr: nothing) for its lifetime.
class InFlightCount {
  public:
    explicit InFlightCount(Counters* c) noexcept : c_(c) {
        if (c_ != nullptr)
            c_->in_flight.fetch_add(1, std::memory_order_relaxed);
    }
    ~InFlightCount() {
        if (c_ != nullptr)
            c_->in_flight.fetch_sub(1, std::memory_order_relaxed);
    }
    InFlightCount(const InFlightCount&) = delete;
    InFlightCount& operator=(const InFlightCount&) = delete;

  private:
    Counters* c_;
};

/// Counting helpers; each does nothing when `listener`'s counters are absent.
void count_refused(int listener, Refused why) noexcept;
void count_malformed(int listener, Malformed kind) noexcept;
/// The kind of malformed input a refusal with `status` stands for.
Malformed malformed_kind(int status) noexcept;

/// The status page. `format` is "json" or "prometheus".
std::string render_json(const Snapshot& s);
std::string render_prometheus(const Snapshot& s);

}  // namespace postern::status
