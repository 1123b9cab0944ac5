// Postern core, internal to the reactor (reactor.cpp, reactor_monitor.cpp):
// what the epoll set's entries point at.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "core/reactor.hpp"

namespace postern {

struct Reactor::Source {
    enum class Kind { listener, connection, wake };
    explicit Source(Kind k) : kind(k) {}
    Kind kind;
};

struct Reactor::ListenerSource : Source {
    ListenerSource() : Source(Kind::listener) {}
    int fd = -1;
    std::unique_ptr<Protocol> protocol;
    std::string name;
    bool unix_socket = false;
    std::string unix_path;
    bool remove_path = true;
    int status_slot = -1;
    std::atomic<std::size_t> open{0};
    // TCP listeners carry the per-connection socket options themselves
    // (read/write timeouts, TCP_NODELAY); Linux copies them onto every
    // accepted socket, which saves three system calls per connection. Unix
    // sockets do not inherit them.
    bool inherits_options = false;
    // The local end of every connection, when the listener is bound to one
    // address (not a wildcard): no getsockname per connection.
    bool fixed_local = false;
    std::string local_addr;
    std::string local_port;
    // Out of descriptors (see accept_ready): the listener is left disarmed
    // and this timer, in the epoll set with the listener as its source,
    // re-arms it after kAcceptPause. Made at start(), as none can be made
    // once descriptors have run out. Only the thread holding the listener's
    // one-shot readiness touches the fields below.
    int pause_timer = -1;
    bool paused = false;
    // Failed accepts not logged yet, and when the last line was written.
    std::uint64_t unlogged_failures = 0;
    std::chrono::steady_clock::time_point last_logged{};
};

struct Reactor::ConnectionSource : Source {
    ConnectionSource() : Source(Kind::connection) {}
    std::unique_ptr<Connection> conn;
    ListenerSource* listener = nullptr;
    // In the epoll set or not yet (a connection served straight after
    // accept is added when it goes idle). Touched by its owner only.
    bool registered = false;
    // Its slot and the slot's generation for it (see reactor.hpp); none
    // once handed over to the stream loop.
    bool has_slot = false;
    std::uint32_t slot = 0;
    std::uint32_t generation = 0;
    // Written by the worker serving the connection, read by the sweeper and
    // by stop() under the reactor mutex: atomics, so serving a request takes
    // no lock (see serve()). Not the slot word's busy state: the drain needs
    // the owner to clear this flag and then read draining_ while it still
    // owns the connection (it may close it then), before it gives the slot
    // back; and a connection handed over to the stream loop has no slot.
    std::atomic<bool> busy{false};
    // Has carried a request: a front end opens a connection to send one, so
    // until then the connection is not idle but a request on its way.
    std::atomic<bool> served{false};
    std::atomic<std::chrono::steady_clock::rep> last_active{0};

    void touch() noexcept {
        last_active.store(std::chrono::steady_clock::now().time_since_epoch().count(),
                          std::memory_order_relaxed);
    }
};

}  // namespace postern
