#include "websocket_client.hpp"

#include <cctype>
#include <stdexcept>

namespace postern::test {

namespace {

using Clock = std::chrono::steady_clock;

std::chrono::milliseconds left(Clock::time_point deadline) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    return ms.count() > 0 ? ms : std::chrono::milliseconds(0);
}

/// Appends the frame header: b0, the length in its minimal form (RFC 6455
/// §5.2), the mask bit when `masked`.
void append_header(std::string& out, unsigned char b0, std::uint64_t size, bool masked) {
    out.push_back(static_cast<char>(b0));
    const unsigned m = masked ? 0x80u : 0u;
    if (size < 126) {
        out.push_back(static_cast<char>(m | size));
    } else if (size <= 0xffff) {
        out.push_back(static_cast<char>(m | 126u));
        out.push_back(static_cast<char>(size >> 8));
        out.push_back(static_cast<char>(size & 0xff));
    } else {
        out.push_back(static_cast<char>(m | 127u));
        for (int shift = 56; shift >= 0; shift -= 8)
            out.push_back(static_cast<char>((size >> shift) & 0xff));
    }
}

void append_masked(std::string& out, std::string_view payload, std::uint32_t key) {
    const unsigned char k[4] = {
        static_cast<unsigned char>(key >> 24), static_cast<unsigned char>(key >> 16),
        static_cast<unsigned char>(key >> 8), static_cast<unsigned char>(key)};
    out.append(reinterpret_cast<const char*>(k), 4);
    const std::size_t old = out.size();
    out.append(payload);
    for (std::size_t i = 0; i < payload.size(); ++i)
        out[old + i] = static_cast<char>(static_cast<unsigned char>(out[old + i]) ^ k[i % 4]);
}

}  // namespace

int WsFrame::close_code() const {
    if (payload.size() < 2)
        return 1005;
    return (static_cast<unsigned char>(payload[0]) << 8) | static_cast<unsigned char>(payload[1]);
}

std::string WsFrame::close_reason() const {
    return payload.size() > 2 ? payload.substr(2) : std::string();
}

std::string raw_ws_frame(unsigned char b0, std::string_view payload, bool masked) {
    std::string out;
    append_header(out, b0, payload.size(), masked);
    if (masked)
        append_masked(out, payload, 0x37fa213d);
    else
        out.append(payload);
    return out;
}

WsClient::WsClient(const std::string& address) : socket_(address) {}

int WsClient::request(std::string_view request, std::chrono::milliseconds timeout) {
    head_.clear();
    if (!socket_.send(request))
        return 0;
    const auto deadline = Clock::now() + timeout;
    std::size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
        std::string got = socket_.recv_some(left(deadline));
        if (got.empty())
            return 0;
        buffer_ += got;
    }
    head_ = buffer_.substr(0, end + 4);
    buffer_.erase(0, end + 4);
    // "HTTP/1.1 101 Switching Protocols"
    if (head_.size() < 12 || head_.compare(0, 5, "HTTP/") != 0)
        return 0;
    return std::stoi(head_.substr(9, 3));
}

bool WsClient::handshake(std::string_view path, std::string_view host, std::string_view extra) {
    std::string req =
        "GET " + std::string(path) + " HTTP/1.1\r\nHost: " + std::string(host) +
        "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + kKey +
        "\r\nSec-WebSocket-Version: 13\r\n" + std::string(extra) + "\r\n";
    if (request(req) != 101)
        return false;
    return head_.find(std::string("\r\nSec-WebSocket-Accept: ") + kAccept + "\r\n") !=
           std::string::npos;
}

std::string WsClient::body(std::chrono::milliseconds timeout) {
    const std::string key = "\r\ncontent-length: ";
    std::string lower = head_;
    for (char& c : lower)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const std::size_t at = lower.find(key);
    if (at == std::string::npos)
        return {};
    const std::size_t n = std::stoul(head_.substr(at + key.size()));
    if (!fill(n, Clock::now() + timeout))
        return buffer_;
    std::string out = buffer_.substr(0, n);
    buffer_.erase(0, n);
    return out;
}

bool WsClient::send_frame(int opcode, std::string_view payload, bool fin) {
    std::string out;
    append_header(out, static_cast<unsigned char>((fin ? 0x80 : 0) | (opcode & 0x0f)),
                  payload.size(), true);
    mask_seed_ = mask_seed_ * 1103515245u + 12345u;
    append_masked(out, payload, mask_seed_);
    return socket_.send(out);
}

bool WsClient::send_close(int code, std::string_view reason) {
    std::string payload;
    if (code != 0) {
        payload.push_back(static_cast<char>(code >> 8));
        payload.push_back(static_cast<char>(code & 0xff));
        payload.append(reason);
    }
    return send_frame(0x8, payload);
}

bool WsClient::fill(std::size_t n, Clock::time_point deadline) {
    while (buffer_.size() < n) {
        if (socket_.closed())
            return false;
        const auto ms = left(deadline);
        if (ms.count() == 0)
            return false;
        buffer_ += socket_.recv_some(ms);
    }
    return true;
}

std::optional<WsFrame> WsClient::read_frame(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    if (!fill(2, deadline))
        return std::nullopt;
    const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(buffer_[i]); };
    WsFrame f;
    f.fin = (byte(0) & 0x80) != 0;
    f.opcode = byte(0) & 0x0f;
    f.masked = (byte(1) & 0x80) != 0;
    std::uint64_t length = byte(1) & 0x7f;
    std::size_t pos = 2;
    if (length == 126) {
        if (!fill(4, deadline))
            return std::nullopt;
        length = (std::uint64_t{byte(2)} << 8) | byte(3);
        pos = 4;
    } else if (length == 127) {
        if (!fill(10, deadline))
            return std::nullopt;
        length = 0;
        for (std::size_t i = 2; i < 10; ++i)
            length = (length << 8) | byte(i);
        pos = 10;
    }
    if (f.masked)
        pos += 4;  // a server never masks; read past it anyway
    if (length > (std::uint64_t{1} << 32))
        throw std::runtime_error("server frame of " + std::to_string(length) + " bytes");
    if (!fill(pos + static_cast<std::size_t>(length), deadline))
        return std::nullopt;
    f.payload = buffer_.substr(pos, static_cast<std::size_t>(length));
    buffer_.erase(0, pos + static_cast<std::size_t>(length));
    return f;
}

std::optional<WsFrame> WsClient::read_until_close(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        std::optional<WsFrame> f = read_frame(left(deadline));
        if (!f || f->opcode == 0x8)
            return f;
    }
}

bool WsClient::wait_closed(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (!socket_.closed()) {
        const auto ms = left(deadline);
        if (ms.count() == 0)
            return false;
        buffer_ += socket_.recv_some(ms);
    }
    return true;
}

}  // namespace postern::test
