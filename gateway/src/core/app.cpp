#include "core/app.hpp"

#include <chrono>
#include <ctime>

#include "core/environ.hpp"
#include "core/log.hpp"

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

  private:
    BodySource& inner_;
    std::uint64_t limit_;
    std::uint64_t count_ = 0;
    bool done_ = false;
    bool failed_ = false;
};

std::string_view var_or(const Environ& env, std::string_view name, std::string_view fallback) {
    const std::string* v = find_var(env, name);
    return v ? std::string_view(*v) : fallback;
}

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
    std::string line;
    line.reserve(200);
    line += var_or(env, "REMOTE_ADDR", peer.addr);
    line += " - - ";
    line += clf_time();
    line += " \"";
    line += var_or(env, "REQUEST_METHOD", "-");
    line += ' ';
    line += var_or(env, "REQUEST_URI", "-");
    line += ' ';
    line += var_or(env, "SERVER_PROTOCOL", "-");
    line += "\" ";
    line += std::to_string(status);
    line += ' ';
    line += std::to_string(bytes);
    line += " \"";
    line += var_or(env, "HTTP_REFERER", "-");
    line += "\" \"";
    line += var_or(env, "HTTP_USER_AGENT", "-");
    line += "\" ";
    line += std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(took).count());
    log::access(line);
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

App::App(std::vector<Mount> mounts, const Limits& limits)
    : router_(std::move(mounts)), limits_(limits) {}

bool App::refuse(ResponseSink& sink, int status, std::string_view reason, const Peer& peer,
                 std::string_view protocol, bool head_only) {
    log::warn("refused a request from " + peer.describe() + " over " + std::string(protocol) +
              " with " + std::to_string(status) + ": " + std::string(reason));
    Response res(sink, head_only, limits_.response_buffer);
    error_page(res, status);
    return res.finish();
}

Outcome App::handle(std::string_view protocol, Environ env, BodySource& body, ResponseSink& sink,
                    const Peer& peer) {
    const auto start = std::chrono::steady_clock::now();
    set_var(env, "GATEWAY_INTERFACE", "CGI/1.1");

    // RFC 3875 §4.1: the request target. REQUEST_URI is what the client
    // sent, raw; every front end Postern ships a snippet for passes it.
    std::string uri;
    if (const std::string* u = find_var(env, "REQUEST_URI"); u != nullptr && !u->empty()) {
        uri = *u;
    } else {
        // Built with append: GCC 12's -Wrestrict misfires on operator+ here.
        uri.append(var_or(env, "SCRIPT_NAME", ""));
        uri.append(var_or(env, "PATH_INFO", ""));
        if (uri.empty())
            uri.push_back('/');
        if (auto q = var_or(env, "QUERY_STRING", ""); !q.empty()) {
            uri.push_back('?');
            uri.append(q);
        }
        set_var(env, "REQUEST_URI", uri);
    }
    std::string_view raw_path = uri;
    std::string_view query;
    if (auto qpos = raw_path.find('?'); qpos != std::string_view::npos) {
        query = raw_path.substr(qpos + 1);
        raw_path = raw_path.substr(0, qpos);
    }
    if (find_var(env, "QUERY_STRING") == nullptr)
        set_var(env, "QUERY_STRING", query);
    // Derived from the front end's own path split, so meaningless with ours.
    erase_var(env, "PATH_TRANSLATED");

    const std::string method(var_or(env, "REQUEST_METHOD", ""));
    const bool head_only = method == "HEAD";
    GuardedBody guarded(body, limits_.max_body_bytes);
    Response res(sink, head_only, limits_.response_buffer);
    Outcome out;
    bool reusable = true;

    auto finish_error = [&](int status, std::string_view why) {
        log::warn("refused " + method + " " + uri + " from " + peer.describe() + " over " +
                  std::string(protocol) + " with " + std::to_string(status) + ": " +
                  std::string(why));
        error_page(res, status);
        res.finish();
    };

    Router::Match match;
    std::optional<std::uint64_t> length;
    if (const std::string* cl = find_var(env, "CONTENT_LENGTH"); cl != nullptr && !cl->empty()) {
        std::uint64_t n = 0;
        bool ok = cl->size() <= 19;
        for (char c : *cl) {
            if (c < '0' || c > '9')
                ok = false;
            if (ok)
                n = n * 10 + static_cast<std::uint64_t>(c - '0');
        }
        if (!ok) {
            finish_error(400, "invalid CONTENT_LENGTH \"" + *cl + "\"");
            reusable = false;
            goto done;
        }
        length = n;
    }
    if (method.empty()) {
        finish_error(400, "no REQUEST_METHOD");
        reusable = false;
        goto done;
    }
    if (length && *length > limits_.max_body_bytes) {
        finish_error(413, "body of " + std::to_string(*length) + " bytes over the limit of " +
                              std::to_string(limits_.max_body_bytes));
        reusable = false;  // the unread body would be taken for the next request
        goto done;
    }
    try {
        match = router_.match(raw_path);
    } catch (const RequestError& e) {
        finish_error(e.status(), e.what());
        goto drain;
    }
    if (match.mount == nullptr) {
        error_page(res, 404);
        res.finish();
        goto drain;
    }
    set_var(env, "SCRIPT_NAME", match.script_name);
    set_var(env, "PATH_INFO", match.path_info);

    {
        Request req(protocol, std::move(env), guarded);
        // The one exception barrier at the callback boundary (STYLE 7).
        try {
            match.mount->handler(req, res);
            res.finish();
        } catch (const RequestError& e) {
            log::warn("request " + method + " " + uri + " from " + peer.describe() +
                      " refused with " + std::to_string(e.status()) + ": " + e.what());
            // A refusal by the callback leaves the connection in step (the
            // rest of the body is drained below); only a failed body or a
            // response cut off does not.
            if (guarded.failed() || res.headers_sent())
                reusable = false;
            if (!res.headers_sent()) {
                error_page(res, e.status());
                res.finish();
            } else {
                res.abort();
            }
        } catch (const std::exception& e) {
            log::error("application callback " + match.mount->name + " threw: " + e.what() + " (" +
                       method + " " + uri + " from " + peer.describe() + " over " +
                       std::string(protocol) + ")");
            if (!res.headers_sent()) {
                error_page(res, 500);
                res.finish();
            } else {
                res.abort();
                reusable = false;
            }
        } catch (...) {
            log::error("application callback " + match.mount->name +
                       " threw a non-standard exception (" + method + " " + uri + " from " +
                       peer.describe() + ")");
            if (!res.headers_sent()) {
                error_page(res, 500);
                res.finish();
            } else {
                res.abort();
                reusable = false;
            }
        }
        out.status = res.status();
        out.body_bytes = res.body_bytes_sent();
        if (reusable && !guarded.drain())
            reusable = false;
        out.reusable = reusable && !res.client_gone();
        log_access(req.environ(), peer, out.status, out.body_bytes,
                   std::chrono::steady_clock::now() - start);
        return out;
    }

drain:
    if (!guarded.drain())
        reusable = false;
done:
    out.status = res.status();
    out.body_bytes = res.body_bytes_sent();
    out.reusable = reusable && !res.client_gone();
    log_access(env, peer, out.status, out.body_bytes, std::chrono::steady_clock::now() - start);
    return out;
}

}  // namespace postern
