// Postern: routes from a method and a path pattern to a handler.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "postern/handler.hpp"

namespace postern {

/// What the router calls for every error it answers or that a route
/// produces: 404 (no route), 405 (the path matches, not the method; Allow
/// is already set), 400 for a path that does not decode, a RequestError
/// thrown by the route (from get_int, form(), ... or its own). `res` is
/// reset (no headers, no body) and has the status set; the handler writes
/// the body in its own format. `reason` is the reason phrase for 404 and
/// 405 ("Not Found", "Method Not Allowed") and the RequestError's what()
/// otherwise; the view is valid during the call only. Called on the worker
/// thread of the request, possibly on several at once. Whatever it throws
/// goes to the gateway's own barrier (its plain error page, or a 500).
using ErrorHandler = std::function<void(int status, std::string_view reason, Response& res)>;

/// Routes requests under a mount to handlers:
///
///     postern::Router r;
///     r.get("/items/{id}", show).post("/items", create).del("/items/{id}", remove);
///     POSTERN_APP-style: return r (a Router is a Handler).
///
/// Patterns. A pattern begins with '/' and is a list of segments: a literal
/// ("items"; percent-escapes allowed, "caf%C3%A9" is "café") or a capture
/// `{name}` (letters, digits, '_'; alone in its segment, unique in the
/// pattern), which matches one non-empty segment. A trailing '/' is part of
/// the pattern ("/items/" does not match "/items"); "/" matches the mount
/// itself, with or without its trailing slash.
///
/// Paths. A pattern is matched segment by segment against the path under
/// the mount as the client sent it (REQUEST_URI up to '?', without the
/// segments of SCRIPT_NAME), so an encoded slash (%2F) stays inside its
/// segment; each segment is percent-decoded ('+' stays '+') before it is
/// compared with a literal or captured, and Request::param(name) gives the
/// capture decoded ("/items/a%2Fb" gives id "a/b"). Repeated slashes are
/// merged and dot segments ("." and "..", "%2e" too) resolved as the
/// gateway does when it picks the mount. Without a REQUEST_URI under
/// SCRIPT_NAME (a Request built by hand), PATH_INFO is matched, as it is
/// (already decoded, so a '/' there always separates segments).
///
/// Answers. Routes are tried in the order they were added; the first whose
/// pattern and method match is called, with the captures in
/// Request::params(). HEAD is served by the GET route when no HEAD route
/// matches (the gateway sends the head with the body's length and drops
/// the body). No route for the path: 404; a route for the path but not the
/// method: 405 with Allow listing the methods of the routes that match the
/// path, in order, joined with ", " (HEAD after GET). OPTIONS is routed
/// only like any other method. A segment with a malformed escape or %00:
/// 400 (behind the gateway, which decodes the path to choose the mount,
/// such a request is refused with the gateway's own 400 before it reaches
/// the Router). Each of these goes to on_error, after Response::reset().
///
/// Failure. A RequestError thrown by a route is logged (Request::log, warn)
/// and answered through on_error, unless the route had already sent the
/// head (flush()): then it is rethrown and the gateway cuts the response
/// off. Any other exception from a route is rethrown unchanged: the
/// gateway answers 500 (or cuts the response off) and logs it. A failure
/// of the body (cut short, over the limit) still keeps the gateway from
/// reusing the connection, whatever on_error answers.
///
/// Threading and ownership: add routes and set on_error before serving
/// (they are not synchronised); matching is const and may run on every
/// worker thread at once, so routes and on_error are called concurrently
/// and must synchronise what they share. The Router owns copies of the
/// handlers; copies of a Router share one table, so a route added through
/// one copy is seen by all (a Handler made from a Router is such a copy).
class Router {
  public:
    Router();

    Router& get(std::string pattern, Handler fn);
    Router& post(std::string pattern, Handler fn);
    Router& put(std::string pattern, Handler fn);
    Router& patch(std::string pattern, Handler fn);
    Router& del(std::string pattern, Handler fn);
    /// Any method token ("OPTIONS", "PROPFIND", ...; case-sensitive).
    /// Throws std::invalid_argument for a malformed pattern or method, or
    /// an empty `fn`; nothing is added then.
    Router& route(std::string method, std::string pattern, Handler fn);
    /// Replaces the default error answer: the reason and a newline, as
    /// text/plain; charset=utf-8. An empty `fn` restores it.
    Router& on_error(ErrorHandler fn);

    void operator()(Request& req, Response& res) const;

  private:
    struct Table;
    std::shared_ptr<Table> table_;
};

}  // namespace postern
