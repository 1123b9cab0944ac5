#include "ajp/ajp_response.hpp"

#include <algorithm>
#include <string_view>
#include <utility>
#include <vector>

#include "ajp/codec.hpp"
#include "core/detached.hpp"
#include "core/log.hpp"
#include "core/text.hpp"

namespace postern::ajp {

bool append_response_head(std::string& out, const ResponseHead& head, std::size_t packet_size,
                          const std::string& who) {
    std::vector<std::pair<std::string, std::string>> headers;
    if (head.headers != nullptr) {
        headers.reserve(head.headers->size() + 1);
        for (const auto& [name, value] : *head.headers) {
            if (iequals(name, "content-length") || iequals(name, "transfer-encoding"))
                continue;
            headers.emplace_back(name, value);
        }
    }
    if (head.content_length && status_has_body(head.status))
        headers.emplace_back("Content-Length", std::to_string(*head.content_length));
    if (encode_send_headers(out, head.status, reason_phrase(head.status), headers, packet_size))
        return true;
    log::error("application response to " + who +
               " has headers larger than the AJP packet size of " + std::to_string(packet_size) +
               " bytes; sending 500 instead");
    encode_send_headers(out, 500, reason_phrase(500),
                        {{"Content-Type", "text/plain"}, {"Content-Length", "0"}}, packet_size);
    return false;
}

namespace {

class AjpDetachedFraming final : public DetachedFraming {
  public:
    AjpDetachedFraming(int fd, std::size_t packet_size, bool head_request, bool no_body,
                       std::string who)
        : fd_(fd),
          packet_size_(packet_size),
          head_request_(head_request),
          no_body_(no_body),
          who_(std::move(who)) {}

    int fd() const noexcept override { return fd_; }

    void head(const ResponseHead& head, std::string& out) override {
        const bool as_given = append_response_head(out, head, packet_size_, who_);
        no_body_ = !as_given || head.head_only || head_request_ || !status_has_body(head.status);
    }

    void body(std::string_view data, std::string& out) override {
        if (no_body_)
            return;
        const std::size_t max = max_response_chunk(packet_size_);
        while (!data.empty()) {
            const std::size_t n = std::min(max, data.size());
            encode_send_body_chunk(out, data.substr(0, n));
            data.remove_prefix(n);
        }
        encode_send_body_chunk(out, {});  // flush to the client now
    }

    void end(std::string& out) override { encode_end_response(out, false); }

  private:
    int fd_;
    std::size_t packet_size_;
    bool head_request_;
    bool no_body_;
    std::string who_;
};

}  // namespace

std::unique_ptr<DetachedFraming> make_detached_framing(int fd, std::size_t packet_size,
                                                       bool head_request, bool no_body,
                                                       std::string who) {
    return std::make_unique<AjpDetachedFraming>(fd, packet_size, head_request, no_body,
                                                std::move(who));
}

}  // namespace postern::ajp
