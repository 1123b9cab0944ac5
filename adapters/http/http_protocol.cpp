#include "http/http_protocol.hpp"

#include "http/http_connection.hpp"

namespace postern {

namespace {

class HttpProtocol final : public Protocol {
  public:
    HttpProtocol(App& app, const Options& options) {
        settings_.app = &app;
        settings_.head_limits.max_header_bytes = options.limits.max_header_bytes;
        settings_.head_limits.max_headers = options.limits.max_headers;
        settings_.trusted_proxies = AddressList(options.trusted_proxies);
        apply_request_limits(settings_, options.limits);
    }

    std::unique_ptr<Connection> make_connection(int fd, Peer peer) override {
        return std::make_unique<http::HttpConnection>(fd, std::move(peer), settings_);
    }

    void refuse_overloaded(int fd) noexcept override { answer_and_close(fd, overloaded_); }

  private:
    http::HttpSettings settings_;
    // Built once: refuse_overloaded() does not allocate. With Connection:
    // close, as the connection would otherwise persist.
    const std::string overloaded_ = overloaded_http_response(true);
};

}  // namespace

std::unique_ptr<Protocol> make_http_protocol(App& app, const Options& options) {
    return std::make_unique<HttpProtocol>(app, options);
}

}  // namespace postern
