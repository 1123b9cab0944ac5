// Postern AJP adapter: the CGI meta-variables of a FORWARD_REQUEST.
#pragma once

#include <string>
#include <vector>

#include "ajp/codec.hpp"
#include "core/peer.hpp"
#include "postern/request.hpp"

namespace postern::ajp {

/// The environ the core receives for `req` (RFC 3875 §4.1), filled the way
/// the FastCGI adapter's front ends fill it:
///   REQUEST_URI   req_uri + "?" + query_string attribute, raw as the front
///                 end sent it (both mod_jk's default ForwardURIProxy and
///                 mod_proxy_ajp with nocanon send the path still
///                 percent-encoded: the core decodes PATH_INFO itself)
///   QUERY_STRING  the query_string attribute, "" without one
///   REMOTE_PORT   the AJP_REMOTE_PORT req_attribute (both front ends send it)
///   SERVER_ADDR   the AJP_LOCAL_ADDR req_attribute
///   HTTPS=on      when is_ssl; SSL_CIPHER, SSL_SESSION_ID,
///                 SSL_CIPHER_USEKEYSIZE, SSL_CLIENT_CERT from the ssl_*
///                 attributes (mod_ssl's names)
///   REMOTE_USER, AUTH_TYPE from their attributes
///   CONTENT_TYPE, CONTENT_LENGTH, HTTP_* from the headers
///   AJP_ATTR_<name> for a req_attribute named in `allowed` (exact match);
///                 every other req_attribute is dropped, and the secret is
///                 never passed on.
/// The prefix keeps an attribute from posing as a CGI variable
/// (an allowed "REMOTE_ADDR" attribute stays AJP_ATTR_REMOTE_ADDR).
Environ request_environ(const ForwardRequest& req, const Peer& peer,
                        const std::vector<std::string>& allowed);

}  // namespace postern::ajp
