#include "core/status.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <new>
#include <stdexcept>
#include <thread>

#include "postern/version.hpp"

namespace postern::status {

// Both live in memory shared between processes: lock-free atomics (which
// are address-free) and plain bytes only.
struct Board::Header {
    /// Odd while the supervisor folds a record into the retired one: a
    /// reader that saw it change reads again (a sequence lock).
    std::atomic<std::uint32_t> seq;
    std::atomic<std::uint32_t> listener_count;
    std::atomic<std::uint32_t> processes;
    std::uint32_t records;
    std::int64_t started;
    std::int64_t master_pid;
    std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(Restart::count_)> restarts;
    char names[kMaxListeners][kNameBytes];
    char protocols[kMaxListeners][16];
};

struct Board::Record {
    /// 0 free, 1 taken by a worker (which may not have started yet).
    std::atomic<std::uint32_t> state;
    std::atomic<std::int64_t> pid;
    std::atomic<std::int64_t> started;
    Counters listeners[kMaxListeners];
};

static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<std::int64_t>::is_always_lock_free);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);

namespace {

constexpr auto relaxed = std::memory_order_relaxed;

Board::Record* record_at(Board::Header* h, std::size_t i) {
    // Record 0 is the retired one; worker records follow.
    return reinterpret_cast<Board::Record*>(reinterpret_cast<char*>(h) + sizeof(Board::Header)) + i;
}

std::int64_t unix_now() {
    return static_cast<std::int64_t>(std::time(nullptr));
}

template <std::size_t N>
void add_into(std::array<std::uint64_t, N>& to,
              const std::array<std::atomic<std::uint64_t>, N>& from) {
    for (std::size_t i = 0; i < N; ++i)
        to[i] += from[i].load(relaxed);
}

template <std::size_t N>
void fold_into(std::array<std::atomic<std::uint64_t>, N>& to,
               std::array<std::atomic<std::uint64_t>, N>& from) {
    for (std::size_t i = 0; i < N; ++i) {
        to[i].fetch_add(from[i].load(relaxed), relaxed);
        from[i].store(0, relaxed);
    }
}

std::atomic<Board*> g_board{nullptr};
std::atomic<int> g_record{-1};

}  // namespace

void Totals::add(const Counters& c) noexcept {
    add_into(requests, c.requests);
    in_flight += static_cast<std::int64_t>(c.in_flight.load(relaxed));
    bytes_received += c.bytes_received.load(relaxed);
    bytes_sent += c.bytes_sent.load(relaxed);
    add_into(refused, c.refused);
    add_into(malformed, c.malformed);
    add_into(latency, c.latency);
    latency_sum_us += c.latency_sum_us.load(relaxed);
}

void Totals::add(const Totals& t) noexcept {
    for (std::size_t i = 0; i < requests.size(); ++i)
        requests[i] += t.requests[i];
    in_flight += t.in_flight;
    bytes_received += t.bytes_received;
    bytes_sent += t.bytes_sent;
    for (std::size_t i = 0; i < refused.size(); ++i)
        refused[i] += t.refused[i];
    for (std::size_t i = 0; i < malformed.size(); ++i)
        malformed[i] += t.malformed[i];
    for (std::size_t i = 0; i < latency.size(); ++i)
        latency[i] += t.latency[i];
    latency_sum_us += t.latency_sum_us;
}

std::uint64_t Totals::requests_total() const noexcept {
    std::uint64_t n = 0;
    for (std::uint64_t r : requests)
        n += r;
    return n;
}

Board::Board(std::size_t records, unsigned processes) {
    records = std::clamp<std::size_t>(records, 1, 4096);
    const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    bytes_ = (sizeof(Header) + (records + 1) * sizeof(Record) + page - 1) / page * page;
    // Untouched pages cost no memory: a record's pages are touched only for
    // the listeners its worker serves.
    void* p = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        throw std::runtime_error(std::string("cannot map the status board: ") +
                                 std::strerror(errno));
    // Fresh anonymous memory is zero, which is every counter's start.
    header_ = new (p) Header{};
    header_->records = static_cast<std::uint32_t>(records);
    header_->processes.store(processes);
    header_->started = unix_now();
    header_->master_pid = ::getpid();
    for (std::size_t i = 0; i <= records; ++i)
        new (record_at(header_, i)) Record{};
}

Board::~Board() {
    if (g_board.load() == this) {
        g_board.store(nullptr);
        g_record.store(-1);
    }
    ::munmap(header_, bytes_);
}

int Board::listener(std::string_view name, std::string_view protocol) {
    const std::uint32_t n = header_->listener_count.load(std::memory_order_acquire);
    name = name.substr(0, kNameBytes - 1);
    for (std::uint32_t i = 0; i < n; ++i)
        if (name == header_->names[i])
            return static_cast<int>(i);
    if (n >= kMaxListeners)
        return -1;
    std::memcpy(header_->names[n], name.data(), name.size());
    header_->names[n][name.size()] = '\0';
    protocol = protocol.substr(0, sizeof(header_->protocols[n]) - 1);
    std::memcpy(header_->protocols[n], protocol.data(), protocol.size());
    header_->protocols[n][protocol.size()] = '\0';
    header_->listener_count.store(n + 1, std::memory_order_release);
    return static_cast<int>(n);
}

int Board::claim() {
    for (std::uint32_t i = 1; i <= header_->records; ++i) {
        Record* r = record_at(header_, i);
        if (r->state.load() == 0) {
            r->pid.store(0);
            r->started.store(unix_now());
            r->state.store(1);
            return static_cast<int>(i);
        }
    }
    return -1;
}

void Board::started(int record, long pid) noexcept {
    if (record < 1 || static_cast<std::uint32_t>(record) > header_->records)
        return;
    record_at(header_, static_cast<std::size_t>(record))->pid.store(pid);
}

void Board::release(int record) noexcept {
    if (record < 1 || static_cast<std::uint32_t>(record) > header_->records)
        return;
    Record* r = record_at(header_, static_cast<std::size_t>(record));
    Record* retired = record_at(header_, 0);
    header_->seq.fetch_add(1, std::memory_order_acq_rel);  // odd: folding
    std::atomic_thread_fence(std::memory_order_release);
    for (std::size_t l = 0; l < kMaxListeners; ++l) {
        Counters& from = r->listeners[l];
        Counters& to = retired->listeners[l];
        fold_into(to.requests, from.requests);
        // Requests in flight died with the worker: not carried over.
        from.in_flight.store(0, relaxed);
        to.bytes_received.fetch_add(from.bytes_received.exchange(0, relaxed), relaxed);
        to.bytes_sent.fetch_add(from.bytes_sent.exchange(0, relaxed), relaxed);
        fold_into(to.refused, from.refused);
        fold_into(to.malformed, from.malformed);
        fold_into(to.latency, from.latency);
        to.latency_sum_us.fetch_add(from.latency_sum_us.exchange(0, relaxed), relaxed);
    }
    r->pid.store(0);
    header_->seq.fetch_add(1, std::memory_order_release);  // even: done
    r->state.store(0);
}

void Board::restarted(Restart why) noexcept {
    header_->restarts[static_cast<std::size_t>(why)].fetch_add(1, relaxed);
}

void Board::set_processes(unsigned n) noexcept {
    header_->processes.store(n, relaxed);
}

Counters* Board::counters(int record, int listener) noexcept {
    if (record < 0 || static_cast<std::uint32_t>(record) > header_->records || listener < 0 ||
        static_cast<std::size_t>(listener) >= kMaxListeners)
        return nullptr;
    return &record_at(header_, static_cast<std::size_t>(record))->listeners[listener];
}

Snapshot Board::snapshot() const {
    for (int attempt = 0;; ++attempt) {
        const std::uint32_t seq = header_->seq.load(std::memory_order_acquire);
        if (seq % 2 != 0 && attempt < 1000) {
            std::this_thread::yield();
            continue;
        }
        Snapshot s;
        s.master_pid = static_cast<long>(header_->master_pid);
        s.started = header_->started;
        s.now = unix_now();
        s.processes = header_->processes.load(relaxed);
        for (std::size_t i = 0; i < s.restarts.size(); ++i)
            s.restarts[i] = header_->restarts[i].load(relaxed);
        const std::uint32_t n = std::min<std::uint32_t>(
            header_->listener_count.load(std::memory_order_acquire), kMaxListeners);
        s.listeners.resize(n);
        for (std::uint32_t l = 0; l < n; ++l) {
            s.listeners[l].name = header_->names[l];
            s.listeners[l].protocol = header_->protocols[l];
        }
        for (std::uint32_t i = 0; i <= header_->records; ++i) {
            const Record* r = record_at(header_, i);
            if (i > 0 && r->state.load(relaxed) == 0)
                continue;
            Totals worker;
            for (std::uint32_t l = 0; l < n; ++l) {
                Totals t;
                t.add(r->listeners[l]);
                s.listeners[l].totals.add(t);
                worker.add(t);
            }
            if (i > 0 && r->pid.load(relaxed) != 0)
                s.workers.push_back(Snapshot::Worker{static_cast<long>(r->pid.load(relaxed)),
                                                     r->started.load(relaxed), worker});
        }
        std::atomic_thread_fence(std::memory_order_acquire);
        if (header_->seq.load(relaxed) != seq && attempt < 1000)
            continue;
        for (const auto& l : s.listeners)
            s.totals.add(l.totals);
        return s;
    }
}

void attach(Board* board, int record) noexcept {
    g_record.store(record, relaxed);
    g_board.store(board, std::memory_order_release);
}

Board* attached() noexcept {
    return g_board.load(std::memory_order_acquire);
}

Counters* counters(int listener) noexcept {
    Board* b = g_board.load(std::memory_order_acquire);
    if (b == nullptr || listener < 0)
        return nullptr;
    return b->counters(g_record.load(relaxed), listener);
}

void count_refused(int listener, Refused why) noexcept {
    if (Counters* c = counters(listener))
        c->refused[static_cast<std::size_t>(why)].fetch_add(1, relaxed);
}

void count_malformed(int listener, Malformed kind) noexcept {
    if (Counters* c = counters(listener))
        c->malformed[static_cast<std::size_t>(kind)].fetch_add(1, relaxed);
}

Malformed malformed_kind(int status) noexcept {
    switch (status) {
        case 400:
        case 405:
        case 411:
        case 501:
        case 505:
            return Malformed::bad_request;
        case 403:
            return Malformed::forbidden;
        case 408:
            return Malformed::timeout;
        case 413:
        case 414:
        case 431:
            return Malformed::too_large;
        default:
            return Malformed::other;
    }
}

// ---------------------------------------------------------------- rendering

namespace {

void json_string(std::string& out, std::string_view s) {
    out += '"';
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += ch;
        } else if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof(buf), "\\u%04x", c);
            out += buf;
        } else {
            out += ch;
        }
    }
    out += '"';
}

std::string seconds_text(std::uint64_t us) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.6f", static_cast<double>(us) / 1e6);
    return buf;
}

std::string bound_text(std::uint64_t us) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%g", static_cast<double>(us) / 1e6);
    return buf;
}

template <std::size_t N>
void json_map(std::string& out, std::string_view key, const std::array<std::string_view, N>& names,
              const std::array<std::uint64_t, N>& values) {
    json_string(out, key);
    out += ":{";
    for (std::size_t i = 0; i < N; ++i) {
        if (i > 0)
            out += ',';
        json_string(out, names[i]);
        out += ':';
        out += std::to_string(values[i]);
    }
    out += '}';
}

void json_totals(std::string& out, const Totals& t) {
    // "none" counts requests that ended without an answer: only the five
    // classes are shown, and the total.
    out += "\"requests\":" + std::to_string(t.requests_total()) + ',';
    json_map(out, "responses",
             std::array<std::string_view, 5>{kClassNames[0], kClassNames[1], kClassNames[2],
                                             kClassNames[3], kClassNames[4]},
             std::array<std::uint64_t, 5>{t.requests[0], t.requests[1], t.requests[2],
                                          t.requests[3], t.requests[4]});
    out += ",\"in_flight\":" + std::to_string(std::max<std::int64_t>(t.in_flight, 0));
    out += ",\"bytes_received\":" + std::to_string(t.bytes_received);
    out += ",\"bytes_sent\":" + std::to_string(t.bytes_sent) + ',';
    json_map(out, "refused_connections", kRefusedNames, t.refused);
    out += ',';
    json_map(out, "malformed", kMalformedNames, t.malformed);
    out += ",\"latency\":{\"buckets\":[";
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < t.latency.size(); ++i) {
        cumulative += t.latency[i];
        if (i > 0)
            out += ',';
        out += "{\"le\":";
        out += i < kLatencyBoundsUs.size() ? bound_text(kLatencyBoundsUs[i]) : "\"+Inf\"";
        out += ",\"count\":" + std::to_string(cumulative) + '}';
    }
    out += "],\"count\":" + std::to_string(cumulative);
    out += ",\"sum_seconds\":" + seconds_text(t.latency_sum_us) + '}';
}

/// A Prometheus label value: \, " and newline escaped.
std::string label(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (const char c : s) {
        if (c == '\\' || c == '"')
            out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return out;
}

}  // namespace

std::string render_json(const Snapshot& s) {
    std::string out;
    out.reserve(4096);
    out += "{\"version\":";
    json_string(out, POSTERN_VERSION);
    out += ",\"master_pid\":" + std::to_string(s.master_pid);
    out += ",\"start_time\":" + std::to_string(s.started);
    out += ",\"uptime_seconds\":" + std::to_string(std::max<std::int64_t>(s.now - s.started, 0));
    out += ",\"processes\":" + std::to_string(s.processes) + ',';
    json_map(out, "worker_restarts", kRestartNames, s.restarts);
    out += ",\"totals\":{";
    json_totals(out, s.totals);
    out += "},\"listeners\":[";
    for (std::size_t i = 0; i < s.listeners.size(); ++i) {
        const auto& l = s.listeners[i];
        out += i == 0 ? "{" : ",{";
        out += "\"name\":";
        json_string(out, l.name);
        out += ",\"protocol\":";
        json_string(out, l.protocol);
        out += ',';
        json_totals(out, l.totals);
        out += '}';
    }
    out += "],\"workers\":[";
    for (std::size_t i = 0; i < s.workers.size(); ++i) {
        const auto& w = s.workers[i];
        out += i == 0 ? "{" : ",{";
        out += "\"pid\":" + std::to_string(w.pid);
        out += ",\"start_time\":" + std::to_string(w.started);
        out += ",\"requests\":" + std::to_string(w.totals.requests_total());
        out += ",\"in_flight\":" + std::to_string(std::max<std::int64_t>(w.totals.in_flight, 0));
        out += '}';
    }
    out += "]}\n";
    return out;
}

std::string render_prometheus(const Snapshot& s) {
    std::string out;
    out.reserve(8192);
    auto family = [&](std::string_view name, std::string_view type, std::string_view help) {
        out += "# HELP ";
        out += name;
        out += ' ';
        out += help;
        out += "\n# TYPE ";
        out += name;
        out += ' ';
        out += type;
        out += '\n';
    };
    auto sample = [&](std::string_view name, const std::string& labels, const std::string& value) {
        out += name;
        if (!labels.empty())
            out += '{' + labels + '}';
        out += ' ';
        out += value;
        out += '\n';
    };
    auto listener_labels = [&](const Snapshot::Listener& l) {
        return "listener=\"" + label(l.name) + "\",protocol=\"" + label(l.protocol) + '"';
    };

    family("postern_requests_total", "counter", "Requests answered, by listener and status class.");
    for (const auto& l : s.listeners)
        for (std::size_t c = 0; c < 5; ++c)
            sample("postern_requests_total",
                   listener_labels(l) + ",class=\"" + std::string(kClassNames[c]) + '"',
                   std::to_string(l.totals.requests[c]));
    family("postern_requests_in_flight", "gauge", "Requests being served, by listener.");
    for (const auto& l : s.listeners)
        sample("postern_requests_in_flight", listener_labels(l),
               std::to_string(std::max<std::int64_t>(l.totals.in_flight, 0)));
    family("postern_request_body_bytes_total", "counter", "Request body bytes received.");
    for (const auto& l : s.listeners)
        sample("postern_request_body_bytes_total", listener_labels(l),
               std::to_string(l.totals.bytes_received));
    family("postern_response_body_bytes_total", "counter", "Response body bytes sent.");
    for (const auto& l : s.listeners)
        sample("postern_response_body_bytes_total", listener_labels(l),
               std::to_string(l.totals.bytes_sent));
    family("postern_refused_connections_total", "counter",
           "Connections closed at accept, by reason.");
    for (const auto& l : s.listeners)
        for (std::size_t r = 0; r < kRefusedNames.size(); ++r)
            sample("postern_refused_connections_total",
                   listener_labels(l) + ",reason=\"" + std::string(kRefusedNames[r]) + '"',
                   std::to_string(l.totals.refused[r]));
    family("postern_malformed_requests_total", "counter",
           "Requests refused for malformed input, by protocol and kind.");
    for (const auto& l : s.listeners)
        for (std::size_t k = 0; k < kMalformedNames.size(); ++k)
            sample("postern_malformed_requests_total",
                   listener_labels(l) + ",kind=\"" + std::string(kMalformedNames[k]) + '"',
                   std::to_string(l.totals.malformed[k]));
    family("postern_request_duration_seconds", "histogram",
           "Time from a decoded request to its finished response.");
    for (const auto& l : s.listeners) {
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i < l.totals.latency.size(); ++i) {
            cumulative += l.totals.latency[i];
            const std::string le =
                i < kLatencyBoundsUs.size() ? bound_text(kLatencyBoundsUs[i]) : "+Inf";
            sample("postern_request_duration_seconds_bucket",
                   listener_labels(l) + ",le=\"" + le + '"', std::to_string(cumulative));
        }
        sample("postern_request_duration_seconds_sum", listener_labels(l),
               seconds_text(l.totals.latency_sum_us));
        sample("postern_request_duration_seconds_count", listener_labels(l),
               std::to_string(cumulative));
    }
    family("postern_worker_processes", "gauge", "Worker processes running.");
    sample("postern_worker_processes", "", std::to_string(s.workers.size()));
    family("postern_worker_restarts_total", "counter", "Worker processes replaced, by reason.");
    for (std::size_t r = 0; r < kRestartNames.size(); ++r)
        sample("postern_worker_restarts_total", "reason=\"" + std::string(kRestartNames[r]) + '"',
               std::to_string(s.restarts[r]));
    family("postern_worker_requests_total", "counter", "Requests answered, by worker process.");
    for (const auto& w : s.workers)
        sample("postern_worker_requests_total", "pid=\"" + std::to_string(w.pid) + '"',
               std::to_string(w.totals.requests_total()));
    family("postern_worker_requests_in_flight", "gauge",
           "Requests being served, by worker process.");
    for (const auto& w : s.workers)
        sample("postern_worker_requests_in_flight", "pid=\"" + std::to_string(w.pid) + '"',
               std::to_string(std::max<std::int64_t>(w.totals.in_flight, 0)));
    family("postern_start_time_seconds", "gauge", "When the gateway started, in Unix time.");
    sample("postern_start_time_seconds", "", std::to_string(s.started));
    return out;
}

}  // namespace postern::status
