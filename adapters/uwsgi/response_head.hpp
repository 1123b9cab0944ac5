// Postern uwsgi adapter: the response head uWSGI writes back to the front end.
#pragma once

#include <string>

#include "postern/response.hpp"

namespace postern::uwsgi {

/// "HTTP/1.1 200 OK\r\nName: value\r\n...[Content-Length: N\r\n]\r\n": a raw
/// HTTP/1.1 status line and header block, as uWSGI sends it to nginx's
/// uwsgi_pass and Apache's mod_proxy_uwsgi (both parse it as an HTTP
/// response). Content-Length only when the length is known and the status
/// allows a body (RFC 9110 §8.6); without it the body ends when the
/// connection closes (RFC 9112 §6.3 rule 8), which is how uWSGI streams. The
/// reason phrase follows the status code (reason_phrase()).
std::string encode_response_head(const ResponseHead& head);

}  // namespace postern::uwsgi
