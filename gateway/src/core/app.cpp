#include "core/app.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>

#include "core/decimal.hpp"
#include "core/detached.hpp"
#include "core/environ.hpp"
#include "core/log.hpp"
#include "core/log_escape.hpp"
#include "core/scoreboard.hpp"
#include "core/status.hpp"

namespace postern {

namespace {

/// The request body as the callback sees it: counts bytes, enforces the
/// body limit on bodies of unknown length, and remembers a failure so the
/// connection is not reused even when a callback swallowed the exception.
class GuardedBody : public BodySource {
  public:
    GuardedBody(BodySource& inner, std::uint64_t limit) : inner_(inner), limit_(limit) {}

    std::size_t read(char* buffer, std::size_t size) override {
        if (done_)
            return 0;
        if (failed_)
            throw RequestError(400, "request body already failed");
        try {
            std::size_t n = inner_.read(buffer, size);
            if (n == 0) {
                done_ = true;
                return 0;
            }
            count_ += n;
            if (count_ > limit_) {
                failed_ = true;
                throw RequestError(413,
                                   "request body longer than " + std::to_string(limit_) + " bytes");
            }
            return n;
        } catch (...) {
            failed_ = true;
            throw;
        }
    }

    /// Reads what the callback left, so the connection stays in step.
    bool drain() {
        char buf[16384];
        try {
            while (read(buf, sizeof(buf)) > 0) {
            }
        } catch (const std::exception&) {
            return false;
        }
        return !failed_;
    }

    bool failed() const noexcept { return failed_; }
    std::uint64_t bytes() const noexcept { return count_; }

  private:
    BodySource& inner_;
    std::uint64_t limit_;
    std::uint64_t count_ = 0;
    bool done_ = false;
    bool failed_ = false;
};

std::string clf_time() {
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    ::localtime_r(&now, &tm);
    char buf[40];
    std::strftime(buf, sizeof(buf), "[%d/%b/%Y:%H:%M:%S %z]", &tm);
    return buf;
}

void log_access(const Environ& env, const Peer& peer, int status, std::uint64_t bytes,
                std::chrono::steady_clock::duration took) {
    if (!log::access_log_enabled())
        return;
    // The combined log format, plus the request duration in microseconds.
    // Every field taken from the request is escaped as nginx escapes it
    // (log_escape.hpp): a client cannot close a quoted field early or start
    // a line of its own.
    auto field = [&](std::string& line, std::string_view name, std::string_view fallback) {
        const std::string* v = find_var(env, name);
        append_log_escaped(line, v != nullptr && !v->empty() ? std::string_view(*v) : fallback);
    };
    std::string line;
    line.reserve(200);
    field(line, "REMOTE_ADDR", peer.addr.empty() ? std::string_view("-") : peer.addr);
    line += " - ";
    field(line, "REMOTE_USER", "-");
    line += ' ';
    line += clf_time();
    line += " \"";
    field(line, "REQUEST_METHOD", "-");
    line += ' ';
    field(line, "REQUEST_URI", "-");
    line += ' ';
    field(line, "SERVER_PROTOCOL", "-");
    line += "\" ";
    line += std::to_string(status);
    line += ' ';
    line += std::to_string(bytes);
    line += " \"";
    field(line, "HTTP_REFERER", "-");
    line += "\" \"";
    field(line, "HTTP_USER_AGENT", "-");
    line += "\" ";
    line += std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(took).count());
    log::access(line);
}

/// Counts a request on its listener's counters (nullptr: none kept).
void count_request(status::Counters* c, int status, std::uint64_t received, std::uint64_t sent,
                   std::chrono::steady_clock::duration took) noexcept {
    if (c == nullptr)
        return;
    constexpr auto relaxed = std::memory_order_relaxed;
    c->requests[status::status_class(status)].fetch_add(1, relaxed);
    c->bytes_received.fetch_add(received, relaxed);
    c->bytes_sent.fetch_add(sent, relaxed);
    const auto us = static_cast<std::uint64_t>(std::max<std::int64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(took).count(), 0));
    const auto& bounds = status::kLatencyBoundsUs;
    const auto bucket = static_cast<std::size_t>(
        std::lower_bound(bounds.begin(), bounds.end(), us) - bounds.begin());
    c->latency[bucket].fetch_add(1, relaxed);
    c->latency_sum_us.fetch_add(us, relaxed);
}

void error_page(Response& res, int status) {
    res.reset();
    res.status(status);
    res.header("Content-Type", "text/plain; charset=utf-8");
    std::string body = std::to_string(status);
    body += ' ';
    body += reason_phrase(status);
    body += '\n';
    res.write(body);
}

}  // namespace

App::App(std::vector<Mount> mounts, const Limits& limits, std::string status_path)
    : router_(std::move(mounts), std::move(status_path)), limits_(limits) {}

void App::status_page(Response& res, std::string_view method, std::string_view query) {
    if (method != "GET" && method != "HEAD") {
        error_page(res, 405);
        res.header("Allow", "GET, HEAD");
        return;
    }
    // ?format=prometheus, ?format=json (the default); other parameters are
    // ignored, as a scraper may add its own.
    std::string_view format = "json";
    while (!query.empty()) {
        const std::size_t amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        if (pair.rfind("format=", 0) == 0)
            format = pair.substr(7);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    }
    if (format != "json" && format != "prometheus") {
        error_page(res, 400);
        res.write("format: json or prometheus\n");
        return;
    }
    status::Board* board = status::attached();
    if (board == nullptr) {
        error_page(res, 503);
        return;
    }
    const status::Snapshot snap = board->snapshot();
    res.status(200);
    res.header("Cache-Control", "no-store");
    if (format == "prometheus") {
        res.header("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
        res.write(status::render_prometheus(snap));
    } else {
        res.header("Content-Type", "application/json");
        res.write(status::render_json(snap));
    }
}

void App::refuse_closing(int status, std::string_view reason, const Peer& peer,
                         std::string_view protocol) {
    log::warn("front end " + peer.describe() + " over " + std::string(protocol) +
              ": refused a request (" + std::to_string(status) + ", closing the connection: " +
              std::string(protocol) + " has no answer here): " + std::string(reason));
    status::count_malformed(peer.listener, status::malformed_kind(status));
}

bool App::refuse(ResponseSink& sink, int status, std::string_view reason, const Peer& peer,
                 std::string_view protocol, bool head_only) {
    log::warn("refused a request from " + peer.describe() + " over " + std::string(protocol) +
              " with " + std::to_string(status) + ": " + std::string(reason));
    status::Counters* counters = status::counters(peer.listener);
    if (counters != nullptr)
        counters->malformed[static_cast<std::size_t>(status::malformed_kind(status))].fetch_add(
            1, std::memory_order_relaxed);
    Response res(sink, head_only, limits_.response_buffer);
    error_page(res, status);
    const bool ok = res.finish();
    count_request(counters, status, 0, res.body_bytes_sent(), {});
    return ok;
}

namespace {

/// Where the variables the core reads or sets sit in the environment, found
/// in one pass (every lookup by name is a scan; a request has about 20-40).
struct Slots {
    static constexpr std::size_t none = static_cast<std::size_t>(-1);
    std::size_t request_uri = none;
    std::size_t query_string = none;
    std::size_t request_method = none;
    std::size_t content_length = none;
    std::size_t gateway_interface = none;
    std::size_t script_name = none;
    std::size_t path_info = none;
    std::size_t path_translated = none;
};

Slots find_slots(const Environ& env) noexcept {
    Slots s;
    for (std::size_t i = 0; i < env.size(); ++i) {
        const std::string& k = env[i].first;
        // The first of a repeated name, as find_var finds it (add_param
        // never repeats one).
        switch (k.size()) {
            case 9:
                if (s.path_info == Slots::none && k == "PATH_INFO")
                    s.path_info = i;
                break;
            case 11:
                if (s.request_uri == Slots::none && k == "REQUEST_URI")
                    s.request_uri = i;
                else if (s.script_name == Slots::none && k == "SCRIPT_NAME")
                    s.script_name = i;
                break;
            case 12:
                if (s.query_string == Slots::none && k == "QUERY_STRING")
                    s.query_string = i;
                break;
            case 14:
                if (s.request_method == Slots::none && k == "REQUEST_METHOD")
                    s.request_method = i;
                else if (s.content_length == Slots::none && k == "CONTENT_LENGTH")
                    s.content_length = i;
                break;
            case 15:
                if (s.path_translated == Slots::none && k == "PATH_TRANSLATED")
                    s.path_translated = i;
                break;
            case 17:
                if (s.gateway_interface == Slots::none && k == "GATEWAY_INTERFACE")
                    s.gateway_interface = i;
                break;
            default:
                break;
        }
    }
    return s;
}

/// Sets the variable at `slot`, or appends it and records where.
void put(Environ& env, std::size_t& slot, std::string_view name, std::string value) {
    if (slot != Slots::none) {
        env[slot].second = std::move(value);
        return;
    }
    slot = env.size();
    env.emplace_back(std::string(name), std::move(value));
}

/// The request target (RFC 3875 §4.1): REQUEST_URI, raw, as every front end
/// Postern ships a snippet for passes it; rebuilt from SCRIPT_NAME,
/// PATH_INFO and QUERY_STRING for one that does not. Sets QUERY_STRING when
/// absent. (PATH_TRANSLATED is dropped by the caller: it follows the front
/// end's own path split, which the mount table replaces.)
std::string settle_target(Environ& env, Slots& s) {
    std::string uri;
    if (s.request_uri != Slots::none && !env[s.request_uri].second.empty()) {
        uri = env[s.request_uri].second;
    } else {
        // SCRIPT_NAME and PATH_INFO are decoded (RFC 3875 §4.1.5): escape
        // what would read as an escape or end the path, so the target is
        // decoded once, as a raw one is.
        auto append_encoded = [&uri](std::string_view decoded) {
            for (char c : decoded) {
                if (c == '%')
                    uri.append("%25");
                else if (c == '?')
                    uri.append("%3F");
                else if (c == '#')
                    uri.append("%23");
                else
                    uri.push_back(c);
            }
        };
        if (s.script_name != Slots::none)
            append_encoded(env[s.script_name].second);
        if (s.path_info != Slots::none)
            append_encoded(env[s.path_info].second);
        if (uri.empty())
            uri.push_back('/');
        if (s.query_string != Slots::none && !env[s.query_string].second.empty()) {
            uri.push_back('?');
            uri.append(env[s.query_string].second);
        }
        put(env, s.request_uri, "REQUEST_URI", uri);
    }
    if (s.query_string == Slots::none) {
        auto qpos = uri.find('?');
        put(env, s.query_string, "QUERY_STRING",
            qpos == std::string::npos ? std::string() : uri.substr(qpos + 1));
    }
    return uri;
}

/// What is wrong with a request before it reaches a callback.
struct Refusal {
    int status;
    std::string reason;
    /// The body can still be read to its end, keeping the connection in step.
    bool drainable;
};

std::optional<Refusal> check_head(const std::string* content_length, std::string_view method,
                                  const Limits& limits) {
    if (method.empty())
        return Refusal{400, "no REQUEST_METHOD", false};
    if (content_length == nullptr || content_length->empty())
        return std::nullopt;
    const std::optional<std::uint64_t> length = parse_length(*content_length);
    if (!length)
        return Refusal{400, "invalid CONTENT_LENGTH \"" + log_escape(*content_length) + "\"",
                       false};
    const std::uint64_t n = *length;
    if (n > limits.max_body_bytes)
        // Not drainable: reading a body over the limit is what the limit
        // is there to prevent.
        return Refusal{413,
                       "body of " + std::to_string(n) + " bytes over the limit of " +
                           std::to_string(limits.max_body_bytes),
                       false};
    return std::nullopt;
}

}  // namespace

Outcome App::handle(std::string_view protocol, Environ env, BodySource& body, ResponseSink& sink,
                    const Peer& peer) {
    // The clock is read only for the access log's duration field and the
    // status page's histogram.
    status::Counters* const counters = status::counters(peer.listener);
    const status::InFlightCount in_flight_count(counters);
    const bool timed = counters != nullptr || log::access_log_enabled();
    const auto start =
        timed ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    auto took = [&] {
        return timed ? std::chrono::steady_clock::now() - start
                     : std::chrono::steady_clock::duration::zero();
    };

    Slots slots = find_slots(env);
    put(env, slots.gateway_interface, "GATEWAY_INTERFACE", "CGI/1.1");
    const std::string uri = settle_target(env, slots);
    const std::string method =
        slots.request_method == Slots::none ? std::string() : env[slots.request_method].second;
    // "GET /x from 127.0.0.1:4242 over fastcgi", for log lines only.
    auto who = [&] {
        return log_escape(method) + " " + log_escape(uri) + " from " + peer.describe() + " over " +
               std::string(protocol);
    };
    // What the supervisor names if this worker process dies meanwhile.
    const InFlight in_flight(method, uri);

    GuardedBody guarded(body, limits_.max_body_bytes);
    Response res(sink, method == "HEAD", limits_.response_buffer);
    auto refuse_with = [&](const Refusal& r) {
        log::warn("refused " + who() + " with " + std::to_string(r.status) + ": " + r.reason);
        status::count_malformed(peer.listener, status::malformed_kind(r.status));
        error_page(res, r.status);
        res.finish();
        return r.drainable && guarded.drain();
    };

    bool reusable = true;
    const Mount* mount = nullptr;
    const std::string* content_length =
        slots.content_length == Slots::none ? nullptr : &env[slots.content_length].second;
    const std::size_t path_end = uri.find('?');
    if (auto refusal = check_head(content_length, method, limits_)) {
        reusable = refuse_with(*refusal);
    } else {
        // The route is chosen on the path the front end routed on (dot
        // segments removed, escapes decoded, slashes merged), never on the
        // raw REQUEST_URI, which stays as received. SCRIPT_NAME and
        // PATH_INFO a front end sent are replaced (see App::handle).
        try {
            MountRouter::Match match = router_.route(std::string_view(uri).substr(0, path_end));
            if (match.status_page) {
                status_page(res, method,
                            path_end == std::string::npos
                                ? std::string_view()
                                : std::string_view(uri).substr(path_end + 1));
                res.finish();
                reusable = guarded.drain();
            } else {
                mount = match.mount;
                if (mount == nullptr) {
                    error_page(res, 404);
                    res.finish();
                    reusable = guarded.drain();
                }
                put(env, slots.script_name, "SCRIPT_NAME", std::move(match.script_name));
                put(env, slots.path_info, "PATH_INFO", std::move(match.path_info));
            }
        } catch (const RequestError& e) {
            reusable = refuse_with(Refusal{e.status(), e.what(), true});
        }
    }
    if (slots.path_translated != Slots::none)
        env.erase(env.begin() + static_cast<std::ptrdiff_t>(slots.path_translated));
    if (mount == nullptr) {
        Outcome out{res.status(), res.body_bytes_sent(), reusable && !res.client_gone(), nullptr};
        const auto elapsed = took();
        log_access(env, peer, out.status, out.body_bytes, elapsed);
        count_request(counters, out.status, guarded.bytes(), out.body_bytes, elapsed);
        return out;
    }

    Request req(protocol, std::move(env), guarded);
    // The one exception barrier at the callback boundary (STYLE 7): an
    // error page while nothing was sent, otherwise a response cut off.
    auto fail = [&](int status) {
        if (!res.headers_sent()) {
            error_page(res, status);
            res.finish();
        } else {
            res.abort();
            reusable = false;
        }
    };
    try {
        mount->handler(req, res);
        res.finish();
    } catch (const RequestError& e) {
        log::warn("request " + who() + " refused with " + std::to_string(e.status()) + ": " +
                  e.what());
        // A refusal by the callback leaves the connection in step (the rest
        // of the body is drained below), unless the body itself failed.
        if (guarded.failed()) {
            // The body itself failed (cut short, too slow, over the limit):
            // the front end's input, counted as such.
            reusable = false;
            status::count_malformed(peer.listener, status::malformed_kind(e.status()));
        }
        fail(e.status());
    } catch (const std::exception& e) {
        log::error("application callback " + mount->name + " threw: " + e.what() + " (" + who() +
                   ")");
        fail(500);
    } catch (...) {
        log::error("application callback " + mount->name + " threw a non-standard exception (" +
                   who() + ")");
        fail(500);
    }
    if (reusable && !guarded.drain())
        reusable = false;
    if (res.detached()) {
        // The connection goes to the channel: the body must have been read
        // to its end, and the access line is written when the channel ends.
        Outcome out{res.status(), 0, false, res.channel()};
        if (!reusable)
            out.channel->cut();
        out.channel->on_finished([env = req.environ(), peer, status = out.status, counters, start,
                                  timed, received = guarded.bytes()](std::uint64_t bytes, bool) {
            const auto elapsed = timed ? std::chrono::steady_clock::now() - start
                                       : std::chrono::steady_clock::duration::zero();
            log_access(env, peer, status, bytes, elapsed);
            count_request(counters, status, received, bytes, elapsed);
        });
        return out;
    }
    Outcome out{res.status(), res.body_bytes_sent(), reusable && !res.client_gone(), nullptr};
    const auto elapsed = took();
    log_access(req.environ(), peer, out.status, out.body_bytes, elapsed);
    count_request(counters, out.status, guarded.bytes(), out.body_bytes, elapsed);
    return out;
}

}  // namespace postern
