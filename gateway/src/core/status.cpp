#include "core/status.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <new>
#include <stdexcept>
#include <thread>

namespace postern::status {

// Both live in memory shared between processes: lock-free atomics (which
// are address-free) and plain bytes only.
struct Board::Header {
    /// Odd while the supervisor folds a record into the retired one: a
    /// reader that saw it change reads again (a sequence lock).
    std::atomic<std::uint32_t> seq;
    std::atomic<std::uint32_t> listener_count;
    std::atomic<std::uint32_t> processes;
    std::uint32_t records;
    std::int64_t started;
    std::int64_t master_pid;
    std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(Restart::count_)> restarts;
    char names[kMaxListeners][kNameBytes];
    char protocols[kMaxListeners][16];
};

struct Board::Record {
    /// 0 free, 1 taken by a worker (which may not have started yet).
    std::atomic<std::uint32_t> state;
    std::atomic<std::int64_t> pid;
    std::atomic<std::int64_t> started;
    Counters listeners[kMaxListeners];
};

static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<std::int64_t>::is_always_lock_free);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);

namespace {

constexpr auto relaxed = std::memory_order_relaxed;

Board::Record* record_at(Board::Header* h, std::size_t i) {
    // Record 0 is the retired one; worker records follow.
    return reinterpret_cast<Board::Record*>(reinterpret_cast<char*>(h) + sizeof(Board::Header)) + i;
}

std::int64_t unix_now() {
    return static_cast<std::int64_t>(std::time(nullptr));
}

template <std::size_t N>
void add_into(std::array<std::uint64_t, N>& to,
              const std::array<std::atomic<std::uint64_t>, N>& from) {
    for (std::size_t i = 0; i < N; ++i)
        to[i] += from[i].load(relaxed);
}

template <std::size_t N>
void fold_into(std::array<std::atomic<std::uint64_t>, N>& to,
               std::array<std::atomic<std::uint64_t>, N>& from) {
    for (std::size_t i = 0; i < N; ++i) {
        to[i].fetch_add(from[i].load(relaxed), relaxed);
        from[i].store(0, relaxed);
    }
}

std::atomic<Board*> g_board{nullptr};
std::atomic<int> g_record{-1};

}  // namespace

void Totals::add(const Counters& c) noexcept {
    add_into(requests, c.requests);
    in_flight += static_cast<std::int64_t>(c.in_flight.load(relaxed));
    detached += static_cast<std::int64_t>(c.detached.load(relaxed));
    bytes_received += c.bytes_received.load(relaxed);
    bytes_sent += c.bytes_sent.load(relaxed);
    add_into(refused, c.refused);
    add_into(malformed, c.malformed);
    add_into(latency, c.latency);
    latency_sum_us += c.latency_sum_us.load(relaxed);
}

void Totals::add(const Totals& t) noexcept {
    for (std::size_t i = 0; i < requests.size(); ++i)
        requests[i] += t.requests[i];
    in_flight += t.in_flight;
    detached += t.detached;
    bytes_received += t.bytes_received;
    bytes_sent += t.bytes_sent;
    for (std::size_t i = 0; i < refused.size(); ++i)
        refused[i] += t.refused[i];
    for (std::size_t i = 0; i < malformed.size(); ++i)
        malformed[i] += t.malformed[i];
    for (std::size_t i = 0; i < latency.size(); ++i)
        latency[i] += t.latency[i];
    latency_sum_us += t.latency_sum_us;
}

std::uint64_t Totals::requests_total() const noexcept {
    std::uint64_t n = 0;
    for (std::uint64_t r : requests)
        n += r;
    return n;
}

Board::Board(std::size_t records, unsigned processes) {
    records = std::clamp<std::size_t>(records, 1, 4096);
    const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    bytes_ = (sizeof(Header) + (records + 1) * sizeof(Record) + page - 1) / page * page;
    // Untouched pages cost no memory: a record's pages are touched only for
    // the listeners its worker serves.
    void* p = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        throw std::runtime_error(std::string("cannot map the status board: ") +
                                 std::strerror(errno));
    // Fresh anonymous memory is zero, which is every counter's start.
    header_ = new (p) Header{};
    header_->records = static_cast<std::uint32_t>(records);
    header_->processes.store(processes);
    header_->started = unix_now();
    header_->master_pid = ::getpid();
    for (std::size_t i = 0; i <= records; ++i)
        new (record_at(header_, i)) Record{};
}

Board::~Board() {
    if (g_board.load() == this) {
        g_board.store(nullptr);
        g_record.store(-1);
    }
    ::munmap(header_, bytes_);
}

int Board::listener(std::string_view name, std::string_view protocol) {
    const std::uint32_t n = header_->listener_count.load(std::memory_order_acquire);
    name = name.substr(0, kNameBytes - 1);
    for (std::uint32_t i = 0; i < n; ++i)
        if (name == header_->names[i])
            return static_cast<int>(i);
    if (n >= kMaxListeners)
        return -1;
    std::memcpy(header_->names[n], name.data(), name.size());
    header_->names[n][name.size()] = '\0';
    protocol = protocol.substr(0, sizeof(header_->protocols[n]) - 1);
    std::memcpy(header_->protocols[n], protocol.data(), protocol.size());
    header_->protocols[n][protocol.size()] = '\0';
    header_->listener_count.store(n + 1, std::memory_order_release);
    return static_cast<int>(n);
}

int Board::claim() {
    for (std::uint32_t i = 1; i <= header_->records; ++i) {
        Record* r = record_at(header_, i);
        if (r->state.load() == 0) {
            r->pid.store(0);
            r->started.store(unix_now());
            r->state.store(1);
            return static_cast<int>(i);
        }
    }
    return -1;
}

void Board::started(int record, long pid) noexcept {
    if (record < 1 || static_cast<std::uint32_t>(record) > header_->records)
        return;
    record_at(header_, static_cast<std::size_t>(record))->pid.store(pid);
}

void Board::release(int record) noexcept {
    if (record < 1 || static_cast<std::uint32_t>(record) > header_->records)
        return;
    Record* r = record_at(header_, static_cast<std::size_t>(record));
    Record* retired = record_at(header_, 0);
    header_->seq.fetch_add(1, std::memory_order_acq_rel);  // odd: folding
    std::atomic_thread_fence(std::memory_order_release);
    for (std::size_t l = 0; l < kMaxListeners; ++l) {
        Counters& from = r->listeners[l];
        Counters& to = retired->listeners[l];
        fold_into(to.requests, from.requests);
        // Requests in flight died with the worker: not carried over.
        from.in_flight.store(0, relaxed);
        from.detached.store(0, relaxed);
        to.bytes_received.fetch_add(from.bytes_received.exchange(0, relaxed), relaxed);
        to.bytes_sent.fetch_add(from.bytes_sent.exchange(0, relaxed), relaxed);
        fold_into(to.refused, from.refused);
        fold_into(to.malformed, from.malformed);
        fold_into(to.latency, from.latency);
        to.latency_sum_us.fetch_add(from.latency_sum_us.exchange(0, relaxed), relaxed);
    }
    r->pid.store(0);
    header_->seq.fetch_add(1, std::memory_order_release);  // even: done
    r->state.store(0);
}

void Board::restarted(Restart why) noexcept {
    header_->restarts[static_cast<std::size_t>(why)].fetch_add(1, relaxed);
}

void Board::set_processes(unsigned n) noexcept {
    header_->processes.store(n, relaxed);
}

Counters* Board::counters(int record, int listener) noexcept {
    if (record < 0 || static_cast<std::uint32_t>(record) > header_->records || listener < 0 ||
        static_cast<std::size_t>(listener) >= kMaxListeners)
        return nullptr;
    return &record_at(header_, static_cast<std::size_t>(record))->listeners[listener];
}

Snapshot Board::snapshot() const {
    for (int attempt = 0;; ++attempt) {
        const std::uint32_t seq = header_->seq.load(std::memory_order_acquire);
        if (seq % 2 != 0 && attempt < 1000) {
            std::this_thread::yield();
            continue;
        }
        Snapshot s;
        s.master_pid = static_cast<long>(header_->master_pid);
        s.started = header_->started;
        s.now = unix_now();
        s.processes = header_->processes.load(relaxed);
        for (std::size_t i = 0; i < s.restarts.size(); ++i)
            s.restarts[i] = header_->restarts[i].load(relaxed);
        const std::uint32_t n = std::min<std::uint32_t>(
            header_->listener_count.load(std::memory_order_acquire), kMaxListeners);
        s.listeners.resize(n);
        for (std::uint32_t l = 0; l < n; ++l) {
            s.listeners[l].name = header_->names[l];
            s.listeners[l].protocol = header_->protocols[l];
        }
        for (std::uint32_t i = 0; i <= header_->records; ++i) {
            const Record* r = record_at(header_, i);
            if (i > 0 && r->state.load(relaxed) == 0)
                continue;
            Totals worker;
            for (std::uint32_t l = 0; l < n; ++l) {
                Totals t;
                t.add(r->listeners[l]);
                s.listeners[l].totals.add(t);
                worker.add(t);
            }
            if (i > 0 && r->pid.load(relaxed) != 0)
                s.workers.push_back(Snapshot::Worker{static_cast<long>(r->pid.load(relaxed)),
                                                     r->started.load(relaxed), worker});
        }
        std::atomic_thread_fence(std::memory_order_acquire);
        if (header_->seq.load(relaxed) != seq && attempt < 1000)
            continue;
        for (const auto& l : s.listeners)
            s.totals.add(l.totals);
        return s;
    }
}

void attach(Board* board, int record) noexcept {
    g_record.store(record, relaxed);
    g_board.store(board, std::memory_order_release);
}

Board* attached() noexcept {
    return g_board.load(std::memory_order_acquire);
}

Counters* counters(int listener) noexcept {
    Board* b = g_board.load(std::memory_order_acquire);
    if (b == nullptr || listener < 0)
        return nullptr;
    return b->counters(g_record.load(relaxed), listener);
}

void count_refused(int listener, Refused why) noexcept {
    if (Counters* c = counters(listener))
        c->refused[static_cast<std::size_t>(why)].fetch_add(1, relaxed);
}

void count_malformed(int listener, Malformed kind) noexcept {
    if (Counters* c = counters(listener))
        c->malformed[static_cast<std::size_t>(kind)].fetch_add(1, relaxed);
}

Malformed malformed_kind(int status) noexcept {
    switch (status) {
        case 400:
        case 405:
        case 411:
        case 501:
        case 505:
            return Malformed::bad_request;
        case 403:
            return Malformed::forbidden;
        case 408:
            return Malformed::timeout;
        case 413:
        case 414:
        case 431:
            return Malformed::too_large;
        default:
            return Malformed::other;
    }
}

}  // namespace postern::status
