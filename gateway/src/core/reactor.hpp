// Postern core: the reactor. Every open connection of every listener waits
// in one epoll set; a worker thread takes a connection only when it has a
// request ready, and gives it back afterwards. Front ends keep pools of
// idle connections open (nginx `keepalive`, mod_jk's pool); none of them
// holds a thread, so they can never starve the workers.
//
// The worker threads themselves wait in epoll_wait (leader/followers), so
// no hand-off between a reactor thread and a worker is needed.
//
// Connections of an adapter that says when it read its socket dry
// (Connection::edge_triggered(): FastCGI) are registered once,
// edge-triggered (EPOLLET), and not re-armed: a request on a kept
// connection costs epoll_wait, its reads and its writes, not an epoll_ctl
// more (a quarter of the system calls of a small FastCGI request). As an
// edge may reach a second worker while a first one serves the connection,
// every connection has an owner word (its slot, below): the worker whose
// compare-and-swap turns it from idle to busy serves; one that finds it
// busy marks it `again` and goes back to wait, and the serving worker,
// which can only give the connection back by turning busy into idle, serves
// again instead. An edge only tells of bytes that arrive after it was
// taken, so a connection goes back idle only once its socket was read dry
// (Connection::take_drained()), or after an EPOLL_CTL_MOD that looks at the
// socket again (one system call, as a re-arm) when its adapter cannot tell.
//
// The other adapters' connections are one-shot (EPOLLONESHOT), re-armed
// after every request. Edge-triggered, every segment of a request body that
// arrives while a callback reads it wakes a worker to find the connection
// busy: behind nginx → HTTP, 1 MiB uploads ran 5-10 % slower so (three
// pairs of bench/run's upload rows); behind nginx → FastCGI they did not
// (three pairs too).
//
// An event may still be on its way to a worker when the connection it
// names is closed and freed, so events do not point at connections: they
// name a slot and its generation. Slots live as long as the reactor; a
// slot's generation moves on when its connection is closed or handed over,
// and an event of an older generation is dropped. The worker that closes
// a connection it serves needs no EPOLL_CTL_DEL before close(2): a copy of
// the descriptor kept open by a forked child leaves the registration
// behind, but a one-shot one is disarmed by then, and the events of an
// edge-triggered one name a generation that is gone. Listeners stay
// one-shot.
//
// Only `pollers` of the threads wait in epoll_wait at a time (one per CPU
// the process has). Waking a sleeping thread for every request costs more
// than a small request itself; a poller that comes back from a request
// finds the next one already queued and serves it without sleeping, the
// way an nginx worker does. The other threads stand by, parked. A monitor
// looks now and then and calls them in when requests take long (callbacks
// that sleep or wait on a database, uploads, downloads), so that the
// requests queued behind never wait for them: as many threads more as the
// time spent in requests longer than 250 µs since the last look keeps
// busy (each thread's at most the time since the last look: a request adds
// its time when it ends, and a long one mostly before), or, once a thread
// is seen inside the same request at two looks, one for every request
// running. It looks every 2 ms while it wants such threads, and half as
// often after each look that wanted none, down to every 16 ms: a look
// wakes a thread, which on CPUs shared with a front end preempts a
// poller, and at 2 ms the short requests preempted across two looks
// called threads in for nothing. Once fewer threads have been enough for
// 50 ms, the extra ones park again. The gateway's own waits do not wait
// for a look: a response write that finds the socket full, or a request
// body that is late, for more than 1 ms calls a thread in first
// (about_to_block(), core/blocking.hpp).
//
// Heartbeat (--worker-timeout). The sweeper, the reactor's own thread that
// ends idle and stalled connections, notes in the worker's scoreboard slot
// that the process is alive (worker_heartbeat()) on every pass, at least
// every 250 ms, idle or not; the supervisor kills a worker whose heartbeat
// is older than --worker-timeout. It beats from the sweeper, not from the
// threads that poll and run requests, because those may all be inside long
// callbacks at once (a slow database, a sleep), and that is not a frozen
// process but --request-timeout's business; the sweeper never runs a
// callback, so only what stops the whole process stops it: SIGSTOP, being
// swapped out, or a deadlock on the reactor's connection table (it takes
// that lock on each pass). Nor does it cost the request path anything: no
// thread wakes per request for it, and the monitor (which sleeps without a
// timeout when idle) is not involved.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <sys/socket.h>

#include "core/address_list.hpp"
#include "core/connection.hpp"
#include "postern/server.hpp"

namespace postern {

/// What the monitor saw at one look (see above).
struct Look {
    unsigned pollers = 0;        ///< threads that wait for requests with nothing slow
    unsigned threads = 0;        ///< threads in all
    unsigned running = 0;        ///< threads inside a request now
    unsigned stuck = 0;          ///< of them, inside the same request as at the last look
    std::uint64_t slow_ns = 0;   ///< time in requests of 250 µs or more since the last look,
                                 ///< at most since_ns for each thread
    std::uint64_t since_ns = 0;  ///< time since the last look
};

/// One thread's counters as the monitor reads them at a look.
struct ThreadSample {
    std::uint64_t serving = 0;  ///< the dispatch it is inside, 0 for none
    std::uint64_t slow_ns = 0;  ///< its time in requests of 250 µs or more, ever
};

/// The look at `now` (one sample per thread), `since_ns` after the one at
/// `last`, which it then overwrites with `now`. A thread counts as stuck
/// when it is inside the same dispatch at both. Its slow time counts at
/// most `since_ns`: a request adds its whole time when it ends, most of it
/// before this look's span if it was long.
Look take_look(std::span<const ThreadSample> now, std::span<ThreadSample> last, unsigned pollers,
               std::uint64_t since_ns) noexcept;

/// How many threads should be waiting for or serving requests after `look`.
unsigned threads_wanted(const Look& look) noexcept;

/// The monitor's next wait after a look with period `period` (ns): the
/// shortest while it wants threads beyond the pollers (`blocking`), else
/// twice as long, up to `longest`.
long next_look_period(long period, bool blocking, long shortest, long longest) noexcept;

class StreamLoop;

class Reactor {
  public:
    Reactor(const Limits& limits, const AddressList& allow);
    ~Reactor();
    Reactor(const Reactor&) = delete;
    Reactor& operator=(const Reactor&) = delete;

    /// Adds a bound, listening socket; `name` is for log lines
    /// ("fastcgi=127.0.0.1:9000"). `unix_path` is removed on stop when
    /// `remove_path` (false: another process owns the socket file). Before
    /// start() only.
    /// `status_slot`: the listener's slot on the status board, -1 for none.
    void add_listener(int fd, std::unique_ptr<Protocol> protocol, std::string name,
                      bool unix_socket, std::string unix_path, bool remove_path = true,
                      int status_slot = -1);

    /// Unix-socket peers allowed by uid or gid (Options::allow_uids,
    /// allow_gids); both empty allows any. Before start() only.
    void allow_unix_peers(std::vector<unsigned> uids, std::vector<unsigned> gids);

    /// Starts `threads` worker threads, `pollers` of which wait for
    /// requests at one time (0 or >= threads: all of them).
    void start(unsigned threads, unsigned pollers = 0);
    /// Stops accepting, closes idle connections, lets requests in flight
    /// finish within `drain`, then closes everything and joins the threads.
    void stop(std::chrono::milliseconds drain);

    /// Open connections (for tests and status).
    std::size_t connections() const;
    /// Of them, detached responses (streams, WebSockets).
    std::size_t detached() const;

  private:
    struct Source;
    struct ListenerSource;
    struct ConnectionSource;

    /// A connection's place in the epoll set (see the top of this file).
    /// `word` is the generation (high 32 bits) and the owner state (low).
    struct Slot {
        std::atomic<std::uint64_t> word{0};
        ConnectionSource* source = nullptr;  // written before the word publishes it
    };
    static constexpr std::size_t kSlotChunk = 4096;
    static constexpr std::size_t kSlotChunks = 1024;  // 4 Mi connections at most
    /// Slot number `index` (one made: below slots_made_).
    Slot& slot_at(std::uint32_t index) const noexcept;
    /// Gives `c` a free slot, owned by the caller (busy). Under mutex_;
    /// false when all kSlotChunks × kSlotChunk are taken.
    bool take_slot(ConnectionSource& c);
    /// Moves the slot of `c` to its next generation, free, so that events
    /// still on their way for `c` are dropped. Under mutex_.
    void retire_slot(ConnectionSource& c);
    /// The connection an event names, now owned by the caller; nullptr when
    /// another worker serves it (marked `again`) or it is gone.
    ConnectionSource* claim(std::uint64_t event) noexcept;
    /// Gives `c` back (busy to idle); false when an edge came meanwhile
    /// (`again`): the caller still owns it and serves it again.
    bool release(ConnectionSource& c) noexcept;

    struct alignas(64) ThreadSlot {
        // The number of the dispatch (event) the thread is serving; 0
        // between dispatches. The monitor sees the same number twice: stuck.
        std::atomic<std::uint64_t> serving{0};
        // Nanoseconds spent in dispatches longer than kSlowDispatch, in all
        // (written by the thread only).
        std::atomic<std::uint64_t> slow_ns{0};
        // The dispatch whose waits have called a thread in, or found the
        // peer quick (about_to_block(), wait_was_short(); the thread's own).
        std::uint64_t decided = 0;
    };

    void worker_loop(ThreadSlot& slot);
    friend void about_to_block() noexcept;
    friend bool may_hand_off() noexcept;
    friend void wait_was_short() noexcept;
    /// about_to_block() on one of this reactor's threads: one more thread
    /// may wait for requests, once per dispatch.
    void hand_off(ThreadSlot& slot) noexcept;
    /// Whether a wait of the dispatch `slot` serves may still call a thread in.
    bool undecided(const ThreadSlot& slot) const noexcept;
    /// The calling thread's reactor and slot, for about_to_block().
    static void set_blocking_context(Reactor* reactor, ThreadSlot* slot) noexcept;
    void sweeper_loop();
    void monitor_loop();
    /// Parks the calling thread while more threads are active than allowed;
    /// false when stopping.
    bool park();
    void wake_monitor() noexcept;
    /// Stops the monitor thread, if it runs, and joins it.
    void stop_monitor();
    void accept_ready(ListenerSource& l);
    /// accept_ready's answer to running out of descriptors (`err`).
    void accept_exhausted(ListenerSource& l, int err);
    ConnectionSource* set_up(ListenerSource& l, int fd, const sockaddr_storage& peer);
    /// Serves a connection the caller owns until it goes back idle (or is
    /// closed, or handed over).
    void serve(ConnectionSource& c);
    /// Adds the connection (owned by the caller) to the epoll set, or, when
    /// it is there and its socket was not read dry, looks at it again
    /// there. False when that failed: the connection was closed.
    bool watch(ConnectionSource& c);
    /// Puts a connection the caller owns in the epoll set and gives it back.
    void watch_and_release(ConnectionSource& c);
    /// `owned`: the caller owns the connection (its slot says busy), so
    /// no event can make another worker serve it, and the slot's new
    /// generation turns away those on their way: no EPOLL_CTL_DEL.
    void close_connection(ConnectionSource* c, bool owned = false);
    /// Hands a connection whose response was detached to the stream thread.
    void hand_over(ConnectionSource& c);

    Limits limits_;
    AddressList allow_;
    std::vector<unsigned> allow_uids_;
    std::vector<unsigned> allow_gids_;
    int epoll_fd_ = -1;
    int wake_fd_ = -1;
    // Kept open to be given up when accept fails for lack of descriptors.
    std::mutex reserve_mutex_;
    int reserve_fd_ = -1;
    std::vector<std::unique_ptr<ListenerSource>> listeners_;
    std::vector<std::thread> threads_;
    std::thread sweeper_;
    // Detached responses (core/detached.hpp).
    std::unique_ptr<StreamLoop> streams_;

    // Pollers (see the top of this file). All unused when pollers_ == 0.
    unsigned pollers_ = 0;
    std::unique_ptr<ThreadSlot[]> slots_;
    std::atomic<unsigned> active_{0};   // threads not parked
    std::atomic<unsigned> allowed_{0};  // pollers_ + stuck threads, at most all
    std::mutex park_mutex_;
    std::condition_variable park_cv_;
    bool park_stop_ = false;  // under park_mutex_
    std::thread monitor_;
    // The monitor sleeps on this word (futex): bumped to wake it.
    std::atomic<std::uint32_t> monitor_word_{0};
    std::atomic<bool> monitor_asleep_{false};  // waiting without a timeout
    std::atomic<bool> monitor_stop_{false};

    mutable std::mutex mutex_;
    std::condition_variable idle_cv_;   // draining: signalled as connections close
    std::condition_variable sweep_cv_;  // wakes the sweeper to stop
    std::unordered_map<ConnectionSource*, std::unique_ptr<ConnectionSource>> connections_;
    // The slots (see the top of this file), made kSlotChunk at a time under
    // mutex_ and read without it; never freed before the reactor.
    std::unique_ptr<std::atomic<Slot*>[]> slot_chunks_;
    std::uint32_t slots_made_ = 0;           // under mutex_
    std::vector<std::uint32_t> free_slots_;  // under mutex_
    // Detached ones, moved here by hand_over(): the sweeper does not walk
    // them (the stream loop keeps their timeouts, StreamLoop::check).
    std::unordered_map<ConnectionSource*, std::unique_ptr<ConnectionSource>> detached_;
    std::atomic<bool> draining_{false};
    bool stopping_ = false;
    std::atomic<bool> accepting_{true};
};

}  // namespace postern
