#include "scgi/scgi_protocol.hpp"

#include "scgi/scgi_connection.hpp"

namespace postern {

namespace {

class ScgiProtocol final : public Protocol {
  public:
    ScgiProtocol(App& app, const Options& options) {
        settings_.app = &app;
        settings_.max_header_bytes = options.limits.max_params_bytes;
        settings_.max_params = options.limits.max_params;
        settings_.read_timeout = options.limits.read_timeout;
        settings_.min_body_rate = options.limits.min_body_rate;
        settings_.write_timeout = options.limits.write_timeout;
    }

    std::unique_ptr<Connection> make_connection(int fd, Peer peer) override {
        return std::make_unique<scgi::ScgiConnection>(fd, std::move(peer), settings_);
    }

    void refuse_overloaded(int fd) noexcept override { answer_and_close(fd, overloaded_); }

  private:
    OneRequestSettings settings_;
    // A CGI response (the SCGI answer), as the front end expects one; built
    // once: refuse_overloaded() does not allocate.
    const std::string overloaded_ = overloaded_cgi_response();
};

}  // namespace

std::unique_ptr<Protocol> make_scgi_protocol(App& app, const Options& options) {
    return std::make_unique<ScgiProtocol>(app, options);
}

}  // namespace postern
