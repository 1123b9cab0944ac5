#include "core/reactor.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "core/detached.hpp"
#include "core/log.hpp"
#include "core/reactor_sources.hpp"
#include "core/status.hpp"

namespace postern {

namespace {

/// Dotted decimal, as inet_ntop writes it, without its sprintf (a new
/// connection per request makes this a per-request cost).
std::string ipv4_text(std::uint32_t host_order) {
    char buf[16];
    char* p = buf;
    for (int shift = 24; shift >= 0; shift -= 8) {
        const unsigned octet = (host_order >> shift) & 0xff;
        if (octet >= 100)
            *p++ = static_cast<char>('0' + octet / 100);
        if (octet >= 10)
            *p++ = static_cast<char>('0' + octet / 10 % 10);
        *p++ = static_cast<char>('0' + octet % 10);
        if (shift != 0)
            *p++ = '.';
    }
    return std::string(buf, p);
}

std::string address_text(const sockaddr_storage& ss, std::string& port) {
    char buf[INET6_ADDRSTRLEN] = {0};
    if (ss.ss_family == AF_INET) {
        const auto* s4 = reinterpret_cast<const sockaddr_in*>(&ss);
        port = std::to_string(ntohs(s4->sin_port));
        return ipv4_text(ntohl(s4->sin_addr.s_addr));
    }
    if (ss.ss_family == AF_INET6) {
        const auto* s6 = reinterpret_cast<const sockaddr_in6*>(&ss);
        ::inet_ntop(AF_INET6, &s6->sin6_addr, buf, sizeof(buf));
        port = std::to_string(ntohs(s6->sin6_port));
        std::string a = buf;
        // An IPv4 client of a dual-stack socket: show it as IPv4, as the
        // front ends do.
        if (a.rfind("::ffff:", 0) == 0 && a.find('.') != std::string::npos)
            a = a.substr(7);
        return a;
    }
    port.clear();
    return "unix";
}

// Connections taken per readiness of a listener. Few: the worker processes
// share the listeners, and a poller that took every queued connection would
// pin them all to its process, which can run only --threads of their
// requests at once; re-armed after each few, the other processes take
// their share.
constexpr int kAcceptBatch = 1;
// A dispatch this long counts towards calling more threads in: short
// requests (and short preemptions of them) do not.
constexpr std::int64_t kSlowDispatchNs = 250'000;

// Out of descriptors, a listener stops accepting for this long, as nginx
// does (accept_mutex_delay): its queued connections keep it readable, and
// accepting again at once would only spin.
constexpr std::chrono::milliseconds kAcceptPause{500};
// At most one "accept failed" line per listener per this long, with a count.
constexpr std::chrono::seconds kAcceptLogInterval{5};

// An event of a connection names its slot and generation, with this bit
// set (see reactor.hpp); the other events carry a Source pointer, which
// never has it.
constexpr std::uint64_t kConnectionEvent = std::uint64_t{1} << 63;
constexpr std::uint32_t kGenerationMask = 0x7fff'ffff;
// A slot's owner state (the low half of its word).
constexpr std::uint32_t kIdle = 0;   // in the epoll set, nobody serves it
constexpr std::uint32_t kBusy = 1;   // a worker serves it
constexpr std::uint32_t kAgain = 2;  // a worker serves it, and an edge came meanwhile
constexpr std::uint32_t kFree = 3;   // no connection

constexpr std::uint64_t slot_word(std::uint32_t generation, std::uint32_t state) noexcept {
    return (std::uint64_t{generation} << 32) | state;
}
constexpr std::uint32_t generation_of(std::uint64_t word) noexcept {
    return static_cast<std::uint32_t>(word >> 32) & kGenerationMask;
}
constexpr std::uint32_t state_of(std::uint64_t word) noexcept {
    return static_cast<std::uint32_t>(word);
}

void set_timeout(int fd, int option, std::chrono::milliseconds ms) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
    ::setsockopt(fd, SOL_SOCKET, option, &tv, sizeof(tv));
}

}  // namespace

Reactor::Reactor(const Limits& limits, const AddressList& allow)
    : limits_(limits),
      allow_(allow),
      slot_chunks_(std::make_unique<std::atomic<Slot*>[]>(kSlotChunks)) {
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (epoll_fd_ < 0 || wake_fd_ < 0)
        throw std::runtime_error(std::string("epoll: ") + std::strerror(errno));
    static Source wake(Source::Kind::wake);
    epoll_event ev{};
    ev.events = EPOLLIN;  // level-triggered: wakes every worker once written
    ev.data.ptr = &wake;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
}

Reactor::~Reactor() {
    if (!threads_.empty())
        stop(std::chrono::milliseconds(0));
    for (auto& l : listeners_) {
        if (l->fd >= 0)
            ::close(l->fd);
        if (l->unix_socket && l->remove_path && !l->unix_path.empty())
            ::unlink(l->unix_path.c_str());
    }
    for (auto& l : listeners_)
        if (l->pause_timer >= 0)
            ::close(l->pause_timer);
    ::close(epoll_fd_);
    ::close(wake_fd_);
    if (reserve_fd_ >= 0)
        ::close(reserve_fd_);
    for (std::size_t i = 0; i < kSlotChunks; ++i)
        delete[] slot_chunks_[i].load();
}

Reactor::Slot& Reactor::slot_at(std::uint32_t index) const noexcept {
    return slot_chunks_[index / kSlotChunk].load(std::memory_order_acquire)[index % kSlotChunk];
}

bool Reactor::take_slot(ConnectionSource& c) {
    std::uint32_t index;
    if (!free_slots_.empty()) {
        index = free_slots_.back();
        free_slots_.pop_back();
    } else {
        if (slots_made_ == kSlotChunk * kSlotChunks)
            return false;
        if (slots_made_ % kSlotChunk == 0) {
            auto* chunk = new Slot[kSlotChunk];
            for (std::size_t i = 0; i < kSlotChunk; ++i)
                chunk[i].word.store(slot_word(0, kFree), std::memory_order_relaxed);
            slot_chunks_[slots_made_ / kSlotChunk].store(chunk, std::memory_order_release);
        }
        index = slots_made_++;
    }
    Slot& s = slot_at(index);
    const std::uint32_t generation = generation_of(s.word.load(std::memory_order_relaxed));
    s.source = &c;
    c.slot = index;
    c.generation = generation;
    c.has_slot = true;
    s.word.store(slot_word(generation, kBusy), std::memory_order_release);
    return true;
}

void Reactor::retire_slot(ConnectionSource& c) {
    if (!c.has_slot)
        return;
    slot_at(c.slot).word.store(slot_word((c.generation + 1) & kGenerationMask, kFree),
                               std::memory_order_release);
    free_slots_.push_back(c.slot);
    c.has_slot = false;
}

Reactor::ConnectionSource* Reactor::claim(std::uint64_t event) noexcept {
    const auto index = static_cast<std::uint32_t>(event);
    const std::uint32_t generation = generation_of(event);
    Slot& s = slot_at(index);
    std::uint64_t word = s.word.load(std::memory_order_acquire);
    for (;;) {
        if (generation_of(word) != generation)
            return nullptr;  // closed or handed over since
        switch (state_of(word)) {
            case kIdle:
                if (s.word.compare_exchange_weak(word, slot_word(generation, kBusy),
                                                 std::memory_order_acq_rel,
                                                 std::memory_order_acquire))
                    return s.source;
                break;
            case kBusy:
                // Its worker serves it again before giving it back.
                if (s.word.compare_exchange_weak(word, slot_word(generation, kAgain),
                                                 std::memory_order_acq_rel,
                                                 std::memory_order_acquire))
                    return nullptr;
                break;
            default:
                return nullptr;  // marked already
        }
    }
}

bool Reactor::release(ConnectionSource& c) noexcept {
    Slot& s = slot_at(c.slot);
    std::uint64_t busy = slot_word(c.generation, kBusy);
    if (s.word.compare_exchange_strong(busy, slot_word(c.generation, kIdle),
                                       std::memory_order_acq_rel, std::memory_order_acquire))
        return true;
    // kAgain: only the owner writes it from here on.
    s.word.store(slot_word(c.generation, kBusy), std::memory_order_relaxed);
    return false;
}

void Reactor::add_listener(int fd, std::unique_ptr<Protocol> protocol, std::string name,
                           bool unix_socket, std::string unix_path, bool remove_path,
                           int status_slot) {
    auto l = std::make_unique<ListenerSource>();
    l->fd = fd;
    l->protocol = std::move(protocol);
    l->name = std::move(name);
    l->unix_socket = unix_socket;
    l->unix_path = std::move(unix_path);
    l->remove_path = remove_path;
    l->status_slot = status_slot;
    listeners_.push_back(std::move(l));
}

void Reactor::allow_unix_peers(std::vector<unsigned> uids, std::vector<unsigned> gids) {
    allow_uids_ = std::move(uids);
    allow_gids_ = std::move(gids);
}

void Reactor::start(unsigned threads, unsigned pollers) {
    for (auto& l : listeners_) {
        sockaddr_storage ss{};
        socklen_t len = sizeof(ss);
        if (!l->unix_socket && ::getsockname(l->fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0 &&
            (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)) {
            set_timeout(l->fd, SO_RCVTIMEO, limits_.read_timeout);
            set_timeout(l->fd, SO_SNDTIMEO, limits_.write_timeout);
            int one = 1;
            l->inherits_options =
                ::setsockopt(l->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0;
            // Behind a front end that opens connections as it needs them
            // (nginx past its `keepalive` pool, Apache without reuse), the
            // request follows the connection by a few µs: 85 % of the
            // connections nginx opened found nothing to read at the accept,
            // and waited one more epoll turn for it (bench/NOTES.md).
            if (limits_.defer_accept.count() > 0) {
                const int secs = static_cast<int>(
                    std::min<std::int64_t>((limits_.defer_accept.count() + 999) / 1000, 3600));
                if (::setsockopt(l->fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof(secs)) != 0)
                    log::warn("TCP_DEFER_ACCEPT on " + l->name +
                              " failed: " + std::strerror(errno));
            }
            const bool wildcard =
                ss.ss_family == AF_INET
                    ? reinterpret_cast<const sockaddr_in&>(ss).sin_addr.s_addr == htonl(INADDR_ANY)
                    : IN6_IS_ADDR_UNSPECIFIED(&reinterpret_cast<const sockaddr_in6&>(ss).sin6_addr);
            if (!wildcard) {
                l->fixed_local = true;
                l->local_addr = address_text(ss, l->local_port);
            }
        }
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLONESHOT;
        ev.data.ptr = static_cast<Source*>(l.get());
        if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, l->fd, &ev) != 0)
            throw std::runtime_error("epoll_ctl on listener " + l->name + ": " +
                                     std::strerror(errno));
        // The pause timer waits in the epoll set disarmed (no events) until
        // descriptors run out.
        l->pause_timer = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        epoll_event tev{};
        tev.data.ptr = static_cast<Source*>(l.get());
        if (l->pause_timer < 0 || ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, l->pause_timer, &tev) != 0)
            throw std::runtime_error("timerfd for listener " + l->name + ": " +
                                     std::strerror(errno));
    }
    if (threads == 0)
        threads = 1;
    pollers_ = pollers < threads ? pollers : 0;
    slots_ = std::make_unique<ThreadSlot[]>(threads);
    active_ = threads;
    allowed_ = pollers_ == 0 ? threads : pollers_;
    streams_ = std::make_unique<StreamLoop>(
        [this](void* source) { close_connection(static_cast<ConnectionSource*>(source)); });
    streams_->start();
    for (unsigned i = 0; i < threads; ++i)
        threads_.emplace_back([this, slot = &slots_[i]] { worker_loop(*slot); });
    sweeper_ = std::thread([this] { sweeper_loop(); });
    if (pollers_ != 0)
        monitor_ = std::thread([this] { monitor_loop(); });
}

void Reactor::worker_loop(ThreadSlot& slot) {
    std::uint64_t dispatch = 0;
    set_blocking_context(this, &slot);
    for (;;) {
        if (pollers_ != 0 &&
            active_.load(std::memory_order_relaxed) > allowed_.load(std::memory_order_relaxed)) {
            if (!park())
                return;  // stopping
        }
        epoll_event ev{};
        int n = ::epoll_wait(epoll_fd_, &ev, 1, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            log::error(std::string("epoll_wait failed: ") + std::strerror(errno));
            return;
        }
        if (n == 0)
            continue;
        Source* src = nullptr;
        if ((ev.data.u64 & kConnectionEvent) == 0) {
            src = static_cast<Source*>(ev.data.ptr);
            if (src->kind == Source::Kind::wake)
                return;  // stopping: the eventfd stays readable for every worker
        }
        std::chrono::steady_clock::time_point began;
        if (pollers_ != 0) {
            began = std::chrono::steady_clock::now();
            slot.serving.store(++dispatch);
            if (monitor_asleep_.load())
                wake_monitor();
        }
        if (src != nullptr)
            accept_ready(*static_cast<ListenerSource*>(src));
        else if (ConnectionSource* c = claim(ev.data.u64))
            serve(*c);
        if (pollers_ != 0) {
            const auto took = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                  std::chrono::steady_clock::now() - began)
                                  .count();
            if (took >= kSlowDispatchNs)
                slot.slow_ns.store(
                    slot.slow_ns.load(std::memory_order_relaxed) + static_cast<std::uint64_t>(took),
                    std::memory_order_relaxed);
            slot.serving.store(0, std::memory_order_release);
        }
    }
}

void Reactor::accept_ready(ListenerSource& l) {
    // The listener is non-blocking: take up to kAcceptBatch connections,
    // then re-arm it. The first connection taken is served by this worker at
    // once when its request is already there: no epoll round trip and no
    // wake-up of another thread for it. On TCP listeners deferred accept
    // (Limits::defer_accept) makes that the rule; on unix sockets the front
    // end's request may come a few µs after the accept. Any others go to
    // the epoll set.
    // Also called when the listener's pause timer fires (same source): then
    // it simply tries again.
    if (l.paused) {
        l.paused = false;
        std::uint64_t expirations;
        [[maybe_unused]] ssize_t r = ::read(l.pause_timer, &expirations, sizeof(expirations));
    }
    ConnectionSource* first = nullptr;
    bool paused = false;
    for (int i = 0; i < kAcceptBatch && accepting_; ++i) {
        sockaddr_storage ss{};
        socklen_t len = sizeof(ss);
        int fd = ::accept4(l.fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                accept_exhausted(l, errno);
                paused = true;
                break;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                log::error("accept on " + l.name + " failed: " + std::strerror(errno));
            break;
        }
        ConnectionSource* c = set_up(l, fd, ss);
        if (c == nullptr)
            continue;
        if (first == nullptr)
            first = c;
        else
            watch_and_release(*c);
    }
    if (accepting_) {
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLONESHOT;
        ev.data.ptr = static_cast<Source*>(&l);
        if (paused) {
            // Not the listener, which stays readable: its timer, once.
            itimerspec when{};
            when.it_value.tv_sec = static_cast<time_t>(kAcceptPause.count() / 1000);
            when.it_value.tv_nsec = static_cast<long>(kAcceptPause.count() % 1000) * 1'000'000;
            ::timerfd_settime(l.pause_timer, 0, &when, nullptr);
            l.paused = true;
            ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, l.pause_timer, &ev);
        } else {
            ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, l.fd, &ev);
        }
    }
    if (first == nullptr)
        return;
    char byte;
    const ssize_t peeked = ::recv(first->conn->fd(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (peeked > 0)
        serve(*first);
    else if (peeked < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        watch_and_release(*first);
    else
        close_connection(first, true);  // closed or broken before it asked anything
}

void Reactor::accept_exhausted(ListenerSource& l, int err) {
    // Out of descriptors (or socket memory): the connection stays queued
    // and the listener readable. The caller pauses the listener for
    // kAcceptPause, as nginx does, whatever happens here. Before that, one
    // queued connection is refused politely when a descriptor can be found
    // for it: the reserve, given up for the accept and taken back (a
    // callback's open() may take it in between: then it is taken back at
    // a later pause). The front end sees a refusal, and fails over.
    bool dropped = false;
    {
        std::lock_guard lock(reserve_mutex_);
        if (reserve_fd_ < 0)
            reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (reserve_fd_ >= 0) {
            ::close(reserve_fd_);
            const int fd = ::accept4(l.fd, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd >= 0) {
                ::close(fd);
                dropped = true;
            }
            reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        }
    }
    // One line per kAcceptLogInterval, with the count since the last one.
    ++l.unlogged_failures;
    const auto now = std::chrono::steady_clock::now();
    if (l.last_logged != std::chrono::steady_clock::time_point{} &&
        now - l.last_logged < kAcceptLogInterval)
        return;
    log::error("accept on " + l.name + " failed: " + std::strerror(err) + " (" +
               std::to_string(l.unlogged_failures) +
               (l.unlogged_failures == 1 ? " time" : " times") +
               (l.last_logged == std::chrono::steady_clock::time_point{}
                    ? std::string()
                    : " in the last " +
                          std::to_string(
                              std::chrono::duration_cast<std::chrono::seconds>(now - l.last_logged)
                                  .count()) +
                          " s") +
               "); not accepting on it for " + std::to_string(kAcceptPause.count()) +
               " ms at a time" + (dropped ? ", a queued connection closed" : "") +
               " (raise the descriptor limit or lower --max-connections)");
    l.unlogged_failures = 0;
    l.last_logged = now;
}

Reactor::ConnectionSource* Reactor::set_up(ListenerSource& l, int fd, const sockaddr_storage& ss) {
    Peer peer;
    peer.unix_socket = l.unix_socket;
    peer.listener = l.status_slot;
    peer.addr = address_text(ss, peer.port);
    if (l.unix_socket) {
        peer.addr = "127.0.0.1";  // RFC 3875 §4.1.8 wants an address; a unix peer is local
        peer.local_addr = l.unix_path;
    } else if (l.fixed_local) {
        peer.local_addr = l.local_addr;
        peer.local_port = l.local_port;
    } else {
        sockaddr_storage local{};
        socklen_t llen = sizeof(local);
        if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &llen) == 0)
            peer.local_addr = address_text(local, peer.local_port);
    }
    if (l.unix_socket && (!allow_uids_.empty() || !allow_gids_.empty())) {
        ucred cred{};
        socklen_t clen = sizeof(cred);
        const bool known = ::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0;
        auto in = [](const std::vector<unsigned>& ids, unsigned id) {
            return std::find(ids.begin(), ids.end(), id) != ids.end();
        };
        if (!known || !(in(allow_uids_, cred.uid) || in(allow_gids_, cred.gid))) {
            log::warn("refused a connection on " + l.name + " from " +
                      (known ? "uid " + std::to_string(cred.uid) + " gid " +
                                   std::to_string(cred.gid) + " pid " + std::to_string(cred.pid)
                             : std::string("a peer of unknown credentials")) +
                      ": not among --allow-uid / --allow-gid");
            status::count_refused(l.status_slot, status::Refused::not_allowed);
            ::close(fd);
            return nullptr;
        }
    }
    if (!l.unix_socket && !allow_.empty() && !allow_.contains(peer.addr)) {
        log::warn("refused a connection on " + l.name + " from " + peer.describe() +
                  ": not on the allow-list of front-end addresses");
        status::count_refused(l.status_slot, status::Refused::not_allowed);
        ::close(fd);
        return nullptr;
    }
    if (l.open.load() >= limits_.max_connections) {
        log::warn("refused a connection on " + l.name + " from " + peer.describe() + ": " +
                  std::to_string(limits_.max_connections) +
                  " connections already open (--max-connections); answered 503");
        status::count_refused(l.status_slot, status::Refused::overloaded);
        l.protocol->refuse_overloaded(fd);
        return nullptr;
    }
    if (!l.inherits_options) {
        set_timeout(fd, SO_RCVTIMEO, limits_.read_timeout);
        set_timeout(fd, SO_SNDTIMEO, limits_.write_timeout);
        if (!l.unix_socket) {
            int one = 1;
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        }
    }
    auto c = std::make_unique<ConnectionSource>();
    c->listener = &l;
    c->touch();
    try {
        c->conn = l.protocol->make_connection(fd, std::move(peer));
    } catch (const std::exception& e) {
        log::error("cannot set up a connection on " + l.name + ": " + e.what());
        ::close(fd);
        return nullptr;
    }
    ConnectionSource* raw = c.get();
    {
        std::lock_guard lock(mutex_);
        if (!take_slot(*raw)) {
            log::error("refused a connection on " + l.name + " from " +
                       raw->conn->peer().describe() + ": " +
                       std::to_string(kSlotChunk * kSlotChunks) +
                       " connections open in this process");
            return nullptr;  // ~ConnectionSource closes it
        }
        connections_.emplace(raw, std::move(c));
    }
    ++l.open;
    return raw;
}

bool Reactor::watch(ConnectionSource& c) {
    const bool edge = c.conn->edge_triggered();
    const bool drained = c.conn->take_drained();
    int op;
    if (!c.registered)
        op = EPOLL_CTL_ADD;  // reports the bytes already there, if any
    else if (edge && drained)
        return true;  // every byte from now on brings an edge
    else
        op = EPOLL_CTL_MOD;  // re-arms, or looks at the socket again: bytes there are reported
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | (edge ? EPOLLET : EPOLLONESHOT);
    ev.data.u64 = kConnectionEvent | (std::uint64_t{c.generation} << 32) | c.slot;
    if (::epoll_ctl(epoll_fd_, op, c.conn->fd(), &ev) != 0) {
        log::error(std::string("epoll_ctl: ") + std::strerror(errno));
        close_connection(&c, true);
        return false;
    }
    c.registered = true;
    return true;
}

void Reactor::watch_and_release(ConnectionSource& c) {
    if (watch(c) && !release(c))
        serve(c);  // bytes came before it was given back
}

void Reactor::serve(ConnectionSource& c) {
    // No lock on this path. stop() sets draining_ and then shuts down every
    // connection that is not busy; a worker sets busy before serving and
    // reads draining_ after clearing it (both sequentially consistent), so
    // either the worker sees draining_ and closes, or stop() sees the
    // connection idle and shuts it down, which brings an edge: the worker
    // still serving it serves again (release() fails), or another one
    // takes it, and sees end of file.
    for (;;) {
        c.busy.store(true);
        Connection::Next next = c.conn->serve();
        while (next == Connection::Next::keep && c.conn->pending() && !draining_.load())
            next = c.conn->serve();
        c.touch();
        c.served.store(true);
        if (next == Connection::Next::detach) {
            hand_over(c);
            return;
        }
        c.busy.store(false);
        if (next == Connection::Next::close || draining_.load()) {
            close_connection(&c, true);
            return;
        }
        if (!watch(c) || release(c))
            return;
        // An edge came while it was served: serve what it brought.
    }
}

void Reactor::hand_over(ConnectionSource& c) {
    // A detached response is ended by cutting its channel (the drain, the
    // write timeout; a WebSocket says 1001 first), never by shutdown(2): its FIN would reach the
    // front end before the close, and a body that ends at the close (SCGI, uwsgi, HTTP/1.0) would
    // read as whole. The stream thread closes it instead, the way its framing ends a response cut
    // off (a reset there).
    //
    // Out of this epoll set and into the stream thread's; from attach() on
    // the stream thread may close the connection at any time, so nothing
    // here touches it after that. (Left in this set, every byte the client
    // sends to an edge-triggered one would wake a worker here for nothing.)
    if (c.registered) {
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.conn->fd(), nullptr);
        c.registered = false;
    }
    if (auto* counters = status::counters(c.listener->status_slot))
        counters->detached.fetch_add(1, std::memory_order_relaxed);
    Channel* channel = c.conn->channel();
    {
        // Still busy: the drain skips it here as it did there.
        std::lock_guard lock(mutex_);
        retire_slot(c);  // events on their way are dropped
        detached_.insert(connections_.extract(&c));
    }
    // As in serve(): busy cleared, then draining_ read; either stop() sees
    // the connection idle and shuts it down, or it is shut down here
    // (before attach: the stream thread may close it at once after).
    c.busy.store(false);
    if (draining_.load())
        channel->going_away();  // ended as soon as it is attached
    channel->attach(*streams_, &c, limits_.write_timeout);
}

void Reactor::close_connection(ConnectionSource* c, bool owned_by_caller) {
    std::unique_ptr<ConnectionSource> owned;
    {
        std::lock_guard lock(mutex_);
        auto it = connections_.find(c);
        if (it != connections_.end()) {
            owned = std::move(it->second);
            connections_.erase(it);
            retire_slot(*owned);
        } else if (auto d = detached_.find(c); d != detached_.end()) {
            owned = std::move(d->second);
            detached_.erase(d);
        } else {
            return;
        }
    }
    // Removed from the set before the close when another thread may be
    // serving it. Not by its owner, which is the rule: the slot's new
    // generation turns away the events on their way, and the close removes
    // the registration (a copy of the descriptor in a child process forked
    // by a callback may keep it there; its events are turned away too).
    // That saves a system call for every connection the front end closes
    // (nginx, past its kept pool, closes one per request).
    if (owned->registered && !owned_by_caller && owned->conn->fd() >= 0)
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, owned->conn->fd(), nullptr);
    --owned->listener->open;
    if (owned->conn->channel() != nullptr)
        if (auto* counters = status::counters(owned->listener->status_slot))
            counters->detached.fetch_sub(1, std::memory_order_relaxed);
    owned.reset();  // closes the socket
    if (draining_.load()) {
        std::lock_guard lock(mutex_);
        idle_cv_.notify_all();
    }
}
std::size_t Reactor::connections() const {
    std::lock_guard lock(mutex_);
    return connections_.size() + detached_.size();
}

std::size_t Reactor::detached() const {
    return streams_ ? streams_->open() : 0;
}

void Reactor::stop(std::chrono::milliseconds drain) {
    if (threads_.empty())
        return;
    // 1. Stop accepting: no new connections from now on.
    //    Closing the sockets (not just ignoring them) makes new connections
    //    fail at once, so a front end's balancer moves on to another backend.
    accepting_ = false;
    for (auto& l : listeners_) {
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, l->fd, nullptr);
        ::close(l->fd);
        l->fd = -1;
        if (l->unix_socket && l->remove_path && !l->unix_path.empty())
            ::unlink(l->unix_path.c_str());
        l->unix_path.clear();
    }
    // 2. End idle connections (a worker sees end of file and closes them);
    //    busy ones finish their request, then close (draining_), and so do
    //    ones accepted but not served yet: their front end opened them for a
    //    request, and one ended before it was sent is not retried (nginx
    //    retries only on a kept connection).
    {
        std::unique_lock lock(mutex_);
        draining_ = true;
        for (auto& [c, owned] : connections_) {
            if (c->busy.load() || !c->served.load() || c->conn->fd() < 0)
                continue;
            ::shutdown(c->conn->fd(), SHUT_RDWR);
        }
        // Detached responses: cut, or a WebSocket's 1001 first; not
        // shutdown(2), see hand_over(). One still busy is being handed
        // over, and hand_over() sees draining_.
        for (auto& [c, owned] : detached_)
            if (!c->busy.load() && c->conn->fd() >= 0)
                c->conn->channel()->going_away();
        if (!idle_cv_.wait_for(lock, drain,
                               [this] { return connections_.empty() && detached_.empty(); })) {
            std::size_t running = 0;
            for (auto* table : {&connections_, &detached_})
                for (auto& [c, owned] : *table)
                    running += c->busy.load() ? 1 : 0;
            log::warn(std::to_string(running) +
                      " request(s) still running after the drain time; cutting their connections");
            // A worker blocked reading from or writing to its front end wakes
            // up with an error; one inside a callback finishes the callback
            // first (a thread cannot be cancelled safely).
            for (auto* table : {&connections_, &detached_})
                for (auto& [c, owned] : *table)
                    if (int fd = c->conn->fd(); fd >= 0)
                        ::shutdown(fd, SHUT_RDWR);
        }
        stopping_ = true;
    }
    sweep_cv_.notify_all();
    // 3. Wake every worker and join them. A worker still inside a callback
    //    past the drain time is waited for: a thread cannot be cancelled
    //    safely; the process manager's SIGKILL is the last resort.
    std::uint64_t one = 1;
    [[maybe_unused]] ssize_t w = ::write(wake_fd_, &one, sizeof(one));
    {
        std::lock_guard lock(park_mutex_);
        park_stop_ = true;
    }
    park_cv_.notify_all();
    for (auto& t : threads_)
        t.join();
    stop_monitor();
    threads_.clear();
    if (sweeper_.joinable())
        sweeper_.join();
    if (streams_)
        streams_->stop();
    std::lock_guard lock(mutex_);
    for (auto* table : {&connections_, &detached_}) {
        for (auto& [raw, c] : *table) {
            --c->listener->open;
            if (Channel* channel = c->conn->channel())
                channel->abandon();  // lets go of the descriptor before it closes
        }
        table->clear();
    }
}

}  // namespace postern
