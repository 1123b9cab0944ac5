// Postern uwsgi adapter: the uwsgi protocol with modifier1 0 (nginx
// uwsgi_pass, Apache mod_proxy_uwsgi), the way uWSGI serves them.
#pragma once

#include <memory>

#include "core/app.hpp"
#include "core/connection.hpp"
#include "postern/server.hpp"

namespace postern {

/// The "uwsgi" protocol: one UwsgiConnection per accepted socket, bounded by
/// options.limits (max_params_bytes: the variables block, which the 16-bit
/// datasize caps at 65,535 anyway; max_params; the body, read and write
/// timeouts).
std::unique_ptr<Protocol> make_uwsgi_protocol(App& app, const Options& options);

}  // namespace postern
