// Postern core: from a decoded request to a finished response. The mount
// router, the exception barrier, the response rules, the access log.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/peer.hpp"
#include "postern/request.hpp"
#include "postern/response.hpp"
#include "postern/server.hpp"

namespace postern {

/// Splits a request path over the mount table: the longest mount prefix that
/// matches on a segment boundary wins ("/app" matches "/app", "/app/x", not
/// "/apple"). Thread-safe once built (read-only).
class Router {
  public:
    explicit Router(std::vector<Mount> mounts);

    struct Match {
        const Mount* mount = nullptr;
        std::string script_name;  ///< the prefix, "" for "/"
        std::string path_info;    ///< the percent-decoded rest
    };
    /// `raw_path` is the path of the request target, still percent-encoded.
    /// Throws RequestError(400) for a malformed %-escape or an encoded NUL.
    Match match(std::string_view raw_path) const;

    const std::vector<Mount>& mounts() const noexcept { return mounts_; }

  private:
    std::vector<Mount> mounts_;  // longest prefix first
};

/// Decodes %XX escapes; throws RequestError(400) on a malformed escape or
/// %00. '+' stays '+' (it means space only in a query string).
std::string percent_decode(std::string_view in);

/// What happened to one request, for the adapter and the access log.
struct Outcome {
    int status = 0;
    std::uint64_t body_bytes = 0;
    /// The response completed and the request body was read to its end: the
    /// connection can serve another request.
    bool reusable = false;
};

/// The core every adapter hands its requests to. Thread-safe: called from
/// every worker thread at once.
class App {
  public:
    /// `status_path`: the path answered with the status page (--status),
    /// "" for none.
    App(std::vector<Mount> mounts, const Limits& limits, std::string status_path = {});

    /// Runs one request. `env` holds what the adapter decoded: at least
    /// REQUEST_METHOD, REQUEST_URI (raw target) or SCRIPT_NAME+PATH_INFO,
    /// SERVER_PROTOCOL, SERVER_NAME, SERVER_PORT, REMOTE_ADDR, REMOTE_PORT,
    /// CONTENT_TYPE/CONTENT_LENGTH and the HTTP_* headers (built with
    /// add_param / add_header). The core sets GATEWAY_INTERFACE, QUERY_STRING
    /// when absent, SCRIPT_NAME and PATH_INFO from its mount table, refuses
    /// a body over the limit with 413 and an unmatched path with 404, calls
    /// the callback behind the exception barrier, finishes the response,
    /// reads what is left of the body, and writes the access log line.
    Outcome handle(std::string_view protocol, Environ env, BodySource& body, ResponseSink& sink,
                   const Peer& peer);

    /// Answers a request the adapter refused before it became a Request
    /// (bad framing, a limit exceeded): a short text/plain page with
    /// `status` and `reason`, logged as the front end's fault. Returns false
    /// if the front end has gone away.
    bool refuse(ResponseSink& sink, int status, std::string_view reason, const Peer& peer,
                std::string_view protocol, bool head_only = false);

    const Limits& limits() const noexcept { return limits_; }
    const Router& router() const noexcept { return router_; }

  private:
    /// Answers a request for the status page (GET or HEAD; JSON, or the
    /// Prometheus text format with ?format=prometheus).
    void status_page(Response& res, std::string_view method, std::string_view query);

    Router router_;
    Limits limits_;
    std::string status_path_;
};

}  // namespace postern
