// Postern SCGI adapter: SCGI 1 (nginx scgi_pass, Apache mod_proxy_scgi).
#pragma once

#include <memory>

#include "core/app.hpp"
#include "core/connection.hpp"
#include "postern/server.hpp"

namespace postern {

/// The "scgi" protocol: one ScgiConnection per accepted socket, bounded by
/// options.limits (max_params_bytes: the netstring length; max_params: the
/// pairs; the body, read and write timeouts).
std::unique_ptr<Protocol> make_scgi_protocol(App& app, const Options& options);

}  // namespace postern
