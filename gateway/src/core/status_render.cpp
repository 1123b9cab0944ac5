// The status page's renderers: a Snapshot of the board (status.cpp) as
// JSON and in the Prometheus text format.
#include <algorithm>
#include <cstdio>
#include <string>

#include "core/status.hpp"
#include "postern/version.hpp"

namespace postern::status {

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
    out += ",\"detached\":" + std::to_string(std::max<std::int64_t>(t.detached, 0));
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
    family("postern_detached_responses", "gauge",
           "Detached responses (streams, WebSockets) open, by listener.");
    for (const auto& l : s.listeners)
        sample("postern_detached_responses", listener_labels(l),
               std::to_string(std::max<std::int64_t>(l.totals.detached, 0)));
    family("postern_request_body_bytes_total", "counter", "Request body bytes received.");
    for (const auto& l : s.listeners)
        sample("postern_request_body_bytes_total", listener_labels(l),
               std::to_string(l.totals.bytes_received));
    family("postern_response_body_bytes_total", "counter", "Response body bytes sent.");
    for (const auto& l : s.listeners)
        sample("postern_response_body_bytes_total", listener_labels(l),
               std::to_string(l.totals.bytes_sent));
    // One sample per listener and per name: `key`="names[i]" counts values[i].
    auto by_name = [&](std::string_view name, std::string_view key, const auto& names,
                       auto values) {
        for (const auto& l : s.listeners)
            for (std::size_t i = 0; i < names.size(); ++i)
                sample(name,
                       listener_labels(l) + ',' + std::string(key) + "=\"" + std::string(names[i]) +
                           '"',
                       std::to_string((l.totals.*values)[i]));
    };
    family("postern_refused_connections_total", "counter",
           "Connections closed at accept, by reason.");
    by_name("postern_refused_connections_total", "reason", kRefusedNames, &Totals::refused);
    family("postern_malformed_requests_total", "counter",
           "Requests refused for malformed input, by protocol and kind.");
    by_name("postern_malformed_requests_total", "kind", kMalformedNames, &Totals::malformed);
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
