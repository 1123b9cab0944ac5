// The AJP13 encoders of codec.hpp: the container's packets (SEND_HEADERS,
// SEND_BODY_CHUNK, GET_BODY_CHUNK, END_RESPONSE, CPONG) and, for tests and
// fuzzers, the front end's (FORWARD_REQUEST, a body packet).
#include <array>
#include <stdexcept>

#include "ajp/codec.hpp"
#include "ajp/codes.hpp"
#include "core/text.hpp"

namespace postern::ajp {

using namespace codes;

namespace {

void put_u16(std::string& out, std::size_t v) {
    out += static_cast<char>((v >> 8) & 0xFF);
    out += static_cast<char>(v & 0xFF);
}

void put_string(std::string& out, std::string_view s) {
    put_u16(out, s.size());
    out += s;
    out += '\0';
}

/// A header name as AJP13 sends it: its code (0xA0nn) when `table` has one,
/// else the name itself.
template <std::size_t N>
void put_header_name(std::string& out, std::string_view name,
                     const std::array<std::string_view, N>& table) {
    for (std::size_t i = 1; i < N; ++i) {
        if (iequals(name, table[i])) {
            put_u16(out, 0xA000 + i);
            return;
        }
    }
    put_string(out, name);
}

/// Fills in the 16-bit length of the packet that starts at `start`.
void close_packet(std::string& out, std::size_t start) {
    const std::size_t length = out.size() - start - kHeaderSize;
    out[start + 2] = static_cast<char>((length >> 8) & 0xFF);
    out[start + 3] = static_cast<char>(length & 0xFF);
}

std::size_t open_packet(std::string& out, char a, char b) {
    const std::size_t start = out.size();
    out += a;
    out += b;
    out += '\0';
    out += '\0';
    return start;
}

}  // namespace

bool encode_send_headers(std::string& out, int status, std::string_view reason,
                         const std::vector<std::pair<std::string, std::string>>& headers,
                         std::size_t packet_size) {
    if (headers.size() > 0xFFFF || reason.size() >= kNullString)
        return false;
    const std::size_t start = open_packet(out, 'A', 'B');
    out += static_cast<char>(Code::send_headers);
    put_u16(out, static_cast<std::size_t>(status) & 0xFFFF);
    put_string(out, reason);
    put_u16(out, headers.size());
    for (const auto& [name, value] : headers) {
        if (name.size() >= kNullString || value.size() >= kNullString ||
            out.size() - start > packet_size) {
            out.resize(start);
            return false;
        }
        put_header_name(out, name, kResponseHeaders);
        put_string(out, value);
    }
    if (out.size() - start > packet_size) {
        out.resize(start);
        return false;
    }
    close_packet(out, start);
    return true;
}

void encode_send_body_chunk(std::string& out, std::string_view data) {
    const std::size_t start = open_packet(out, 'A', 'B');
    out += static_cast<char>(Code::send_body_chunk);
    put_string(out, data);
    close_packet(out, start);
}

void encode_get_body_chunk(std::string& out, std::uint16_t size) {
    const std::size_t start = open_packet(out, 'A', 'B');
    out += static_cast<char>(Code::get_body_chunk);
    put_u16(out, size);
    close_packet(out, start);
}

void encode_end_response(std::string& out, bool reuse) {
    const std::size_t start = open_packet(out, 'A', 'B');
    out += static_cast<char>(Code::end_response);
    out += static_cast<char>(reuse ? 1 : 0);
    close_packet(out, start);
}

void encode_cpong(std::string& out) {
    const std::size_t start = open_packet(out, 'A', 'B');
    out += static_cast<char>(Code::cpong);
    close_packet(out, start);
}

std::uint8_t method_code(std::string_view method) noexcept {
    for (std::size_t i = 1; i < kMethods.size(); ++i)
        if (kMethods[i] == method)
            return static_cast<std::uint8_t>(i);
    return kStoredMethod;
}

std::string encode_forward_request(const ForwardRequest& req, std::uint8_t method_code) {
    auto check = [](std::string_view s) {
        if (s.size() >= kNullString)
            throw std::length_error("AJP string longer than 65534 bytes");
        return s;
    };
    std::string out;
    const std::size_t start = open_packet(out, '\x12', '\x34');
    out += static_cast<char>(Code::forward_request);
    out += static_cast<char>(method_code);
    put_string(out, check(req.protocol));
    put_string(out, check(req.req_uri));
    put_string(out, check(req.remote_addr));
    if (req.remote_host.empty())
        put_u16(out, kNullString);  // as both front ends send it
    else
        put_string(out, check(req.remote_host));
    put_string(out, check(req.server_name));
    put_u16(out, req.server_port);
    out += static_cast<char>(req.is_ssl ? 1 : 0);
    put_u16(out, req.headers.size());
    for (const auto& [name, value] : req.headers) {
        put_header_name(out, check(name), kRequestHeaders);
        put_string(out, check(value));
    }
    auto attr = [&](std::uint8_t code, const std::optional<std::string>& v) {
        if (v) {
            out += static_cast<char>(code);
            put_string(out, check(*v));
        }
    };
    attr(kRemoteUser, req.remote_user);
    attr(kAuthType, req.auth_type);
    attr(kQueryString, req.query_string);
    attr(kRoute, req.route);
    attr(kSslCert, req.ssl_cert);
    attr(kSslCipher, req.ssl_cipher);
    attr(kSslSession, req.ssl_session);
    if (req.ssl_key_size) {
        out += static_cast<char>(kSslKeySize);
        put_u16(out, *req.ssl_key_size);
    }
    attr(kSecret, req.secret);
    if (method_code == kStoredMethod)
        attr(kStoredMethodAttr, req.method);
    for (const auto& [name, value] : req.attributes) {
        out += static_cast<char>(kReqAttribute);
        put_string(out, check(name));
        put_string(out, check(value));
    }
    out += static_cast<char>(kAreDone);
    if (out.size() - kHeaderSize > 0xFFFF)
        throw std::length_error("AJP packet longer than 65535 bytes");
    close_packet(out, start);
    return out;
}

std::string encode_body_packet(std::string_view data) {
    std::string out;
    const std::size_t start = open_packet(out, '\x12', '\x34');
    put_u16(out, data.size());
    out += data;
    close_packet(out, start);
    return out;
}

}  // namespace postern::ajp
