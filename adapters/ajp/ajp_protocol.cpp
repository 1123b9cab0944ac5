#include "ajp/ajp_protocol.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

#include "ajp/ajp_connection.hpp"
#include "core/log.hpp"

namespace postern {

namespace {

class AjpProtocol final : public Protocol {
  public:
    AjpProtocol(App& app, const Options& options) {
        const AjpOptions& o = options.ajp;
        if (o.secret.empty() && !o.insecure)
            throw std::runtime_error(
                "an ajp listener needs a shared secret: give --ajp-secret (the same as the front "
                "end's secret), or --ajp-insecure to accept AJP requests without one");
        if (o.packet_size < ajp::kMinPacketSize || o.packet_size > ajp::kMaxPacketSize)
            throw std::runtime_error("AJP packet size " + std::to_string(o.packet_size) +
                                     " outside 8192..65536");
        if (o.secret.empty())
            log::warn(
                "ajp listener accepts requests without a secret (--ajp-insecure): anything that "
                "reaches its port is trusted as the front end");
        settings_.app = &app;
        settings_.secret = o.secret;
        settings_.insecure = o.insecure;
        settings_.packet_size = o.packet_size;
        // The length field holds at most 65535 payload bytes.
        settings_.limits.max_payload =
            std::min<std::size_t>(o.packet_size - ajp::kHeaderSize, 0xFFFF);
        settings_.limits.max_headers = options.limits.max_headers;
        settings_.limits.max_attributes = options.limits.max_headers;
        settings_.allowed_attributes = o.allowed_attributes;
        apply_request_limits(settings_, options.limits);
    }

    std::unique_ptr<Connection> make_connection(int fd, Peer peer) override {
        return std::make_unique<ajp::AjpConnection>(fd, std::move(peer), settings_);
    }

    void refuse_overloaded(int fd) noexcept override {
        // A CPING (mod_jk's connect or prepost check) gets no CPONG: the
        // front end takes another worker. A request gets a 503 with a
        // correct END_RESPONSE that forbids reuse.
        unsigned char first[5] = {};
        if (::recv(fd, first, sizeof(first), MSG_PEEK | MSG_DONTWAIT) == 5 && first[0] == 0x12 &&
            first[1] == 0x34 && first[4] == static_cast<unsigned char>(ajp::Code::cping)) {
            ::close(fd);
            return;
        }
        try {
            std::string out;
            ajp::encode_send_headers(out, kOverloadedStatus, reason_phrase(kOverloadedStatus),
                                     overloaded_headers(), settings_.packet_size);
            ajp::encode_send_body_chunk(out, kOverloadedBody);
            ajp::encode_end_response(out, false);
            answer_and_close(fd, out);
        } catch (...) {
            ::close(fd);
        }
    }

  private:
    ajp::AjpSettings settings_;
};

}  // namespace

std::unique_ptr<Protocol> make_ajp_protocol(App& app, const Options& options) {
    return std::make_unique<AjpProtocol>(app, options);
}

}  // namespace postern
