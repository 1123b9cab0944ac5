#include "scgi/scgi_connection.hpp"

#include "core/cgi_head.hpp"
#include "core/environ.hpp"

namespace postern::scgi {

OneRequestConnection::Head ScgiConnection::decode_head(std::string_view in) const {
    auto limits = decode_limits<DecodeLimits>();
    limits.allow_repeated_headers = true;
    Request req;
    const Result r = decode_request(in, limits, req);
    // "SCGI" is the protocol's, not the request's.
    return decoded(r, req.params, r.status == Status::done ? req.content_length : 0, "SCGI");
}

std::string ScgiConnection::encode_head(const ResponseHead& head) const {
    return cgi_head(head);
}

}  // namespace postern::scgi
