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
/// is already set), a RequestError thrown by the route (from get_int,
/// form(), ... or its own). `res` is reset (no headers, no body) and has
/// the status set; the handler writes the body in its own format.
using ErrorHandler = std::function<void(int status, std::string_view reason, Response& res)>;

/// Routes requests under a mount to handlers:
///
///     postern::Router r;
///     r.get("/items/{id}", show).post("/items", create).del("/items/{id}", remove);
///     POSTERN_APP-style: return r (a Router is a Handler).
///
/// A pattern is matched segment by segment against the path under the
/// mount as the client sent it (REQUEST_URI without SCRIPT_NAME), so an
/// encoded slash (%2F) stays inside its segment; `{name}` captures one
/// non-empty segment, which Request::param(name) gives percent-decoded.
/// Routes are tried in the order they were added. HEAD is served by the GET
/// route when there is no HEAD route. No route for the path: 404; a route
/// for the path but not the method: 405 with Allow listing the methods.
///
/// Threading: add routes before serving; matching is const and may run on
/// every worker thread at once. Copies share the routes.
class Router {
  public:
    Router();

    Router& get(std::string pattern, Handler fn);
    Router& post(std::string pattern, Handler fn);
    Router& put(std::string pattern, Handler fn);
    Router& patch(std::string pattern, Handler fn);
    Router& del(std::string pattern, Handler fn);
    /// Any method token ("OPTIONS", "PROPFIND", ...). Throws
    /// std::invalid_argument for a malformed pattern or method.
    Router& route(std::string method, std::string pattern, Handler fn);
    /// Replaces the default error answer (a text/plain reason).
    Router& on_error(ErrorHandler fn);

    void operator()(Request& req, Response& res) const;

  private:
    struct Table;
    std::shared_ptr<Table> table_;
};

}  // namespace postern
