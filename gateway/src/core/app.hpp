// Postern core: from a decoded request to a finished response. The mount
// router, the exception barrier, the response rules, the access log.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/peer.hpp"
#include "core/router.hpp"
#include "postern/request.hpp"
#include "postern/response.hpp"
#include "postern/server.hpp"

namespace postern {

/// What happened to one request, for the adapter and the access log.
struct Outcome {
    int status = 0;
    std::uint64_t body_bytes = 0;
    /// The response completed and the request body was read to its end: the
    /// connection can serve another request.
    bool reusable = false;
    /// The callback detached the response (Response::detach,
    /// WebSocket::accept): the adapter returns Connection::detached() with
    /// it, and the channel writes the access log line when it ends.
    std::shared_ptr<Channel> channel;
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
    ///
    /// What the core trusts of the front end's path variables, the same for
    /// every adapter: the route (status page, mount, SCRIPT_NAME, PATH_INFO)
    /// comes from REQUEST_URI alone, normalised as the front end routed on
    /// it (MountRouter::route: 400 for a path that climbs above "/" or that a
    /// front end could read two ways); REQUEST_URI itself reaches the
    /// callback raw. SCRIPT_NAME and PATH_INFO sent by a front end (nginx's
    /// stock fastcgi_params, a CGI host) are replaced, PATH_TRANSLATED is
    /// dropped (it follows the front end's split), and DOCUMENT_URI and the
    /// like pass through as sent, never consulted. Only without REQUEST_URI
    /// (a CGI host that sends none) is the target rebuilt from SCRIPT_NAME,
    /// PATH_INFO and QUERY_STRING, re-encoding '%' and '?', and routed the
    /// same way.
    Outcome handle(std::string_view protocol, Environ env, BodySource& body, ResponseSink& sink,
                   const Peer& peer);

    /// Answers a request the adapter refused before it became a Request
    /// (bad framing, a limit exceeded): a short text/plain page with
    /// `status` and `reason`, logged as the front end's fault. Returns false
    /// if the front end has gone away.
    bool refuse(ResponseSink& sink, int status, std::string_view reason, const Peer& peer,
                std::string_view protocol, bool head_only = false);

    /// The same for a request the protocol cannot answer (AJP13 before a
    /// request, FastCGI before a whole head): logged and counted as refuse()
    /// does, with `status` as fault_status() (core/decode.hpp) gives it; the
    /// adapter then closes the connection.
    void refuse_closing(int status, std::string_view reason, const Peer& peer,
                        std::string_view protocol);

    const Limits& limits() const noexcept { return limits_; }
    const MountRouter& router() const noexcept { return router_; }

  private:
    /// Answers a request for the status page (GET or HEAD; JSON, or the
    /// Prometheus text format with ?format=prometheus).
    void status_page(Response& res, std::string_view method, std::string_view query);

    MountRouter router_;
    Limits limits_;
};

}  // namespace postern
