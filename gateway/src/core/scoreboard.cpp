#include "core/scoreboard.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace postern {

// Both live in memory shared between two processes: only lock-free atomics
// (address-free, so they work across processes) and plain bytes.
struct WorkerSlot::Header {
    std::atomic<std::uint64_t> served;
    /// The entry of the thread that received a fatal signal first; -1.
    std::atomic<std::int32_t> crashed_entry;
    /// Requests in flight without an entry (more threads than entries).
    std::atomic<std::uint32_t> unnamed;
    /// Entries handed out to threads so far.
    std::atomic<std::uint32_t> next_entry;
    std::uint32_t capacity;
    /// Requests note their start (time_requests()).
    std::atomic<std::uint32_t> timed;
    /// steady_clock ticks at the reactor's last pass (worker_heartbeat());
    /// 0 before the first.
    std::atomic<std::int64_t> heartbeat;
    /// Tells this slot from an earlier one mapped at the same address: a
    /// thread's cached entry is valid only for the slot that handed it out.
    std::uint64_t id;
};

struct WorkerSlot::Entry {
    /// 1 while the request runs; set after `text`, cleared at its end.
    std::atomic<std::uint32_t> busy;
    std::uint32_t length;
    /// steady_clock ticks at the request's start, when timed.
    std::atomic<std::int64_t> started;
    char text[240];
};

static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
static_assert(std::atomic<std::int32_t>::is_always_lock_free);
static_assert(std::atomic<std::int64_t>::is_always_lock_free);

namespace {

WorkerSlot::Entry* entries(WorkerSlot::Header* h) {
    return reinterpret_cast<WorkerSlot::Entry*>(reinterpret_cast<char*>(h) +
                                                sizeof(WorkerSlot::Header));
}

std::atomic<WorkerSlot::Header*> g_header{nullptr};
std::atomic<int> g_notify_fd{-1};
std::atomic<std::uint64_t> g_recycle_after{0};

std::atomic<std::uint64_t> g_next_id{1};

// The entry this thread writes, for the slot it was handed out by.
thread_local WorkerSlot::Header* t_header = nullptr;
thread_local std::uint64_t t_id = 0;
thread_local std::int32_t t_entry = -1;

constexpr int kFatalSignals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};

void record_crash(int sig) {
    // Async-signal-safe: loads and stores of lock-free atomics only.
    WorkerSlot::Header* h = g_header.load(std::memory_order_relaxed);
    if (h != nullptr && t_header == h && t_id == h->id && t_entry >= 0 &&
        entries(h)[t_entry].busy.load(std::memory_order_relaxed) != 0) {
        std::int32_t none = -1;
        h->crashed_entry.compare_exchange_strong(none, t_entry);
    }
    // SA_RESETHAND made the action the default again: die of the signal.
    ::raise(sig);
}

}  // namespace

WorkerSlot::WorkerSlot(std::size_t threads) {
    const std::size_t capacity = std::clamp<std::size_t>(threads, 1, 1 << 16);
    const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    bytes_ = (sizeof(Header) + capacity * sizeof(Entry) + page - 1) / page * page;
    void* p = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        throw std::runtime_error(std::string("cannot map a worker's scoreboard slot: ") +
                                 std::strerror(errno));
    // Fresh anonymous memory is zero: construct the atomics in it anyway.
    header_ = new (p) Header{};
    header_->crashed_entry.store(-1);
    header_->capacity = static_cast<std::uint32_t>(capacity);
    header_->id = g_next_id.fetch_add(1);
    for (std::size_t i = 0; i < capacity; ++i)
        new (&entries(header_)[i]) Entry{};
}

WorkerSlot::~WorkerSlot() {
    if (g_header.load() == header_)
        g_header.store(nullptr);
    ::munmap(header_, bytes_);
}

std::uint64_t WorkerSlot::served() const noexcept {
    return header_->served.load(std::memory_order_acquire);
}

WorkerSlot::InFlightReport WorkerSlot::in_flight() const {
    InFlightReport report;
    const std::uint32_t used = std::min(header_->next_entry.load(), header_->capacity);
    const std::int32_t crashed = header_->crashed_entry.load();
    auto text = [&](std::uint32_t i) {
        const Entry& e = entries(header_)[i];
        return std::string(e.text, std::min<std::size_t>(e.length, sizeof(e.text)));
    };
    if (crashed >= 0 && static_cast<std::uint32_t>(crashed) < used &&
        entries(header_)[crashed].busy.load(std::memory_order_acquire) != 0) {
        report.requests.push_back(text(static_cast<std::uint32_t>(crashed)));
        report.crashed_thread_known = true;
    }
    for (std::uint32_t i = 0; i < used; ++i) {
        if (static_cast<std::int32_t>(i) != crashed &&
            entries(header_)[i].busy.load(std::memory_order_acquire) != 0)
            report.requests.push_back(text(i));
    }
    report.unnamed = header_->unnamed.load();
    return report;
}

void WorkerSlot::time_requests() noexcept {
    header_->timed.store(1);
}

std::optional<WorkerSlot::Longest> WorkerSlot::longest(
    std::chrono::steady_clock::time_point now) const {
    if (header_->timed.load(std::memory_order_relaxed) == 0)
        return std::nullopt;
    const std::uint32_t used = std::min(header_->next_entry.load(), header_->capacity);
    std::optional<Longest> found;
    for (std::uint32_t i = 0; i < used; ++i) {
        const Entry& e = entries(header_)[i];
        if (e.busy.load(std::memory_order_acquire) == 0)
            continue;
        const std::chrono::steady_clock::duration running(
            now.time_since_epoch().count() - e.started.load(std::memory_order_relaxed));
        if (!found || running > found->running)
            found = Longest{std::string(e.text, std::min<std::size_t>(e.length, sizeof(e.text))),
                            running};
    }
    return found;
}

std::optional<std::chrono::steady_clock::time_point> WorkerSlot::heartbeat() const noexcept {
    const std::int64_t ticks = header_->heartbeat.load(std::memory_order_relaxed);
    if (ticks == 0)
        return std::nullopt;
    return std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(ticks));
}

void worker_heartbeat() noexcept {
    WorkerSlot::Header* h = g_header.load(std::memory_order_acquire);
    if (h != nullptr)
        h->heartbeat.store(std::chrono::steady_clock::now().time_since_epoch().count(),
                           std::memory_order_relaxed);
}

void attach_worker_slot(WorkerSlot* slot, int notify_fd, std::uint64_t recycle_after) noexcept {
    g_notify_fd.store(notify_fd);
    g_recycle_after.store(recycle_after);
    g_header.store(slot != nullptr ? slot->header_ : nullptr, std::memory_order_release);
}

void install_crash_recorder() noexcept {
    struct sigaction sa {};
    sa.sa_handler = record_crash;
    sigemptyset(&sa.sa_mask);
    // Once only, and the re-raise inside the handler is delivered at once.
    sa.sa_flags = SA_RESETHAND | SA_NODEFER;
    for (int sig : kFatalSignals)
        ::sigaction(sig, &sa, nullptr);
}

InFlight::InFlight(std::string_view method, std::string_view uri) noexcept {
    WorkerSlot::Header* h = g_header.load(std::memory_order_acquire);
    if (h == nullptr)
        return;
    header_ = h;
    if (t_header != h || t_id != h->id) {
        t_header = h;
        t_id = h->id;
        const std::uint32_t i = h->next_entry.fetch_add(1);
        t_entry = i < h->capacity ? static_cast<std::int32_t>(i) : -1;
    }
    if (t_entry < 0) {
        h->unnamed.fetch_add(1);
        return;
    }
    WorkerSlot::Entry& e = entries(h)[t_entry];
    // "METHOD URI", cut to the entry's size.
    std::size_t n = std::min(method.size(), sizeof(e.text));
    std::memcpy(e.text, method.data(), n);
    if (n < sizeof(e.text))
        e.text[n++] = ' ';
    const std::size_t u = std::min(uri.size(), sizeof(e.text) - n);
    std::memcpy(e.text + n, uri.data(), u);
    e.length = static_cast<std::uint32_t>(n + u);
    if (h->timed.load(std::memory_order_relaxed) != 0)
        e.started.store(std::chrono::steady_clock::now().time_since_epoch().count(),
                        std::memory_order_relaxed);
    e.busy.store(1, std::memory_order_release);
    entry_ = &e;
}

InFlight::~InFlight() {
    if (header_ == nullptr)
        return;
    if (entry_ != nullptr)
        entry_->busy.store(0, std::memory_order_release);
    else
        header_->unnamed.fetch_sub(1);
    const std::uint64_t served = header_->served.fetch_add(1, std::memory_order_acq_rel) + 1;
    const std::uint64_t limit = g_recycle_after.load(std::memory_order_relaxed);
    if (limit != 0 && served == limit) {
        // Once, from whichever thread finished the request that reached the
        // limit; the supervisor starts a replacement, then stops this one.
        const int fd = g_notify_fd.load();
        if (fd >= 0) {
            [[maybe_unused]] ssize_t w = ::write(fd, "Q", 1);
        }
    }
}

}  // namespace postern
