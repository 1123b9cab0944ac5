// Postern: the callback type.
#pragma once

#include <functional>

#include "postern/request.hpp"
#include "postern/response.hpp"

namespace postern {

/// An application callback. Called on a worker thread, possibly on several
/// threads at once for different requests: a callback that keeps state
/// across requests must synchronise it. Anything it throws is caught by the
/// gateway: a 500 if nothing was sent yet, otherwise the response is cut
/// off; the worker goes on.
using Handler = std::function<void(Request&, Response&)>;

/// The plain-function form a loadable module exports.
using HandlerFn = void (*)(Request&, Response&);

}  // namespace postern
