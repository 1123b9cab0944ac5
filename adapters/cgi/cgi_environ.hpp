// Postern CGI build: the request's meta-variables from a CGI host's
// environment (RFC 3875 §4.1), built with the same rules as every adapter.
#pragma once

#include "postern/request.hpp"

namespace postern::cgi {

/// The request environ from `envp` ("NAME=value" strings, as `environ`): the
/// meta-variables and HTTP_* headers the host set, through add_param (so
/// HTTP_PROXY is dropped, httpoxy, and hop-by-hop headers too), without
/// what is the host's or the process's rather than the request's: PATH,
/// LD_*, POSTERN_* (this program's settings), and names that are not
/// upper-case identifiers. Pure; thread-safe.
Environ cgi_environ(const char* const* envp);

}  // namespace postern::cgi
