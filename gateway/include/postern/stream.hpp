// Postern: a detached response, written from any thread after the callback
// returned (Response::detach).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

namespace postern {

class Channel;

/// The writer of a response its callback handed over with
/// `res.detach()`. The worker thread is free once the callback returns;
/// the connection waits in the gateway's reactor, holding no thread, and
/// the bytes written here are sent without blocking, by whichever thread
/// writes or by the reactor when the front end can take more.
///
/// The status and headers set before detach() go out with the first
/// write() (or close()), with the protocol's streamed framing (chunked over
/// HTTP/1.1, FCGI_STDOUT records, AJP body chunks, raw bytes over SCGI and
/// uwsgi) unless the callback declared a Content-Length. The front end must
/// not buffer the response (the shipped snippets' streaming locations, or
/// `X-Accel-Buffering: no` for nginx).
///
/// Bounds: at most Stream::kMaxQueued bytes wait for a slow client; past
/// that write() refuses (returns false) instead of growing memory. A client
/// that takes nothing for --write-timeout is dropped. The gateway's
/// shutdown (drain time) ends every stream.
///
/// Threading: every member may be called from any thread, at once.
/// Ownership: shared; the last owner gone closes the stream (as close()).
class Stream {
  public:
    /// The bound on bytes waiting for a slow client (1 MiB).
    static constexpr std::size_t kMaxQueued = 1 << 20;

    /// Made by Response::detach().
    explicit Stream(std::shared_ptr<Channel> channel);
    ~Stream();
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;

    /// Queues `data` as body bytes. False, queueing nothing, once the
    /// client is gone or the stream closed, or when the queue is at its
    /// bound (the client reads too slowly: a later write may succeed;
    /// open() tells the two apart).
    bool write(std::string_view data);
    /// Ends the response after what is queued (the last chunk, the end
    /// record); later writes return false. Idempotent.
    void close();
    /// `fn` is called once, on a gateway thread, when the client goes away
    /// or the stream ended (close(), the write timeout, the gateway
    /// stopping). Called at once if that already happened. Replaces an
    /// earlier function. Must not block: it runs on a worker thread.
    void on_close(std::function<void()> fn);
    /// The client is still there and close() was not called.
    bool open() const;
    /// Bytes waiting for the client.
    std::size_t queued() const;

  private:
    std::shared_ptr<Channel> channel_;
};

}  // namespace postern
