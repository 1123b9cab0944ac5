// Postern core: the CGI response header block (RFC 3875 §6.3), written once
// for every adapter that speaks it (FastCGI, SCGI, CGI).
#pragma once

#include <string>

#include "postern/response.hpp"

namespace postern {

/// "Status: 200 OK\r\nName: value\r\n...[Content-Length: N\r\n]\r\n".
std::string cgi_head(const ResponseHead& head);

}  // namespace postern
