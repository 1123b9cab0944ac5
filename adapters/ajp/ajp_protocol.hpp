// Postern AJP adapter: AJP13, for Apache httpd's mod_jk and mod_proxy_ajp,
// the way Tomcat's AJP connector serves them.
#pragma once

#include <memory>

#include "core/app.hpp"
#include "core/connection.hpp"
#include "postern/server.hpp"

namespace postern {

/// The "ajp" protocol: one AjpConnection per accepted socket, configured by
/// options.ajp (secret, packet size, allowed attributes) and options.limits
/// (body bytes, read and write timeouts). Throws std::runtime_error with one
/// clear line when options.ajp has no secret and is not marked insecure
/// (CVE-2020-1938: an AJP port without a secret trusts whatever reaches
/// it), or when the packet size is outside 8192..65536.
std::unique_ptr<Protocol> make_ajp_protocol(App& app, const Options& options);

}  // namespace postern
