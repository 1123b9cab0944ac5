#include "uwsgi/uwsgi_connection.hpp"

#include "uwsgi/response_head.hpp"

namespace postern::uwsgi {

OneRequestConnection::Head UwsgiConnection::decode_head(std::string_view in) const {
    Request req;
    const Result r = decode_request(in, decode_limits<DecodeLimits>(), req);
    return decoded(r, req.params, req.content_length.value_or(0));
}

std::string UwsgiConnection::encode_head(const ResponseHead& head) const {
    return encode_response_head(head);
}

}  // namespace postern::uwsgi
