#include "uwsgi/response_head.hpp"

#include "core/http_head.hpp"

namespace postern::uwsgi {

std::string encode_response_head(const ResponseHead& head) {
    // No Date, as uWSGI: the front end adds its own.
    HttpFraming framing;
    if (head.content_length && status_has_body(head.status))
        framing.content_length = head.content_length;
    std::string out;
    out.reserve(128);
    append_http_head(out, head.status, head.headers, framing);
    return out;
}

}  // namespace postern::uwsgi
