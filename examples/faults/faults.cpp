// Example, for tests: misbehaving callbacks, routed on PATH_INFO.
//   /throw            throws std::runtime_error (the gateway answers 500)
//   /abort            calls std::abort() (the whole worker process dies)
//   /sleep?ms=N       sleeps N ms (0..60000), then answers "slept N ms\n";
//                     with &flush=1 the head goes out first, so a client
//                     knows the request is running before it ends
//   /big?bytes=N      N body bytes (0..16 GiB) in 64 KiB writes, each one
//                     flushed, stopping as soon as the client has gone
//   /detach?ticks=N&every_ms=M&bytes=B
//                     a detached response (Response::detach): text/plain
//                     with X-Accel-Buffering: no, then N lines (1..10000)
//                     "tick I" padded with '.' to B bytes (8..65536, newline
//                     included; default 16), one every M ms (0..10000; the
//                     whole stream at most 10 minutes), the first at once,
//                     then the stream is closed. The ticks are written by
//                     one timer thread shared by every stream of the worker
//                     process, never by the request's own thread. A tick
//                     the stream refuses because the client reads too
//                     slowly is skipped. &flush=1 sends the head (and a
//                     first line "start", with &start=1) before detaching;
//                     &start=1 alone writes that line, held with the head.
//                     At most 20000 streams at once (503 beyond).
//   /detach-stats     JSON counts, for this worker process, of detached
//                     streams: opened, closed (on_close calls), closed_twice
//                     (must stay 0), active (still ticking), ticks (written),
//                     refused (write() false, stream still open: its queue
//                     was full), failed (write() false, stream gone).
//                     When the worker process exits, a line "faults:
//                     detached streams opened N, closed N, closed twice N"
//                     goes to stderr (if any stream was opened).
// Anything else is a 404.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <postern/postern.hpp>

namespace {

void big(postern::Request& req, postern::Response& res) {
    const auto total = static_cast<std::uint64_t>(req.query().get_int("bytes", 0, 0, 16LL << 30));
    res.header("Content-Type", "application/octet-stream");
    res.header("Content-Length", std::to_string(total));
    const std::string piece(64 * 1024, 'x');
    for (std::uint64_t left = total; left != 0;) {
        const std::uint64_t n = std::min<std::uint64_t>(left, piece.size());
        if (!res.write(std::string_view(piece).substr(0, n)) || !res.flush())
            return;
        left -= n;
    }
}

// --- /detach: one timer thread ticking every detached stream -------------------

struct Stats {
    std::atomic<std::uint64_t> opened{0}, closed{0}, closed_twice{0}, active{0}, ticks{0},
        refused{0}, failed{0};
};

/// The streams being ticked, and the one thread that writes to them.
/// Started with the first stream; stopped (joined) when the module is
/// unloaded, after the gateway ended every stream.
class Ticker {
  public:
    static constexpr std::size_t kMaxStreams = 20000;

    struct Entry {
        std::shared_ptr<postern::Stream> stream;
        long long left;
        long long next;
        std::chrono::milliseconds every;
        std::chrono::steady_clock::time_point due;
        std::size_t bytes;
    };

    ~Ticker() {
        {
            std::lock_guard lock(mutex_);
            stop_ = true;
        }
        cv_.notify_all();
        if (thread_.joinable())
            thread_.join();
        // At the worker's exit, after the gateway ended every stream: what
        // a test of the shutdown reads in the gateway's log.
        if (stats_.opened.load() > 0)
            std::fprintf(stderr,
                         "faults: detached streams opened %llu, closed %llu, closed twice %llu\n",
                         static_cast<unsigned long long>(stats_.opened.load()),
                         static_cast<unsigned long long>(stats_.closed.load()),
                         static_cast<unsigned long long>(stats_.closed_twice.load()));
    }

    Stats& stats() noexcept { return stats_; }
    bool full() {
        std::lock_guard lock(mutex_);
        return entries_.size() >= kMaxStreams;
    }

    bool add(Entry e) {
        {
            std::lock_guard lock(mutex_);
            if (entries_.size() >= kMaxStreams)
                return false;
            entries_.push_back(std::move(e));
            stats_.active.fetch_add(1);
            if (!thread_.joinable())
                thread_ = std::thread([this] { run(); });
        }
        cv_.notify_all();
        return true;
    }

  private:
    static std::string tick(long long i, std::size_t bytes) {
        std::string line = "tick " + std::to_string(i);
        if (line.size() + 1 < bytes)
            line.append(bytes - 1 - line.size(), '.');
        line += '\n';
        return line;
    }

    void run() {
        std::unique_lock lock(mutex_);
        while (!stop_) {
            if (entries_.empty()) {
                cv_.wait(lock);
                continue;
            }
            auto now = std::chrono::steady_clock::now();
            auto first =
                std::min_element(entries_.begin(), entries_.end(),
                                 [](const Entry& a, const Entry& b) { return a.due < b.due; });
            if (first->due > now) {
                cv_.wait_until(lock, first->due);
                continue;
            }
            // The due ones are taken out and written to without the lock
            // (a write never blocks, but add() need not wait for them).
            std::vector<Entry> due;
            for (auto it = entries_.begin(); it != entries_.end();) {
                if (it->due <= now) {
                    due.push_back(std::move(*it));
                    *it = std::move(entries_.back());
                    entries_.pop_back();
                } else {
                    ++it;
                }
            }
            lock.unlock();
            std::vector<Entry> keep;
            for (Entry& e : due) {
                if (e.stream->write(tick(e.next, e.bytes))) {
                    stats_.ticks.fetch_add(1);
                } else if (e.stream->open()) {
                    stats_.refused.fetch_add(1);
                } else {
                    stats_.failed.fetch_add(1);
                    stats_.active.fetch_sub(1);
                    continue;  // the client is gone: drop the stream
                }
                ++e.next;
                if (--e.left == 0) {
                    e.stream->close();
                    stats_.active.fetch_sub(1);
                    continue;
                }
                e.due += e.every;
                keep.push_back(std::move(e));
            }
            due.clear();  // a last owner's close runs here, outside the lock
            lock.lock();
            for (Entry& e : keep)
                entries_.push_back(std::move(e));
        }
    }

    Stats stats_;
    std::mutex mutex_;
    std::condition_variable cv_;
    std::vector<Entry> entries_;
    bool stop_ = false;
    std::thread thread_;
};

Ticker& ticker() {
    static Ticker t;
    return t;
}

void detach(postern::Request& req, postern::Response& res) {
    const auto q = req.query();
    const long long ticks = q.get_int("ticks", 10, 1, 10'000);
    const long long every = q.get_int("every_ms", 100, 0, 10'000);
    const auto bytes = static_cast<std::size_t>(q.get_int("bytes", 16, 8, 65'536));
    const bool flush = q.get_int("flush", 0, 0, 1) == 1;
    const bool start = q.get_int("start", 0, 0, 1) == 1;
    if (ticks * every > 600'000)
        throw postern::RequestError(400, "faults /detach: the stream would last over 10 minutes");
    res.header("Content-Type", "text/plain");
    if (ticker().full()) {
        res.status(503);
        res.write("faults /detach: too many streams at once\n");
        return;
    }
    res.header("X-Accel-Buffering", "no");
    if (start)
        res.write("start\n");
    if (flush)
        res.flush();
    std::shared_ptr<postern::Stream> stream = res.detach();
    Stats& stats = ticker().stats();
    stats.opened.fetch_add(1);
    // Counted once; a second call would be the gateway's bug.
    auto once = std::make_shared<std::atomic<bool>>(false);
    stream->on_close([&stats, once] {
        if (once->exchange(true))
            stats.closed_twice.fetch_add(1);
        else
            stats.closed.fetch_add(1);
    });
    Ticker::Entry e{
        stream, ticks, 0, std::chrono::milliseconds(every), std::chrono::steady_clock::now(),
        bytes};
    if (!ticker().add(std::move(e))) {
        // Over the bound after all (another request took the last place):
        // the head goes out alone, ended at once.
        stream->close();
    }
}

void detach_stats(postern::Response& res) {
    const Stats& s = ticker().stats();
    res.header("Content-Type", "application/json");
    res.write("{\"opened\": " + std::to_string(s.opened.load()) +
              ", \"closed\": " + std::to_string(s.closed.load()) +
              ", \"closed_twice\": " + std::to_string(s.closed_twice.load()) + ", \"active\": " +
              std::to_string(s.active.load()) + ", \"ticks\": " + std::to_string(s.ticks.load()) +
              ", \"refused\": " + std::to_string(s.refused.load()) +
              ", \"failed\": " + std::to_string(s.failed.load()) + "}\n");
}

void faults(postern::Request& req, postern::Response& res) {
    const auto path = req.path_info();
    if (path == "/throw") {
        throw std::runtime_error("faults example: /throw was asked to throw");
    }
    if (path == "/abort") {
        std::abort();
    }
    if (path == "/sleep") {
        const long long ms = req.query().get_int("ms", 0, 0, 60'000);
        res.header("Content-Type", "text/plain");
        if (req.query().get_int("flush", 0, 0, 1) == 1)
            res.flush();
        std::this_thread::sleep_for(std::chrono::milliseconds(ms));
        res.write("slept " + std::to_string(ms) + " ms\n");
        return;
    }
    if (path == "/big") {
        big(req, res);
        return;
    }
    if (path == "/detach") {
        detach(req, res);
        return;
    }
    if (path == "/detach-stats") {
        detach_stats(res);
        return;
    }
    res.status(404);
    res.header("Content-Type", "text/plain");
    res.write(
        "faults: no such fault (try /throw, /abort, /sleep?ms=N, /big?bytes=N, "
        "/detach?ticks=N, /detach-stats)\n");
}

}  // namespace

POSTERN_APP(faults)
