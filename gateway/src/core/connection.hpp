// Postern core: what an adapter plugs into the reactor.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "core/peer.hpp"
#include "postern/server.hpp"

namespace postern {

class App;

/// One accepted connection of some protocol. The reactor owns it: it waits
/// in the reactor while idle, and is handed to one worker thread at a time
/// when it is readable. Closes its descriptor when destroyed.
class Connection {
  public:
    enum class Next {
        keep,   ///< back to the reactor, wait for the next request
        close,  ///< destroy (close) the connection
    };

    Connection(int fd, Peer peer) : fd_(fd), peer_(std::move(peer)) {}
    virtual ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    /// Called on a worker thread when the descriptor is readable (or
    /// pending() was true): serves one request, blocking on the socket with
    /// the configured read and write timeouts. Must not throw.
    virtual Next serve() = 0;
    /// True when the adapter already buffered bytes of a next request, so
    /// the reactor must not wait for readability before serving again.
    virtual bool pending() const { return false; }

    int fd() const noexcept { return fd_.load(std::memory_order_relaxed); }
    const Peer& peer() const noexcept { return peer_; }

  protected:
    /// Someone else (libfcgi) closed the descriptor: do not close it again.
    /// Only before serve() returns Next::close: the reactor needs fd() of
    /// a connection it keeps.
    void release_fd() noexcept { fd_.store(-1, std::memory_order_relaxed); }

  private:
    // Atomic: the reactor reads it from another thread to shut a connection
    // down at the end of the drain time.
    std::atomic<int> fd_;
    Peer peer_;
};

/// A listener's protocol: makes a Connection for each accepted socket.
/// Shared by all threads; make_connection is called on the reactor thread.
class Protocol {
  public:
    virtual ~Protocol() = default;
    virtual std::unique_ptr<Connection> make_connection(int fd, Peer peer) = 0;
};

/// The adapters the gateway knows ("fastcgi", "http", ...). Defined in
/// gateway/main/protocols.cpp, the one place that wires adapters to the core.
/// Returns nullptr for an unknown name.
std::unique_ptr<Protocol> make_protocol(const std::string& name, App& app, const Options& options);
bool known_protocol(const std::string& name);

}  // namespace postern
