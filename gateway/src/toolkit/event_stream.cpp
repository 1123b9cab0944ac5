// Postern toolkit: Server-Sent Events over a detached response, and the one
// heartbeat timer thread of the process.
//
// The wire format is the WHATWG HTML standard's "Server-sent events"
// (§9.2.5 Parsing an event stream, §9.2.6 Interpreting it): lines end with
// CRLF, LF or CR; a line "field: value" sets a field (one space after the
// colon is dropped); a line starting with ':' is a comment; a blank line
// dispatches the event, unless its data buffer is empty.
#include "postern/event_stream.hpp"

#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <queue>
#include <stdexcept>
#include <thread>
#include <vector>

namespace postern {

namespace {

using Clock = std::chrono::steady_clock;

/// A field value cannot hold a line break (it would end the field, and the
/// rest would be read as another field) nor, for an id, NUL (§9.2.6: the
/// client ignores such an id).
void check_field(std::string_view what, std::string_view value) {
    if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos)
        throw std::invalid_argument("server-sent event " + std::string(what) +
                                    " holds CR, LF or NUL");
}

/// Appends `prefix` and each line of `text` (split on CRLF, LF or CR, as
/// the client splits them), one line each: "prefix: line\n", "prefix\n"
/// for an empty line. An empty text is one empty line.
void append_lines(std::string& out, std::string_view prefix, std::string_view text) {
    std::size_t i = 0;
    for (;;) {
        const std::size_t end = text.find_first_of("\r\n", i);
        const std::string_view line =
            text.substr(i, end == std::string_view::npos ? std::string_view::npos : end - i);
        out += prefix;
        if (!line.empty()) {
            // One space after the colon is dropped by the client, so a line
            // that starts with a space keeps it.
            out += ' ';
            out += line;
        }
        out += '\n';
        if (end == std::string_view::npos)
            return;
        i = end + (text[end] == '\r' && end + 1 < text.size() && text[end + 1] == '\n' ? 2 : 1);
    }
}

/// The heartbeat timer: one thread for every EventStream of the process,
/// started with the first one. It keeps weak references in a heap ordered
/// by when each is next due; a stream found closed or released is dropped.
/// A stream is looked at once per interval (when the last event was recent,
/// it is put back for the interval after that event), so 10,000 streams
/// with a 15 s interval cost about 700 looks a second, most of them without
/// a write.
class HeartbeatTimer {
  public:
    static HeartbeatTimer& instance() {
        static HeartbeatTimer timer;
        return timer;
    }

    void add(const std::shared_ptr<EventStream>& stream, Clock::time_point due) {
        std::lock_guard lock(mutex_);
        // A process forked from one whose timer ran has no such thread
        // (fork copies only the calling thread): start one of its own.
        // Its std::thread is left alone (never joined nor destroyed).
        if (owner_ != ::getpid()) {
            if (thread_)
                (void)thread_.release();
            owner_ = ::getpid();
            thread_ = std::make_unique<std::thread>([this] { run(); });
        }
        const bool earliest = heap_.empty() || due < heap_.top().due;
        heap_.push(Entry{due, stream});
        if (earliest)
            wake_.notify_one();
    }

    ~HeartbeatTimer() {
        {
            std::lock_guard lock(mutex_);
            stop_ = true;
        }
        wake_.notify_one();
        if (thread_ && owner_ == ::getpid())
            thread_->join();
        else
            (void)thread_.release();
    }

  private:
    struct Entry {
        Clock::time_point due;
        std::weak_ptr<EventStream> stream;
        bool operator>(const Entry& other) const { return due > other.due; }
    };

    HeartbeatTimer() = default;

    void run() {
        std::vector<Entry> due;
        std::unique_lock lock(mutex_);
        while (!stop_) {
            if (heap_.empty()) {
                wake_.wait(lock);
                continue;
            }
            const Clock::time_point now = Clock::now();
            if (heap_.top().due > now) {
                // A copy: add() may grow the heap (and move its entries)
                // while this waits.
                const Clock::time_point until = heap_.top().due;
                wake_.wait_until(lock, until);
                continue;
            }
            while (!heap_.empty() && heap_.top().due <= now) {
                due.push_back(heap_.top());
                heap_.pop();
            }
            // Writes (and the release of a stream whose owners are gone,
            // which ends it) happen outside the lock: add() never waits on
            // a socket.
            lock.unlock();
            for (Entry& entry : due) {
                std::optional<Clock::time_point> next;
                if (auto stream = entry.stream.lock())
                    next = stream->beat(now);
                if (!next)
                    entry.stream.reset();
                else
                    entry.due = *next;
            }
            lock.lock();
            for (Entry& entry : due)
                if (!entry.stream.expired())
                    heap_.push(std::move(entry));
            due.clear();
        }
    }

    std::mutex mutex_;
    std::condition_variable wake_;
    std::priority_queue<Entry, std::vector<Entry>, std::greater<>> heap_;
    std::unique_ptr<std::thread> thread_;
    pid_t owner_ = 0;
    bool stop_ = false;
};

}  // namespace

std::string EventStream::encode(std::string_view event, std::string_view data,
                                std::string_view id) {
    check_field("event name", event);
    check_field("id", id);
    std::string out;
    out.reserve(event.size() + data.size() + id.size() + 32);
    if (!id.empty())
        out.append("id: ").append(id).append("\n");
    if (!event.empty())
        out.append("event: ").append(event).append("\n");
    append_lines(out, "data:", data);
    out += '\n';
    return out;
}

std::string EventStream::encode_comment(std::string_view text) {
    std::string out;
    append_lines(out, ":", text);
    return out;
}

std::shared_ptr<EventStream> EventStream::open(Request& req, Response& res,
                                               const EventStreamOptions& options) {
    if (options.heartbeat.count() < 0)
        throw std::invalid_argument("negative server-sent events heartbeat interval");
    if (options.retry && options.retry->count() < 0)
        throw std::invalid_argument("negative server-sent events retry delay");
    std::string last_id(req.header("Last-Event-ID").value_or(""));
    res.set_header("Content-Type", "text/event-stream");
    // No cache may keep the stream, and nginx must not buffer it, whatever
    // the location's proxy_buffering or fastcgi_buffering.
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    auto events =
        std::make_shared<EventStream>(res.detach(), std::move(last_id), options.heartbeat);
    // The head goes out with the first write: send it now, so that the
    // client knows it is subscribed before the first event.
    if (options.retry)
        events->retry(*options.retry);
    else
        events->write({});
    if (options.heartbeat.count() > 0)
        HeartbeatTimer::instance().add(events, Clock::now() + options.heartbeat);
    return events;
}

EventStream::EventStream(std::shared_ptr<Stream> stream, std::string last_event_id,
                         std::chrono::milliseconds heartbeat)
    : stream_(std::move(stream)),
      last_event_id_(std::move(last_event_id)),
      heartbeat_(heartbeat),
      last_write_(Clock::now().time_since_epoch().count()) {
    if (!stream_)
        throw std::invalid_argument("EventStream without a stream");
}

EventStream::~EventStream() = default;

bool EventStream::write(std::string_view bytes) {
    if (!stream_->write(bytes))
        return false;
    last_write_.store(Clock::now().time_since_epoch().count(), std::memory_order_relaxed);
    return true;
}

bool EventStream::send(std::string_view event, std::string_view data, std::string_view id) {
    return write(encode(event, data, id));
}

bool EventStream::send_encoded(std::string_view bytes) {
    return write(bytes);
}

bool EventStream::retry(std::chrono::milliseconds ms) {
    if (ms.count() < 0)
        throw std::invalid_argument("negative server-sent events retry delay");
    return write("retry: " + std::to_string(ms.count()) + "\n");
}

bool EventStream::comment(std::string_view text) {
    return write(encode_comment(text));
}

void EventStream::on_close(std::function<void()> fn) {
    stream_->on_close(std::move(fn));
}

void EventStream::close() {
    stream_->close();
}

bool EventStream::open() const {
    return stream_->open();
}

std::size_t EventStream::queued() const {
    return stream_->queued();
}

std::optional<std::chrono::steady_clock::time_point> EventStream::beat(
    std::chrono::steady_clock::time_point now) {
    if (heartbeat_.count() <= 0 || !stream_->open())
        return std::nullopt;
    const Clock::time_point last{Clock::duration(last_write_.load(std::memory_order_relaxed))};
    if (now - last < heartbeat_)
        return last + heartbeat_;
    write(":\n");
    return now + heartbeat_;
}

}  // namespace postern
