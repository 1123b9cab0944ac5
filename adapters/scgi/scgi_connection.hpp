// Postern SCGI adapter: one front-end connection (nginx scgi_pass, Apache
// mod_proxy_scgi).
#pragma once

#include "core/connection.hpp"
#include "one_request/one_request_connection.hpp"
#include "scgi/codec.hpp"

namespace postern::scgi {

/// One SCGI connection: one request (the netstring header, CONTENT_LENGTH
/// body bytes), answered with a CGI response (cgi_head(): "Status:" and the
/// headers, then the body), then closed; see OneRequestConnection. The
/// SCGI variable itself is not passed to the callback. A repeated HTTP_*
/// name (nginx before 1.23 sends a repeated header that way) is joined as
/// for FastCGI; any other duplicate is refused.
class ScgiConnection final : public OneRequestConnection {
  public:
    using OneRequestConnection::OneRequestConnection;

  protected:
    Head decode_head(std::string_view in) const override;
    std::string encode_head(const ResponseHead& head) const override;
    std::string_view protocol() const noexcept override { return "scgi"; }
    std::string_view wire_name() const noexcept override { return "SCGI"; }
};

}  // namespace postern::scgi
