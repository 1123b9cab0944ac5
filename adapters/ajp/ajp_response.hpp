// Postern AJP adapter: the response head as the container sends it, for a
// response written by the connection (AjpConnection::send_head) and for a
// detached one (ajp_response.cpp's framing).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "postern/response.hpp"

namespace postern {
class DetachedFraming;
}

namespace postern::ajp {

/// Appends SEND_HEADERS for `head` to `out`; false when it was replaced
/// (below).
/// Framing is the front end's (it picks Content-Length or chunked for the
/// client from what is given here): the callback's Content-Length and
/// Transfer-Encoding are dropped, the declared length is sent. AJPv13 has
/// one SEND_HEADERS packet: headers that do not fit `packet_size` are
/// logged (naming `who`) and replaced by a bodiless 500.
bool append_response_head(std::string& out, const ResponseHead& head, std::size_t packet_size,
                          const std::string& who);

/// The framing of a detached response (core/detached.hpp): SEND_HEADERS,
/// each write as SEND_BODY_CHUNKs within `packet_size` followed by an empty
/// one (the front ends' explicit flush: mod_jk and mod_proxy_ajp pass the
/// bytes on to the client at once), then END_RESPONSE with reuse=0, since
/// the connection closes after it. `no_body`: the head already sent has no
/// body (HEAD, 204, 304); `head_request`: the request is a HEAD.
std::unique_ptr<DetachedFraming> make_detached_framing(int fd, std::size_t packet_size,
                                                       bool head_request, bool no_body,
                                                       std::string who);

}  // namespace postern::ajp
