// The text of `postern-cgi --help`: the one source of its settings, which
// the man page postern-cgi(8) shows too (gateway/main/man_page.cpp).
#pragma once

namespace postern::cgi {

inline constexpr char kHelp[] =
    "usage: postern-cgi    (run by a CGI host, such as Apache mod_cgid, for each request)\n"
    "\n"
    "Runs a Postern module (POSTERN_APP) as a CGI program: the request comes from the\n"
    "environment and standard input, the response goes to standard output.\n"
    "\n"
    "settings, from the environment (Apache: SetEnv in the location):\n"
    "  POSTERN_MODULE          the module (.so) to run; required\n"
    "  POSTERN_MOUNT           the prefix it is mounted at (default: SCRIPT_NAME)\n"
    "  POSTERN_LOG_LEVEL       debug, info, warn (default), error; to standard error\n"
    "  POSTERN_MAX_BODY_BYTES  request body limit (default 4294967296, 413 beyond)\n"
    "\n"
    "The module runs with the whole environment the CGI host gives this process: the\n"
    "host's own, PassEnv, and every SetEnv of the location (SetEnv DB_PASSWORD ... is\n"
    "readable through getenv() by the module and the libraries it loads). The request's\n"
    "own variables, and only those, are in Request::environ(): the RFC 3875\n"
    "meta-variables, HTTP_*, and what Apache sets per request (REQUEST_URI,\n"
    "REQUEST_SCHEME, REMOTE_PORT, SERVER_ADDR, DOCUMENT_ROOT, HTTPS, SSL_*, ...).\n"
    "HTTP_PROXY is removed from both (httpoxy).\n";

}  // namespace postern::cgi
