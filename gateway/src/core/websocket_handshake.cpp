// The WebSocket opening handshake (websocket_codec.hpp, RFC 6455 §4.2),
// and the SHA-1 (RFC 3174) and base64 (RFC 4648) it needs: the core depends
// on libc only, not on Poco's DigestEngine.
#include <cstring>

#include "core/environ.hpp"
#include "core/text.hpp"
#include "core/websocket_codec.hpp"

namespace postern::ws {

namespace {

// RFC 6455 §1.3: the GUID appended to the key.
constexpr std::string_view guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

constexpr char base64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr bool is_base64_char(char c) noexcept {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

/// True when the comma-separated list `value` (RFC 9110 §5.6.1) holds
/// `token`, compared case-insensitively.
bool has_token(std::string_view value, std::string_view token) noexcept {
    while (!value.empty()) {
        const std::size_t comma = value.find(',');
        std::string_view item = value.substr(0, comma);
        while (!item.empty() && (item.front() == ' ' || item.front() == '\t'))
            item.remove_prefix(1);
        while (!item.empty() && (item.back() == ' ' || item.back() == '\t'))
            item.remove_suffix(1);
        if (iequals(item, token))
            return true;
        if (comma == std::string_view::npos)
            break;
        value.remove_prefix(comma + 1);
    }
    return false;
}

/// RFC 6455 §4.1: the key is the base64 of 16 bytes: 22 characters and
/// "==".
bool valid_key(std::string_view key) noexcept {
    if (key.size() != 24 || key[22] != '=' || key[23] != '=')
        return false;
    for (std::size_t k = 0; k < 22; ++k)
        if (!is_base64_char(key[k]))
            return false;
    return true;
}

constexpr std::uint32_t rotl(std::uint32_t x, unsigned n) noexcept {
    return (x << n) | (x >> (32 - n));
}

}  // namespace

// --- SHA-1 and base64 -------------------------------------------------------

std::array<std::uint8_t, 20> sha1(std::string_view data) {
    // RFC 3174 §6.1 (method 1), one 64-byte block at a time; the message
    // is padded with 0x80, zeros and its length in bits (§4).
    std::uint32_t h[5] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0};
    const std::uint64_t bits = static_cast<std::uint64_t>(data.size()) * 8;
    std::string padded(data);
    padded.push_back(static_cast<char>(0x80));
    while (padded.size() % 64 != 56)
        padded.push_back('\0');
    for (int shift = 56; shift >= 0; shift -= 8)
        padded.push_back(static_cast<char>((bits >> shift) & 0xff));

    for (std::size_t block = 0; block < padded.size(); block += 64) {
        std::uint32_t w[80];
        for (int t = 0; t < 16; ++t) {
            const auto* p = reinterpret_cast<const unsigned char*>(padded.data() + block + 4 * t);
            w[t] = (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) |
                   (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
        }
        for (int t = 16; t < 80; ++t)
            w[t] = rotl(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
        std::uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
        for (int t = 0; t < 80; ++t) {
            std::uint32_t f, k;
            if (t < 20) {
                f = (b & c) | (~b & d);
                k = 0x5a827999;
            } else if (t < 40) {
                f = b ^ c ^ d;
                k = 0x6ed9eba1;
            } else if (t < 60) {
                f = (b & c) | (b & d) | (c & d);
                k = 0x8f1bbcdc;
            } else {
                f = b ^ c ^ d;
                k = 0xca62c1d6;
            }
            const std::uint32_t temp = rotl(a, 5) + f + e + w[t] + k;
            e = d;
            d = c;
            c = rotl(b, 30);
            b = a;
            a = temp;
        }
        h[0] += a;
        h[1] += b;
        h[2] += c;
        h[3] += d;
        h[4] += e;
    }
    std::array<std::uint8_t, 20> out{};
    for (int i = 0; i < 5; ++i)
        for (int j = 0; j < 4; ++j)
            out[4 * i + j] = static_cast<std::uint8_t>(h[i] >> (24 - 8 * j));
    return out;
}

std::string base64_encode(std::string_view data) {
    std::string out;
    out.reserve((data.size() + 2) / 3 * 4);
    std::size_t k = 0;
    const auto byte = [&](std::size_t i) {
        return std::uint32_t{static_cast<unsigned char>(data[i])};
    };
    for (; k + 3 <= data.size(); k += 3) {
        const std::uint32_t v = (byte(k) << 16) | (byte(k + 1) << 8) | byte(k + 2);
        out.push_back(base64_alphabet[(v >> 18) & 63]);
        out.push_back(base64_alphabet[(v >> 12) & 63]);
        out.push_back(base64_alphabet[(v >> 6) & 63]);
        out.push_back(base64_alphabet[v & 63]);
    }
    const std::size_t rest = data.size() - k;
    if (rest > 0) {
        const std::uint32_t v = (byte(k) << 16) | (rest == 2 ? byte(k + 1) << 8 : 0);
        out.push_back(base64_alphabet[(v >> 18) & 63]);
        out.push_back(base64_alphabet[(v >> 12) & 63]);
        out.push_back(rest == 2 ? base64_alphabet[(v >> 6) & 63] : '=');
        out.push_back('=');
    }
    return out;
}

std::string accept_key(std::string_view key) {
    std::string text(key);
    text += guid;
    const std::array<std::uint8_t, 20> digest = sha1(text);
    return base64_encode(
        std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

// --- The opening handshake --------------------------------------------------

Handshake check_handshake(const Environ& env) {
    Handshake h;
    const auto refuse = [&](int status, std::string reason) {
        h.status = status;
        h.reason = std::move(reason);
        if (status == 426) {
            h.headers.emplace_back("Upgrade", "websocket");
            h.headers.emplace_back("Sec-WebSocket-Version", "13");
        }
        return h;
    };
    const auto var = [&](std::string_view name) -> std::string_view {
        const std::string* v = find_var(env, name);
        return v != nullptr ? std::string_view(*v) : std::string_view();
    };
    // RFC 6455 §4.2.1, in its order: GET over HTTP/1.1 or higher, Upgrade
    // (with Connection: upgrade, which the adapter checked), Sec-WebSocket-Key,
    // Sec-WebSocket-Version.
    const std::string_view method = var("REQUEST_METHOD");
    if (method != "GET")
        return refuse(400, "WebSocket handshake with method " + std::string(method));
    const std::string_view protocol = var("SERVER_PROTOCOL");
    if (protocol != "HTTP/1.1")
        return refuse(400, "WebSocket handshake over " + (protocol.empty()
                                                              ? std::string("an unknown protocol")
                                                              : std::string(protocol)));
    if (!has_token(var("HTTP_UPGRADE"), "websocket"))
        return refuse(426, "request without Upgrade: websocket (and Connection: upgrade)");
    const std::string* key = find_var(env, "HTTP_SEC_WEBSOCKET_KEY");
    if (key == nullptr)
        return refuse(400, "WebSocket handshake without Sec-WebSocket-Key");
    if (!valid_key(*key))
        return refuse(400, key->find(',') != std::string::npos
                               ? "WebSocket handshake with Sec-WebSocket-Key repeated"
                               : "Sec-WebSocket-Key that is not the base64 of 16 bytes");
    // Repeated, the versions arrive joined ("13, 13"): not exactly one 13.
    if (var("HTTP_SEC_WEBSOCKET_VERSION") != "13")
        return refuse(426, "WebSocket handshake without Sec-WebSocket-Version: 13");
    h.ok = true;
    h.accept = accept_key(*key);
    return h;
}

}  // namespace postern::ws
