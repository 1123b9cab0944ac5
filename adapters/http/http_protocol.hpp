// Postern HTTP adapter: HTTP/1.1 (RFC 9112) straight to the gateway, for a
// front end that proxies over HTTP (nginx proxy_pass, Apache mod_proxy_http)
// or for clients that reach the gateway directly.
#pragma once

#include <memory>

#include "core/app.hpp"
#include "core/connection.hpp"
#include "postern/server.hpp"

namespace postern {

/// The "http" protocol: one HttpConnection per accepted socket. Every
/// connection serves one request per Connection::serve() call and goes
/// back to the reactor between requests, so idle keep-alive connections
/// hold no thread. Honours options.limits (header bytes and fields, body
/// bytes, read timeout) and options.trusted_proxies (X-Forwarded-For,
/// -Proto, -Port). Throws std::invalid_argument naming a trusted_proxies
/// entry that is not an address or CIDR block.
std::unique_ptr<Protocol> make_http_protocol(App& app, const Options& options);

}  // namespace postern
