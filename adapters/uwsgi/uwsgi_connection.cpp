#include "uwsgi/uwsgi_connection.hpp"

#include "core/environ.hpp"
#include "uwsgi/response_head.hpp"

namespace postern::uwsgi {

OneRequestConnection::Head UwsgiConnection::decode_head(std::string_view in) const {
    Request req;
    const Result r = decode_request(in, decode_limits<DecodeLimits>(), req);
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
    head.body = req.content_length.value_or(0);
    head.env.reserve(req.params.size() + 4);  // +4: the variables the core adds
    ParamBuilder params(head.env);
    for (const auto& [name, value] : req.params)
        params.add(name, value);
    return head;
}

std::string UwsgiConnection::encode_head(const ResponseHead& head) const {
    return encode_response_head(head);
}

}  // namespace postern::uwsgi
