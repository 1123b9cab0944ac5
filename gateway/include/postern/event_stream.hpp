// Postern: Server-Sent Events (the WHATWG HTML standard, "Server-sent
// events", §9.2) on a detached response.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "postern/request.hpp"
#include "postern/response.hpp"
#include "postern/stream.hpp"

namespace postern {

/// What EventStream::open sets up.
struct EventStreamOptions {
    /// A comment line (":\n") goes out whenever the stream has been silent
    /// this long, so that proxies and the client's own timers (nginx's
    /// proxy_read_timeout, 60 s by default) see traffic. Zero: none.
    std::chrono::milliseconds heartbeat{15'000};
    /// Sent first, as `retry: N`: how long the browser waits before it
    /// reconnects after the connection was lost. Unset: the browser's own
    /// (a few seconds).
    std::optional<std::chrono::milliseconds> retry;
};

/// A Server-Sent Events response (`text/event-stream`), for a browser's
/// EventSource or any SSE client, written from any thread after the
/// callback returned:
///
///     void subscribe(postern::Request& req, postern::Response& res) {
///         auto events = postern::EventStream::open(req, res);
///         for (const Event& e : history.after(events->last_event_id()))
///             events->send("update", e.json, e.id);
///         hub.add(events);   // keeps it; a timer, a queue or a database
///     }                      // notification sends later, from its thread
///
/// open() sets `Content-Type: text/event-stream`, `Cache-Control: no-cache`
/// and `X-Accel-Buffering: no` (nginx then passes each event on at once,
/// in any location), detaches the response (Response::detach, postern/
/// stream.hpp) and sends the head at once, so that the client's `open`
/// event fires before the first event. The worker thread is free when the
/// callback returns; the connection waits in the gateway's reactor.
///
/// Heartbeats: one timer thread per process (started with the first
/// EventStream, shared by all of them, never a thread per stream) sends a
/// comment on each stream silent for EventStreamOptions::heartbeat, and
/// forgets a stream once it is closed or its last owner let it go.
///
/// Bad input: an event name or id with CR, LF or NUL throws
/// std::invalid_argument and sends nothing (the format has no escape for
/// them: a line break would end the field, and a client ignores an id with
/// NUL). Data may hold any line breaks: each line (split on CRLF, LF or CR)
/// is a `data:` line of its own, so the client receives the lines joined by
/// LF. The text is passed on as bytes; the format is UTF-8, and a client
/// decodes anything else into U+FFFD.
///
/// Overload: a client that reads too slowly has at most Stream::kMaxQueued
/// bytes waiting; past that send() returns false and sends nothing (an
/// event is never cut in half), and open() is still true. A client that
/// takes nothing for --write-timeout is dropped.
///
/// Threading: every member may be called from any thread, at once; each
/// event goes out whole, never interleaved with another.
/// Ownership: shared (open() returns a shared_ptr). The last owner gone
/// ends the response, as close() does; the heartbeat timer holds no
/// ownership. A function given to on_close that owns this EventStream
/// keeps it alive until the stream closes: capture a weak_ptr instead when
/// the stream must end as soon as its owners drop it.
class EventStream : public std::enable_shared_from_this<EventStream> {
  public:
    /// Detaches `res` into an event stream (see the class comment). Sets a
    /// 200 unless the callback chose another status. Throws what
    /// Response::detach throws (std::logic_error: already finished or
    /// detached, a protocol that cannot stream such as CGI).
    static std::shared_ptr<EventStream> open(Request& req, Response& res,
                                             const EventStreamOptions& options = {});

    /// The wire bytes of one event: `id:` (when not empty), `event:` (when
    /// not empty; the client's default is "message"), one `data:` line per
    /// line of `data` (one empty `data:` line for empty data, so the event
    /// is still dispatched), and the blank line that dispatches it. Throws
    /// std::invalid_argument for an event or id with CR, LF or NUL.
    static std::string encode(std::string_view event, std::string_view data,
                              std::string_view id = {});
    /// `: text` lines (one per line of `text`; ":" alone for an empty one).
    static std::string encode_comment(std::string_view text);

    EventStream(std::shared_ptr<Stream> stream, std::string last_event_id,
                std::chrono::milliseconds heartbeat);
    ~EventStream();
    EventStream(const EventStream&) = delete;
    EventStream& operator=(const EventStream&) = delete;

    /// Queues one event (encode()). False, sending nothing, once the client
    /// is gone or the stream closed, or while the client's queue is full.
    /// Throws std::invalid_argument for a bad event name or id.
    bool send(std::string_view event, std::string_view data, std::string_view id = {});
    /// Queues bytes encode() made (a hub encodes an event once and sends
    /// it to every subscriber). False as for send().
    bool send_encoded(std::string_view bytes);
    /// Queues `retry: ms` (the client's reconnection delay).
    bool retry(std::chrono::milliseconds ms);
    /// Queues a comment (encode_comment()); a client ignores it.
    bool comment(std::string_view text);

    /// The request's Last-Event-ID header (the id of the last event the
    /// client saw before it reconnected), empty when there was none.
    const std::string& last_event_id() const noexcept { return last_event_id_; }

    /// `fn` is called once, on a gateway thread, when the client goes away
    /// or the stream ended; at once if that already happened. It must not
    /// block. Replaces an earlier function.
    void on_close(std::function<void()> fn);
    /// Ends the response after what is queued. Idempotent.
    void close();
    /// The client is still there and close() was not called.
    bool open() const;
    /// Bytes waiting for the client.
    std::size_t queued() const;
    /// The heartbeat interval (zero: none).
    std::chrono::milliseconds heartbeat() const noexcept { return heartbeat_; }

    // Used by the heartbeat timer.

    /// Sends a heartbeat when nothing went out for the interval; returns
    /// when the next one is due, or nullopt once the stream is closed.
    std::optional<std::chrono::steady_clock::time_point> beat(
        std::chrono::steady_clock::time_point now);

  private:
    bool write(std::string_view bytes);

    std::shared_ptr<Stream> stream_;
    std::string last_event_id_;
    std::chrono::milliseconds heartbeat_;
    /// steady_clock ticks of the last write that was queued.
    std::atomic<std::chrono::steady_clock::rep> last_write_;
};

}  // namespace postern
