// Postern example: a Server-Sent Events broadcast hub (postern::EventStream
// on a detached response), mounted at /events:
//
//   GET  /events           subscribes (text/event-stream). A client that
//                          reconnects with Last-Event-ID first gets the
//                          events it missed that are still in the history.
//   POST /events/publish   broadcasts one event to every subscriber: a form
//                          (`event=`, `data=`) or any other body as the data
//                          (`?event=` names it); answers {"id":N,"delivered":M}.
//   GET  /events/stats     {"subscribers":N,"published":M,"last_id":K,"dropped":D}
//
// No thread is held per subscriber: the callback subscribes and returns, and
// the connection waits in the gateway's reactor until an event is written
// to it, from whichever thread publishes (a worker running POST /publish,
// or the ticker below).
//
// Settings (the mount's --config section):
//   history = 1000        events kept for Last-Event-ID replays (0: none)
//   tick-ms = 0           publish a "tick" event every N ms ({"n":N,
//                         "sent_us":T}, T the wall clock in microseconds);
//                         0: no ticker
//   heartbeat-ms = 15000  a comment on a stream silent this long (0: none)
//   retry-ms = 0          the reconnection delay sent to clients (0: none)
//   spread-ms = 0         deliver each event in slices (one every slice-ms)
//                         spread over this many ms, rather than in one burst
//                         (0): the front end then interleaves other requests
//                         with the slices (bench/sse), at the price of the
//                         last subscribers getting the event that much later.
//                         The publisher (the ticker, or the worker thread of
//                         POST /publish) waits meanwhile.
//   slice-ms = 2          with spread-ms: how often a slice goes out (1..1000);
//                         small slices disturb other requests least (bench/sse)
//   max-subscribers = 100000
//
// State is per worker process: run with --processes 1 (or --processes 0)
// so that every subscriber and every publisher meet in one hub.
//
// A subscriber is dropped when it goes away, and also when an event cannot
// be queued for it (it reads too slowly and its queue is full): its stream
// is closed, and the browser reconnects with Last-Event-ID and gets what it
// missed from the history, rather than silently losing an event.
#include <postern/postern.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

using postern::EventStream;
using postern::Request;
using postern::RequestError;
using postern::Response;

struct Settings {
    std::size_t history = 1000;
    long long tick_ms = 0;
    long long heartbeat_ms = 15'000;
    long long retry_ms = 0;
    long long spread_ms = 0;
    long long slice_ms = 2;
    std::size_t max_subscribers = 100'000;
};

/// The subscribers and the recent events of one mount, in one worker.
///
/// Locks: `deliver_` orders publishers (each event reaches every subscriber
/// in id order); `mutex_` guards the lists, held for a few microseconds,
/// never while writing to a subscriber except the replay of a new one.
class Hub : public std::enable_shared_from_this<Hub> {
  public:
    explicit Hub(const Settings& s) : settings_(s) {}

    void subscribe(Request& req, Response& res) {
        postern::EventStreamOptions options;
        options.heartbeat = std::chrono::milliseconds(settings_.heartbeat_ms);
        if (settings_.retry_ms > 0)
            options.retry = std::chrono::milliseconds(settings_.retry_ms);
        {
            std::lock_guard lock(mutex_);
            if (subscribers_.size() >= settings_.max_subscribers)
                throw RequestError(503, "too many subscribers");
        }
        auto events = EventStream::open(req, res, options);
        // Removed from the hub when the client goes (on the gateway's
        // stream thread). A weak hub: the hub may be gone (teardown).
        std::weak_ptr<Hub> weak = weak_from_this();
        const EventStream* key = events.get();
        events->on_close([weak, key] {
            if (auto hub = weak.lock())
                hub->remove(key);
        });
        std::lock_guard lock(mutex_);
        // The replay and the joining happen under one lock, so an event
        // published meanwhile is either in the replay or delivered after.
        const std::uint64_t after = parse_id(events->last_event_id());
        if (after > 0)
            for (const auto& [id, bytes] : history_)
                if (id > after)
                    events->send_encoded(bytes);
        if (events->open())
            subscribers_.emplace(key, std::move(events));
    }

    /// Sends one event to every subscriber; returns its id and how many
    /// took it.
    std::pair<std::uint64_t, std::size_t> publish(std::string_view event, std::string_view data) {
        std::lock_guard order(deliver_);
        std::vector<std::shared_ptr<EventStream>> to;
        std::uint64_t id;
        std::string bytes;
        {
            std::lock_guard lock(mutex_);
            id = next_id_;
            // Throws std::invalid_argument for a bad event name, before
            // anything is kept.
            bytes = EventStream::encode(event, data, std::to_string(id));
            ++next_id_;
            if (settings_.history > 0) {
                history_.emplace_back(id, bytes);
                if (history_.size() > settings_.history)
                    history_.pop_front();
            }
            to.reserve(subscribers_.size());
            for (const auto& [key, s] : subscribers_)
                to.push_back(s);
        }
        published_.fetch_add(1, std::memory_order_relaxed);
        // One encoding, written to each stream: each write queues the bytes
        // and sends what the socket takes at once, without blocking.
        std::size_t delivered = 0;
        std::vector<const EventStream*> failed;
        // Paced: slice k (one every slice-ms) is due at k/slices of the
        // spread, so a late start or a slow slice never stretches the whole
        // past it.
        const std::size_t slices =
            settings_.spread_ms >= 2 * settings_.slice_ms
                ? std::min<std::size_t>(
                      to.size(), static_cast<std::size_t>(settings_.spread_ms / settings_.slice_ms))
                : 1;
        const std::size_t slice = slices > 0 ? (to.size() + slices - 1) / slices : 1;
        const auto start = std::chrono::steady_clock::now();
        for (std::size_t i = 0; i < to.size(); ++i) {
            if (i > 0 && i % slice == 0 && slices > 1)
                std::this_thread::sleep_until(
                    start + std::chrono::milliseconds(settings_.spread_ms) * (i / slice) / slices);
            const auto& s = to[i];
            if (s->send_encoded(bytes)) {
                ++delivered;
                continue;
            }
            s->close();  // gone, or too slow: it reconnects and replays
            failed.push_back(s.get());
        }
        if (!failed.empty()) {
            std::lock_guard lock(mutex_);
            for (const EventStream* key : failed)
                dropped_ += subscribers_.erase(key);
        }
        return {id, delivered};
    }

    void remove(const EventStream* key) {
        std::lock_guard lock(mutex_);
        dropped_ += subscribers_.erase(key);
    }

    std::string stats() {
        std::lock_guard lock(mutex_);
        return "{\"subscribers\":" + std::to_string(subscribers_.size()) +
               ",\"published\":" + std::to_string(published_.load()) +
               ",\"last_id\":" + std::to_string(next_id_ - 1) +
               ",\"dropped\":" + std::to_string(dropped_) + "}\n";
    }

    void start_ticker() {
        if (settings_.tick_ms <= 0)
            return;
        ticker_ = std::thread([this] {
            const auto every = std::chrono::milliseconds(settings_.tick_ms);
            auto next = std::chrono::steady_clock::now() + every;
            std::unique_lock lock(tick_mutex_);
            for (std::uint64_t n = 1;; ++n) {
                if (tick_stop_cv_.wait_until(lock, next, [this] { return tick_stop_; }))
                    return;
                lock.unlock();
                const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count();
                publish("tick",
                        "{\"n\":" + std::to_string(n) + ",\"sent_us\":" + std::to_string(us) + "}");
                lock.lock();
                // A fixed rate; after a stall the ticker skips, never bursts.
                next += every;
                if (next < std::chrono::steady_clock::now())
                    next = std::chrono::steady_clock::now() + every;
            }
        });
    }

    /// Stops the ticker and ends every stream. The on_close functions are
    /// this module's code: they are cleared first, as the gateway may
    /// unload the module once teardown returned.
    void shut() {
        {
            std::lock_guard lock(tick_mutex_);
            tick_stop_ = true;
        }
        tick_stop_cv_.notify_all();
        if (ticker_.joinable())
            ticker_.join();
        std::unordered_map<const EventStream*, std::shared_ptr<EventStream>> all;
        {
            std::lock_guard lock(mutex_);
            all.swap(subscribers_);
            history_.clear();
        }
        for (const auto& [key, s] : all) {
            s->on_close(nullptr);
            s->close();
        }
    }

  private:
    /// Last-Event-ID as one of our ids; 0 (replay nothing) for anything else.
    static std::uint64_t parse_id(std::string_view text) {
        std::uint64_t id = 0;
        if (text.empty() || text.size() > 19)
            return 0;
        for (char c : text) {
            if (c < '0' || c > '9')
                return 0;
            id = id * 10 + static_cast<std::uint64_t>(c - '0');
        }
        return id;
    }

    const Settings settings_;
    std::mutex deliver_;
    std::mutex mutex_;
    std::unordered_map<const EventStream*, std::shared_ptr<EventStream>> subscribers_;
    std::deque<std::pair<std::uint64_t, std::string>> history_;
    std::uint64_t next_id_ = 1;
    std::uint64_t dropped_ = 0;
    std::atomic<std::uint64_t> published_{0};

    std::thread ticker_;
    std::mutex tick_mutex_;
    std::condition_variable tick_stop_cv_;
    bool tick_stop_ = false;
};

void publish(Hub& hub, Request& req, Response& res) {
    std::string event, data;
    if (req.content_type().substr(0, 33) == "application/x-www-form-urlencoded") {
        event = req.form().get("event", "");
        data = req.form().get("data", "");
    } else {
        event = req.query().get("event", "");
        data = req.read_all(64 * 1024);
    }
    try {
        const auto [id, delivered] = hub.publish(event, data);
        res.json("{\"id\":" + std::to_string(id) + ",\"delivered\":" + std::to_string(delivered) +
                 "}\n");
    } catch (const std::invalid_argument& e) {
        throw RequestError(400, e.what());
    }
}

/// Every hub of this worker (one per mount of the module), for teardown.
std::vector<std::shared_ptr<Hub>> g_hubs;

postern::Handler setup(const postern::ModuleConfig& config) {
    Settings s;
    s.history = static_cast<std::size_t>(config.get_int("history", 1000, 0, 1'000'000));
    s.tick_ms = config.get_int("tick-ms", 0, 0, 3'600'000);
    s.heartbeat_ms = config.get_int("heartbeat-ms", 15'000, 0, 3'600'000);
    s.retry_ms = config.get_int("retry-ms", 0, 0, 3'600'000);
    s.spread_ms = config.get_int("spread-ms", 0, 0, 60'000);
    s.slice_ms = config.get_int("slice-ms", 2, 1, 1'000);
    s.max_subscribers =
        static_cast<std::size_t>(config.get_int("max-subscribers", 100'000, 1, 10'000'000));
    auto hub = std::make_shared<Hub>(s);
    hub->start_ticker();
    g_hubs.push_back(hub);

    postern::Router router;
    router.get("/", [hub](Request& req, Response& res) { hub->subscribe(req, res); })
        .post("/publish", [hub](Request& req, Response& res) { publish(*hub, req, res); })
        .get("/stats", [hub](Request&, Response& res) { res.json(hub->stats()); });
    return router;
}

void teardown() {
    for (const auto& hub : g_hubs)
        hub->shut();
    g_hubs.clear();
}

}  // namespace

POSTERN_MODULE(setup, teardown)
