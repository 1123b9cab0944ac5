// Postern HTTP adapter: the CGI meta-variables of a parsed request
// (RFC 3875 §4.1), including what trusted proxies say about the client.
#pragma once

#include <string>
#include <string_view>

#include "core/address_list.hpp"
#include "core/peer.hpp"
#include "http/http_codec.hpp"
#include "postern/request.hpp"

namespace postern::http {

/// The meta-variables of one request, for App::handle: REQUEST_METHOD,
/// REQUEST_URI, QUERY_STRING, SERVER_PROTOCOL, SERVER_NAME, SERVER_PORT,
/// REMOTE_ADDR, REMOTE_PORT, HTTPS when on, and every header field (each
/// copy of a repeated one passed on separately, for add_header to join).
///
/// - REQUEST_URI is the request-target as received; for an absolute-form
///   target ("http://host/p?q") it is the path and query ("/p?q").
/// - SERVER_NAME is the host of the target's authority or of Host, without
///   the port and lowercased, an IPv6 literal keeping its brackets
///   ("[::1]"), as Apache and nginx ($host) give it; without either, the
///   local address of the connection.
/// - SERVER_PORT is the local port of the connection.
/// - When the peer is in `trusted_proxies`:
///   * REMOTE_ADDR is the rightmost X-Forwarded-For address that is not
///     itself a trusted proxy (the client the first trusted proxy saw, as
///     nginx's realip module with real_ip_recursive does), or the leftmost
///     one when every address is trusted. A malformed entry stops the walk
///     and the peer address stays: nothing left of garbage is believed.
///   * HTTPS=on when the rightmost X-Forwarded-Proto value is "https".
///   * SERVER_PORT is the rightmost X-Forwarded-Port value when it is a port.
///   REMOTE_PORT stays the peer's port. From any other peer those headers
///   are plain headers (HTTP_X_FORWARDED_*), nothing more.
Environ request_environ(const RequestHead& head, const Peer& peer,
                        const AddressList& trusted_proxies);

/// The client address named by an X-Forwarded-For list (the copies of the
/// field joined with ","), by the rule above; empty when there is none
/// to believe.
std::string forwarded_client(std::string_view forwarded_for, const AddressList& trusted_proxies);

}  // namespace postern::http
