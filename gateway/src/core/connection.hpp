// Postern core: what an adapter plugs into the reactor.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "core/peer.hpp"
#include "postern/response.hpp"
#include "postern/server.hpp"

namespace postern {

class App;
class Channel;

/// One accepted connection of some protocol. The reactor owns it: it waits
/// in the reactor while idle, and is handed to one worker thread at a time
/// when it is readable. Closes its descriptor when destroyed.
class Connection {
  public:
    enum class Next {
        keep,   ///< back to the reactor, wait for the next request
        close,  ///< destroy (close) the connection
        /// the response was detached (Response::detach): the connection
        /// belongs to its Channel (core/detached.hpp) from now on
        detach,
    };

    Connection(int fd, Peer peer) : fd_(fd), peer_(std::move(peer)) {}
    virtual ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    /// Called on a worker thread when the descriptor is readable (or
    /// pending() was true): serves one request (serve_one()), blocking on
    /// the socket only where the protocol's rules allow it. The one
    /// exception barrier of every protocol: whatever serve_one() throws is
    /// logged, naming the protocol and the front end, and the connection is
    /// closed (a callback's own exceptions are turned into 500 by the core
    /// before they get here). Never throws.
    Next serve() noexcept;
    /// True when the adapter already buffered bytes of a next request, so
    /// the reactor must not wait for readability before serving again.
    virtual bool pending() const { return false; }
    /// True when the serve() that just returned `keep` read the socket dry
    /// (its last read found nothing, or less than it asked for) and nothing
    /// read the socket after: every byte that arrives from now on comes with
    /// a readiness edge of its own, and the reactor need not look at the
    /// socket again before it waits (see core/reactor.hpp). Clears the mark.
    /// False, the safe answer, unless the adapter said so (note_drained()).
    bool take_drained() noexcept { return std::exchange(drained_, false); }
    /// Registered edge-triggered in the reactor (see core/reactor.hpp): for
    /// an adapter that marks note_drained() on its request path. The others
    /// are re-armed after every request (one-shot), which also keeps a
    /// request body read inside a callback from waking other workers for
    /// nothing with every segment that arrives.
    virtual bool edge_triggered() const noexcept { return false; }
    /// While the connection waits in the reactor in the middle of a request
    /// (a request head arriving slowly), the time by which the rest must be
    /// there; Clock::duration::max() (the default) for none. Past it, the
    /// reactor shuts the reading side down, which wakes a worker: serve()
    /// then sees end of file after the deadline and answers the timeout in
    /// the protocol's words. Read from the reactor's sweeper thread while
    /// the connection is idle, hence a count of steady_clock ticks.
    std::chrono::steady_clock::rep wait_deadline() const noexcept {
        return wait_deadline_.load(std::memory_order_relaxed);
    }
    void clear_wait_deadline() noexcept {
        wait_deadline_.store(kNoDeadline, std::memory_order_relaxed);
    }

    int fd() const noexcept { return fd_.load(std::memory_order_relaxed); }
    /// The channel of a detached response (after serve() returned
    /// Next::detach), nullptr otherwise.
    Channel* channel() const noexcept { return channel_.get(); }
    const Peer& peer() const noexcept { return peer_; }

  protected:
    /// The protocol's part of serve(): one request, or one wait in the
    /// reactor for the rest of it. May throw.
    virtual Next serve_one() = 0;
    /// "FastCGI", "HTTP", "AJP", "SCGI", "uwsgi": for log lines.
    virtual std::string_view wire_name() const noexcept = 0;

    /// The one lingering close (Apache's), without holding a worker for it:
    /// the front end may still be sending the request the answer refused or
    /// did not read, and closing with unread bytes would reset the
    /// connection under the answer. So the sending side is shut, then what
    /// comes is read and dropped (at most kLingerBytes, for at most
    /// kLingerTime), the connection waiting in the reactor in between, and
    /// closed after. Return its result from serve_one(); serve() continues
    /// it on the next readiness, serve_one() is not called again.
    Next start_linger();
    static constexpr std::chrono::milliseconds kLingerTime{500};
    static constexpr std::size_t kLingerBytes = 256 * 1024;

    /// Someone else (libfcgi) closed the descriptor: do not close it again.
    /// Only before serve() returns Next::close: the reactor needs fd() of
    /// a connection it keeps.
    void release_fd() noexcept { fd_.store(-1, std::memory_order_relaxed); }
    /// Return from serve_one() for a request whose response was detached
    /// (Outcome::channel): keeps the channel with the connection and tells
    /// the reactor.
    Next detached(std::shared_ptr<Channel> channel) noexcept {
        channel_ = std::move(channel);
        return Next::detach;
    }
    void set_wait_deadline(std::chrono::steady_clock::time_point t) noexcept {
        wait_deadline_.store(t.time_since_epoch().count(), std::memory_order_relaxed);
    }
    static constexpr std::chrono::steady_clock::rep kNoDeadline =
        std::chrono::steady_clock::duration::max().count();

    /// For take_drained(): the socket's receive queue was empty at this
    /// serve()'s last read of it. Say it only when no read follows.
    void note_drained() noexcept { drained_ = true; }

  private:
    Next continue_linger();

    bool drained_ = false;
    bool lingering_ = false;
    std::chrono::steady_clock::time_point linger_until_{};
    std::size_t linger_bytes_ = 0;
    // Atomic: the reactor reads it from another thread to shut a connection
    // down at the end of the drain time.
    std::atomic<int> fd_;
    std::atomic<std::chrono::steady_clock::rep> wait_deadline_{kNoDeadline};
    Peer peer_;
    std::shared_ptr<Channel> channel_;
};

/// A listener's protocol: makes a Connection for each accepted socket.
/// Shared by all threads; make_connection is called on the reactor thread.
class Protocol {
  public:
    virtual ~Protocol() = default;
    virtual std::unique_ptr<Connection> make_connection(int fd, Peer peer) = 0;
    /// Answers a connection the listener cannot take (--max-connections
    /// reached) in the protocol's own words, without blocking, and closes
    /// it: a front end told "overloaded" (503) tries another backend or
    /// tells its client, instead of taking the backend for dead. Runs on the
    /// accepting worker; the default just closes.
    virtual void refuse_overloaded(int fd) noexcept;
};

/// Copies the limits every connection applies to a request (read and write
/// timeouts, body rate and size) from the gateway's options into an
/// adapter's settings, in one place.
template <class Settings>
void apply_request_limits(Settings& s, const Limits& limits) {
    s.read_timeout = limits.read_timeout;
    s.write_timeout = limits.write_timeout;
    s.min_body_rate = limits.min_body_rate;
    s.max_body_bytes = limits.max_body_bytes;
}

/// For refuse_overloaded(): reads what the front end already sent (so the
/// close does not reset the connection under the answer), sends `answer`
/// without blocking, shuts the sending side and closes `fd`.
void answer_and_close(int fd, std::string_view answer) noexcept;

/// The overload answer, the same in every protocol's framing (RFC 9110
/// §15.6.4): its status, its body, and its headers in wire order
/// (Content-Type, Content-Length of the body, Retry-After: 1).
inline constexpr int kOverloadedStatus = 503;
inline constexpr std::string_view kOverloadedBody = "503 Service Unavailable\n";
const HeaderList& overloaded_headers();
/// The whole overload answer as a CGI response ("Status: 503 Service
/// Unavailable", RFC 3875 §6.3.3): what SCGI answers, and FastCGI inside
/// FCGI_STDOUT.
std::string overloaded_cgi_response();
/// The whole overload answer as an HTTP/1.1 response ("HTTP/1.1 503 Service
/// Unavailable", by core/http_head.hpp, which writes Content-Length after
/// the other headers); `connection_close` adds "Connection: close" (RFC 9112
/// §9.6), for a protocol whose connections otherwise persist.
std::string overloaded_http_response(bool connection_close);

/// The protocol of `name` from the protocol registry (register_protocol,
/// postern/server.hpp; core/protocol_registry.cpp), made for `app` and
/// `options`; nullptr for a name not registered.
std::unique_ptr<Protocol> make_protocol(const std::string& name, App& app, const Options& options);
bool known_protocol(const std::string& name);

}  // namespace postern
