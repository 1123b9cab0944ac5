#include "scgi/scgi_connection.hpp"

#include "core/cgi_head.hpp"
#include "core/environ.hpp"

namespace postern::scgi {

OneRequestConnection::Head ScgiConnection::decode_head(std::string_view in) const {
    auto limits = decode_limits<DecodeLimits>();
    limits.allow_repeated_headers = true;
    Request req;
    const Result r = decode_request(in, limits, req);
    if (r.status == Status::need_more)
        return {};
    if (r.status == Status::error)
        return refused(describe_fault(r.reason, error_name(r.code), r.offset),
                       r.code == Error::header_too_large || r.code == Error::too_many_params
                           ? Fault::head_too_large
                           : Fault::malformed);
    Head head;
    head.status = Head::Status::done;
    head.consumed = r.consumed;
    head.body = req.content_length;
    head.env.reserve(req.params.size() + 4);  // +4: the variables the core adds
    ParamBuilder params(head.env);
    for (const auto& [name, value] : req.params) {
        if (name == "SCGI")
            continue;  // the protocol's, not the request's
        params.add(name, value);
    }
    return head;
}

std::string ScgiConnection::encode_head(const ResponseHead& head) const {
    return cgi_head(head);
}

}  // namespace postern::scgi
