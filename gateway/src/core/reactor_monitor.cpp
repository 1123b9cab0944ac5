// The reactor's watchers beside the serving loop (reactor.cpp): the
// monitor, which calls parked threads in when requests block and lets them
// park again (the pollers, see reactor.hpp), and the sweeper, which ends
// idle and stalled connections and beats the worker's heartbeat.
#include <linux/futex.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>

#include "core/blocking.hpp"
#include "core/detached.hpp"
#include "core/reactor.hpp"
#include "core/reactor_sources.hpp"
#include "core/scoreboard.hpp"

namespace postern {

namespace {

// The monitor's sleep: until `word` changes from `expected` (or `timeout`,
// when given, passes). std::atomic::wait has no timeout.
void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                const timespec* timeout) noexcept {
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT_PRIVATE, expected,
              timeout, nullptr, 0);
}

void futex_wake(std::atomic<std::uint32_t>& word) noexcept {
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE_PRIVATE, 1, nullptr,
              nullptr, 0);
}

// How often the monitor looks while requests run: every kMonitorMinPeriodNs
// while it wants threads beyond the pollers (callbacks block), and half as
// often after every look that wanted none, down to every
// kMonitorMaxPeriodNs. A request that blocks holds up the ones queued
// behind it for one to two periods: up to 32 ms when it comes after a calm
// spell, then 2-4 ms while blocking goes on. Each look wakes the monitor,
// and on CPUs shared with the front end a wake-up every 2 ms (with the
// threads it called in whenever a short request was preempted across two
// looks) cost the 7 KB page a third of its p99 (bench/NOTES.md).
constexpr long kMonitorMinPeriodNs = 2'000'000;
constexpr long kMonitorMaxPeriodNs = 16'000'000;
// No request running for this long: the monitor sleeps until the next one
// (so an idle process does not tick).
constexpr std::int64_t kMonitorQuietNs = 100'000'000;
// Fewer threads enough for this long: the extra ones park.
constexpr std::int64_t kMonitorCalmNs = 50'000'000;
// Threads called in by about_to_block(), in this process.
std::atomic<std::uint64_t> handoffs{0};

struct BlockingContext {
    Reactor* reactor = nullptr;
    void* slot = nullptr;
};
thread_local BlockingContext t_context;

// The sweeper's longest sleep: the heartbeat is never older than this in a
// process that runs (the supervisor's --worker-timeout is far longer).
constexpr std::chrono::milliseconds kHeartbeatPeriod{250};

}  // namespace

void Reactor::set_blocking_context(Reactor* reactor, ThreadSlot* slot) noexcept {
    t_context = {reactor, slot};
}

void about_to_block() noexcept {
    if (t_context.reactor != nullptr)
        t_context.reactor->hand_off(*static_cast<Reactor::ThreadSlot*>(t_context.slot));
}

bool may_hand_off() noexcept {
    return t_context.reactor != nullptr &&
           t_context.reactor->undecided(*static_cast<Reactor::ThreadSlot*>(t_context.slot));
}

void wait_was_short() noexcept {
    if (t_context.reactor == nullptr)
        return;
    auto& slot = *static_cast<Reactor::ThreadSlot*>(t_context.slot);
    slot.decided = slot.serving.load(std::memory_order_relaxed);
}

bool Reactor::undecided(const ThreadSlot& slot) const noexcept {
    const std::uint64_t dispatch = slot.serving.load(std::memory_order_relaxed);
    return pollers_ != 0 && dispatch != 0 && slot.decided != dispatch;
}

int poll_waiting(pollfd& p, int timeout_ms) noexcept {
    if ((timeout_ms >= 0 && timeout_ms <= kHandOffAfterMs) || !may_hand_off())
        return ::poll(&p, 1, timeout_ms);
    // A short wait costs the one poll(2) it always did; only a wait past
    // kHandOffAfterMs takes a second.
    const int r = ::poll(&p, 1, kHandOffAfterMs);
    if (r != 0)
        return r;
    about_to_block();
    return ::poll(&p, 1, timeout_ms < 0 ? -1 : timeout_ms - kHandOffAfterMs);
}

std::uint64_t blocking_handoffs() noexcept {
    return handoffs.load(std::memory_order_relaxed);
}

void Reactor::hand_off(ThreadSlot& slot) noexcept {
    // Once per dispatch: a response written in many pieces calls in one
    // thread, not one a piece. With every thread polling (pollers_ == 0)
    // there is none standing by.
    if (!undecided(slot))
        return;
    slot.decided = slot.serving.load(std::memory_order_relaxed);
    std::lock_guard lock(park_mutex_);
    const unsigned allowed = allowed_.load();
    if (allowed >= threads_.size())
        return;
    // The monitor sees this thread inside the same request at its next
    // looks and keeps the thread called in while it waits; once it is
    // back, fewer are enough and the extra one parks after a calm spell.
    allowed_.store(allowed + 1);
    handoffs.fetch_add(1, std::memory_order_relaxed);
    park_cv_.notify_one();
}

bool Reactor::park() {
    std::unique_lock lock(park_mutex_);
    // Checked again under the lock: two threads coming back at once must not
    // both park when one is enough.
    if (active_.load() <= allowed_.load())
        return !park_stop_;
    active_.fetch_sub(1);
    park_cv_.wait(lock, [this] { return park_stop_ || active_.load() < allowed_.load(); });
    active_.fetch_add(1);
    return !park_stop_;
}

void Reactor::wake_monitor() noexcept {
    if (monitor_asleep_.exchange(false)) {
        monitor_word_.fetch_add(1);
        futex_wake(monitor_word_);
    }
}

void Reactor::monitor_loop() {
    const std::size_t n = threads_.size();
    std::vector<ThreadSample> now_seen(n);
    std::vector<ThreadSample> last_seen(n);
    std::int64_t quiet = 0;  // ns with no request running
    std::int64_t calm = 0;   // ns that needed fewer threads than allowed
    long period = kMonitorMinPeriodNs;
    auto looked = std::chrono::steady_clock::now();
    while (!monitor_stop_.load()) {
        const std::uint32_t word = monitor_word_.load();
        const std::uint64_t handoffs_before = handoffs.load();
        const auto now = std::chrono::steady_clock::now();
        const auto since = std::max<std::int64_t>(
            0, std::chrono::duration_cast<std::chrono::nanoseconds>(now - looked).count());
        looked = now;
        for (std::size_t i = 0; i < n; ++i)
            now_seen[i] = {slots_[i].serving.load(),
                           slots_[i].slow_ns.load(std::memory_order_relaxed)};
        const Look look =
            take_look(now_seen, last_seen, pollers_, static_cast<std::uint64_t>(since));
        const unsigned want = threads_wanted(look);
        // More threads at once; fewer only once fewer have been enough for
        // a while: callbacks that block now and then (a database) keep
        // their threads between requests instead of waiting a look for one.
        const unsigned allowed = allowed_.load();
        calm = want < allowed ? calm + since : 0;
        if (want > allowed || calm >= kMonitorCalmNs) {
            calm = 0;
            std::lock_guard lock(park_mutex_);
            // Not below a thread about_to_block() called in since the look
            // began: the next look sees why.
            if (want > allowed_.load() || handoffs.load() == handoffs_before) {
                allowed_.store(want);
                for (unsigned a = active_.load(); a < want; ++a)
                    park_cv_.notify_one();
            }
        }
        period =
            next_look_period(period, want > pollers_, kMonitorMinPeriodNs, kMonitorMaxPeriodNs);
        quiet = look.running == 0 ? quiet + since : 0;
        if (quiet < kMonitorQuietNs) {
            const timespec wait{0, period};
            futex_wait(monitor_word_, word, &wait);
            continue;
        }
        // Idle: sleep until a thread starts serving. Either that thread sees
        // monitor_asleep_ and wakes the monitor, or the monitor sees it
        // serving here (both sides are sequentially consistent).
        monitor_asleep_.store(true);
        bool any = false;
        for (std::size_t i = 0; i < n && !any; ++i)
            any = slots_[i].serving.load() != 0;
        if (!any && !monitor_stop_.load())
            futex_wait(monitor_word_, word, nullptr);
        monitor_asleep_.store(false);
        quiet = 0;
        period = kMonitorMinPeriodNs;
        looked = std::chrono::steady_clock::now();
    }
}

long next_look_period(long period, bool blocking, long shortest, long longest) noexcept {
    if (blocking)
        return shortest;
    return period >= longest / 2 ? longest : period * 2;
}

Look take_look(std::span<const ThreadSample> now, std::span<ThreadSample> last, unsigned pollers,
               std::uint64_t since_ns) noexcept {
    Look look;
    look.pollers = pollers;
    look.threads = static_cast<unsigned>(now.size());
    look.since_ns = since_ns;
    for (std::size_t i = 0; i < now.size() && i < last.size(); ++i) {
        if (now[i].serving != 0) {
            ++look.running;
            if (now[i].serving == last[i].serving)
                ++look.stuck;
        }
        // One thread was busy for at most the span (else one 400 ms write
        // that ends calls every thread in, after the fact).
        look.slow_ns += std::min(now[i].slow_ns - last[i].slow_ns, since_ns);
        last[i] = now[i];
    }
    return look;
}

unsigned threads_wanted(const Look& look) noexcept {
    // Threads kept busy by long requests since the last look (Little's law:
    // their time over the time between looks).
    const std::uint64_t slow_busy = look.since_ns > 0 ? look.slow_ns / look.since_ns : 0;
    // A thread seen in the same request twice means the callbacks block
    // (sleep, wait on I/O): then every request running counts, the ones that
    // began since the last look too, so that a stream of requests that each
    // block a few ms gets a thread per request at once. Otherwise requests
    // are short and the pollers are enough.
    const std::uint64_t blocked =
        std::max<std::uint64_t>(look.stuck > 0 ? look.running : 0, slow_busy);
    return static_cast<unsigned>(std::min<std::uint64_t>(look.threads, look.pollers + blocked));
}

void Reactor::sweeper_loop() {
    // Ends connections idle for longer than the idle timeout. It never frees
    // one itself: a worker may have just taken its readiness from epoll. It
    // shuts the socket down instead, which makes the connection readable
    // (end of file) so that a worker closes it through the usual path.
    // Often enough to end a stalled request head close to the read timeout,
    // and to beat the heartbeat (see the top of reactor.hpp).
    const auto period = std::clamp<std::chrono::steady_clock::duration>(
        limits_.read_timeout / 4, std::chrono::milliseconds(20), kHeartbeatPeriod);
    std::unique_lock lock(mutex_);
    worker_heartbeat();
    while (!stopping_) {
        sweep_cv_.wait_for(lock, period);
        if (stopping_)
            break;
        // Under the lock: a deadlock on the connection table stops it too.
        worker_heartbeat();
        const auto now = std::chrono::steady_clock::now().time_since_epoch();
        const auto idle =
            std::chrono::duration_cast<std::chrono::steady_clock::duration>(limits_.idle_timeout);
        for (auto& [c, owned] : connections_) {
            const std::chrono::steady_clock::duration since(
                now.count() - c->last_active.load(std::memory_order_relaxed));
            if (c->busy.load() || c->conn->fd() < 0)
                continue;
            if (c->conn->wait_deadline() <= now.count()) {
                // A request stalled half-way (slowloris): end of file for
                // the reader, so a worker answers the timeout and closes.
                ::shutdown(c->conn->fd(), SHUT_RD);
                c->conn->clear_wait_deadline();
            } else if (since > idle) {
                ::shutdown(c->conn->fd(), SHUT_RDWR);
                c->touch();  // once is enough
            }
        }
        // Detached responses: only those with a timeout running (a client
        // that takes nothing for the write timeout, a WebSocket's close
        // deadline) are looked at, by the stream loop; outside the table's
        // lock.
        lock.unlock();
        streams_->check(std::chrono::steady_clock::time_point(now));
        lock.lock();
    }
}

void Reactor::stop_monitor() {
    if (!monitor_.joinable())
        return;
    monitor_stop_.store(true);
    monitor_word_.fetch_add(1);
    futex_wake(monitor_word_);
    monitor_.join();
}

}  // namespace postern
