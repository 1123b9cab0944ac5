// Postern core: detached responses. A callback hands its response over
// (Response::detach, WebSocket::accept) and returns; its connection then
// waits in the reactor like an idle one, holding no thread, while any
// thread writes to it. The Channel is that connection's engine while it is
// detached: a bounded queue of wire bytes, sent without blocking (at once
// when the socket takes them, otherwise by a worker when epoll reports it
// writable), the read side watched for the front end going away (or, for
// a WebSocket, for its frames), the write timeout, and one end.
//
// The adapter gives the wire's framing (DetachedFraming): FCGI_STDOUT
// records, HTTP chunks, AJP SEND_BODY_CHUNK packets, raw bytes. The reactor
// moves the connection to its stream thread (attach), which reads, sends
// what writers left, and closes.
//
// Threading: every member is safe from any thread. The mutex is held only
// around queueing, non-blocking send(2) and recv(2), never while a callback
// (the reader, on_close, the finished hook) runs. Those run on the stream
// thread (StreamLoop), one at a time.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "postern/response.hpp"

namespace postern {

/// Implemented by each adapter that can stream a response after its
/// callback returned (ResponseSink::detach_framing): appends the protocol's
/// wire bytes for the head, body bytes and the end of a response, without
/// writing anything. Called under the channel's lock, from any thread.
class DetachedFraming {
  public:
    virtual ~DetachedFraming() = default;
    /// The connection's descriptor (owned by the adapter's Connection).
    virtual int fd() const noexcept = 0;
    /// The head, as send_head would put it: a streamed body (chunked, up to
    /// the close) unless `head.content_length` is set. Status 101 is the
    /// WebSocket handshake's: the head as given, then raw bytes.
    virtual void head(const ResponseHead& head, std::string& out) = 0;
    /// Body bytes (not empty).
    virtual void body(std::string_view data, std::string& out) = 0;
    /// The end of a complete response (last chunk, FCGI_END_REQUEST, AJP
    /// END_RESPONSE); may append nothing (the close ends it).
    virtual void end(std::string& out) = 0;
    /// Bytes the adapter read past the request (a WebSocket client's first
    /// frames, sent before the handshake's answer arrived).
    virtual std::string take_input() { return {}; }
};

class StreamLoop;

class Channel : public std::enable_shared_from_this<Channel> {
  public:
    /// Body bytes a Stream queues before write() refuses more.
    static constexpr std::size_t kDefaultMaxQueued = 1 << 20;

    /// `head`: the response head not sent yet (nullopt: the sink sent it
    /// before the detach). `hold`: the head and `body` wait for the first
    /// write() or end() (a Stream's contract); otherwise they go out as
    /// soon as the reactor has the channel.
    Channel(std::unique_ptr<DetachedFraming> framing, std::optional<ResponseHead> head,
            HeaderList headers, std::string body, bool hold, std::size_t max_queued);
    ~Channel();
    Channel(const Channel&) = delete;
    Channel& operator=(const Channel&) = delete;

    // The writers' side (any thread).

    /// Frames `data` as body bytes and queues it, sending what the socket
    /// takes at once. False, queueing nothing, once the channel ended or
    /// the front end is gone, or when the queue would pass its bound (an
    /// empty queue takes any one write).
    bool write(std::string_view data);
    /// Queues `bytes` as they are, past the framing (a WebSocket's frames,
    /// whose framing is raw); same bound and answers as write().
    bool write_raw(std::string_view bytes);
    /// Frames the end of the response after what is queued; the connection
    /// closes once it is sent. Later writes return false. Idempotent.
    void end();
    /// end(), closing the way a server that refuses more input must
    /// (RFC 9112 §9.6, RFC 6455 §7.1.7): once the end is sent, the sending
    /// side is shut and what the client still sends is read and dropped
    /// until it closes, for `linger` at most. Closing with bytes unread
    /// would reset the connection, and the client's TCP may then drop the
    /// last bytes it had not read (a WebSocket's Close frame).
    void end_lingering(std::chrono::milliseconds linger);
    /// Ends at once, dropping what is queued (a request body that failed,
    /// a WebSocket client that broke the protocol after the close frame was
    /// sent).
    void cut();
    /// The front end is still there and neither end() nor cut() was called.
    bool open() const;
    /// Bytes queued and not yet taken by the socket.
    std::size_t queued() const;
    /// Body bytes accepted by write() so far.
    std::uint64_t body_bytes() const;

    /// Called once, on the stream thread, when the connection ends (the
    /// front end went away, the end was sent, the write timeout passed, the
    /// gateway stopped). Set after the end: called at once, here.
    void on_close(std::function<void()> fn);
    /// For the core: called once at the end, before on_close's function,
    /// with the body bytes accepted and whether the end was sent after all
    /// of them (the access log line).
    void on_finished(std::function<void(std::uint64_t bytes, bool complete)> fn);
    /// Bytes arriving from the front end, on the stream thread; return
    /// false to stop reading (then call end() or cut()). Without a reader,
    /// what arrives is read and dropped. The end of file ends the channel.
    /// Set before the callback returns.
    void set_reader(std::function<bool(std::string_view bytes)> reader);
    /// Ends the connection as if the front end went away if it is still
    /// open at `deadline` (a WebSocket waiting for the client's Close
    /// frame, RFC 6455 §7.1.1); the stream loop's check() looks
    /// (stalled()). Only moves it earlier.
    void close_by(std::chrono::steady_clock::time_point deadline);
    /// What the gateway's drain does to this channel instead of cut()
    /// (a WebSocket sends its Close frame, 1001 "going away", and waits a
    /// moment for the client's). The function must end the channel, soon.
    /// Set before the callback returns.
    void on_going_away(std::function<void()> fn);
    /// The gateway stops (the drain of SIGTERM or a reload): the function
    /// given to on_going_away(), or cut(). Called by the reactor.
    void going_away();

    // The reactor's side.

    /// Hands the connection to the stream thread; `source` is what `loop`
    /// gives back to the reactor to close; `write_timeout` bounds a queue
    /// that makes no progress (stalled()).
    void attach(StreamLoop& loop, void* source, std::chrono::milliseconds write_timeout);
    /// On the stream thread: `events` (epoll's, 0 for a wake-up) for this
    /// connection. True when the connection must now be closed: the channel
    /// no longer uses the descriptor and has run its callbacks.
    bool service(std::uint32_t events);
    /// Bytes have waited with none taken for longer than the write timeout,
    /// the close_by() deadline passed, or the front end is gone and the
    /// stream thread not yet told.
    bool stalled(std::chrono::steady_clock::time_point now) const;
    /// For StreamLoop::check(): cuts the channel when stalled(`now`).
    /// False once it needs no more looks (ended, or nothing queued and no
    /// deadline): it leaves the loop's list until it needs one again.
    bool check(std::chrono::steady_clock::time_point now);
    void* source() const noexcept { return source_; }
    /// The gateway stops with the connection still open: the channel lets
    /// go of the descriptor (the reactor closes it) and runs its callbacks.
    void abandon();

  private:
    bool queue_locked(std::string_view data, bool raw);
    /// Sends what is queued without blocking; false when the front end is
    /// gone. Under mutex_.
    bool send_locked();
    /// Encodes the held head and body (the first write or the end).
    void release_locked();
    /// The connection can be closed now.
    bool finished_locked() const;
    /// Marks the channel closed, lets go of the descriptor and runs the
    /// callbacks once; unlocks `lock` (held on mutex_) first.
    void close_locked(std::unique_lock<std::mutex>& lock);
    /// Asks the stream thread to look at this channel (an end, a gone front
    /// end found by a writer).
    void wake_locked();
    /// Puts the channel on the loop's list of channels with a timeout
    /// running (bytes the socket did not take, a close_by() deadline).
    void time_locked();
    bool stalled_locked(std::chrono::steady_clock::time_point now) const;

    mutable std::mutex mutex_;
    std::unique_ptr<DetachedFraming> framing_;
    std::optional<ResponseHead> head_;
    HeaderList headers_;
    std::string held_body_;
    bool held_ = false;
    bool no_body_ = false;
    std::optional<std::uint64_t> length_left_;
    std::size_t max_queued_;

    std::string out_;  // queued wire bytes; out_[sent_..] not sent yet
    std::size_t sent_ = 0;
    std::uint64_t body_bytes_ = 0;
    std::string input_;  // bytes for the reader

    StreamLoop* loop_ = nullptr;
    void* source_ = nullptr;
    int fd_ = -1;  // -1 before attach and after the close
    std::chrono::milliseconds write_timeout_{30'000};
    std::chrono::steady_clock::time_point progress_{};  // the last byte taken, or the queueing
    std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();

    bool ending_ = false;  // end() or cut() called
    bool gone_ = false;    // the front end went away
    bool complete_ = false;
    bool closed_ = false;  // torn down: callbacks run, fd released
    bool woken_ = false;   // in the stream thread's wake list
    bool timed_ = false;   // in the loop's list of timed channels
    bool reading_stopped_ = false;
    bool linger_ = false;      // end_lingering(): the end waits for the client's close
    bool write_shut_ = false;  // end_lingering(): shutdown(SHUT_WR) done

    std::function<void()> on_close_;
    std::function<void(std::uint64_t, bool)> finished_;
    std::function<bool(std::string_view)> reader_;
    std::function<void()> going_away_;
};

/// The stream thread: one per worker process, with its own epoll set
/// (edge-triggered) holding every detached connection. It alone reads
/// them, runs their readers and on_close functions, and closes them; a
/// writer on any other thread sends what the socket takes at once and
/// leaves the rest for it. A channel is closed only at the end of a batch
/// of events, so no readiness in the same batch can name a freed one.
///
/// Timeouts: only the channels that have one running (bytes the socket
/// did not take, a close_by() deadline) are on the loop's timed list, and
/// check() (the reactor's sweeper calls it) looks at those alone. Ten
/// thousand idle event streams cost it nothing; a walk over all of them
/// took a core for milliseconds four times a second, which showed in
/// other requests' tail latency.
class StreamLoop {
  public:
    /// `close`: gives a closed channel's source back to the reactor.
    explicit StreamLoop(std::function<void(void* source)> close);
    ~StreamLoop();
    StreamLoop(const StreamLoop&) = delete;
    StreamLoop& operator=(const StreamLoop&) = delete;

    void start();
    /// Joins the thread; every channel must have been closed before.
    void stop();
    int epoll_fd() const noexcept { return epoll_fd_; }
    /// Queues `channel` for a look by the stream thread.
    void wake(std::shared_ptr<Channel> channel);
    /// Adds `channel` to the timed list (Channel::time_locked).
    void time(std::weak_ptr<Channel> channel);
    /// Cuts every timed channel stalled at `now` and drops from the list
    /// those that need no more looks. Any thread; not under a channel lock.
    void check(std::chrono::steady_clock::time_point now);
    /// Channels on the timed list.
    std::size_t timed() const;
    /// Detached connections open now.
    std::size_t open() const noexcept { return open_.load(std::memory_order_relaxed); }
    void opened() noexcept { open_.fetch_add(1, std::memory_order_relaxed); }

  private:
    void run();

    std::function<void(void*)> close_;
    int epoll_fd_ = -1;
    int wake_fd_ = -1;
    std::thread thread_;
    std::mutex mutex_;
    std::vector<std::shared_ptr<Channel>> woken_;
    bool stop_ = false;
    mutable std::mutex timed_mutex_;
    std::vector<std::weak_ptr<Channel>> timed_;
    std::atomic<std::size_t> open_{0};
};

}  // namespace postern
