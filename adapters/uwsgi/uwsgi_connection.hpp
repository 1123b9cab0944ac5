// Postern uwsgi adapter: one front-end connection (nginx uwsgi_pass, Apache
// mod_proxy_uwsgi).
#pragma once

#include "core/connection.hpp"
#include "one_request/one_request_connection.hpp"
#include "uwsgi/codec.hpp"

namespace postern::uwsgi {

/// One uwsgi connection: one request (the 4-byte header and the variables,
/// then CONTENT_LENGTH body bytes; none without CONTENT_LENGTH), answered
/// with a raw HTTP/1.1 status line and headers (encode_response_head())
/// and the body, then closed; see OneRequestConnection. Variables are data
/// only: each becomes a CGI variable of the request (add_param: repeated
/// HTTP_* joined, Proxy and hop-by-hop headers dropped) and nothing else.
class UwsgiConnection final : public OneRequestConnection {
  public:
    using OneRequestConnection::OneRequestConnection;

  protected:
    Head decode_head(std::string_view in) const override;
    std::string encode_head(const ResponseHead& head) const override;
    std::string_view protocol() const noexcept override { return "uwsgi"; }
    std::string_view wire_name() const noexcept override { return "uwsgi"; }
};

}  // namespace postern::uwsgi
