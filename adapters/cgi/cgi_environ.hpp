// Postern CGI build: the request's meta-variables from a CGI host's
// environment (RFC 3875 §4.1), built with the same rules as every adapter.
#pragma once

#include <string_view>

#include "postern/request.hpp"

namespace postern::cgi {

/// Whether a variable of a CGI program's environment belongs to the request
/// rather than to the host or the process. A CGI host hands both over in one
/// environment: the request's variables, and everything else it has (Apache:
/// its own environment, PassEnv, and SetEnv of the location, such as a
/// database password). The request's, exactly:
///   - the RFC 3875 §4.1 meta-variables: AUTH_TYPE, CONTENT_LENGTH,
///     CONTENT_TYPE, GATEWAY_INTERFACE, PATH_INFO, PATH_TRANSLATED,
///     QUERY_STRING, REMOTE_ADDR, REMOTE_HOST, REMOTE_IDENT, REMOTE_USER,
///     REQUEST_METHOD, SCRIPT_NAME, SERVER_NAME, SERVER_PORT,
///     SERVER_PROTOCOL, SERVER_SOFTWARE;
///   - HTTP_* (the request headers, §4.1.18);
///   - what Apache sets for each request besides (util_script.c, mod_ssl,
///     mod_rewrite, mod_unique_id): REQUEST_URI, REQUEST_SCHEME,
///     REMOTE_PORT, SERVER_ADDR, SERVER_ADMIN, SERVER_SIGNATURE,
///     DOCUMENT_ROOT, CONTEXT_PREFIX, CONTEXT_DOCUMENT_ROOT,
///     SCRIPT_FILENAME, SCRIPT_URI, SCRIPT_URL, UNIQUE_ID, HTTPS, SSL_*,
///     REDIRECT_STATUS, REDIRECT_URL, and REDIRECT_X for any X above (an
///     internal redirect's copy of the first request's).
/// Anything else (PATH, LANG, SetEnv DB_PASSWORD, POSTERN_*) is not.
bool request_variable(std::string_view name) noexcept;

/// The request environ from `envp` ("NAME=value" strings, as `environ`):
/// the variables request_variable() accepts, through add_param (so
/// HTTP_PROXY is dropped, httpoxy, and hop-by-hop headers too). The rest of
/// the environment stays the process's: reachable through getenv(), never in
/// Request::environ(), as no other adapter puts the gateway's environment
/// there. Pure; thread-safe.
Environ cgi_environ(const char* const* envp);

}  // namespace postern::cgi
