// Example: the request as JSON. Every value is a string except "https" (a
// bool) and "body_length" (a number). The body is streamed through SHA-256
// in pieces, never held whole, so a multi-gigabyte upload costs 64 KiB.
//
//   {"protocol": "fastcgi", "method": "POST", "script_name": "/app",
//    "path_info": "/x", ..., "headers": {"host": "...", ...},
//    "body_length": 3, "body_sha256": "...", "environ": {"REQUEST_METHOD": ...}}
//
// Strings are escaped per RFC 8259 §7: quote, backslash and control
// characters as escapes; valid UTF-8 passes through; a byte that is not part
// of a valid UTF-8 sequence (request data can be anything) is written as
// \u00XX, its Latin-1 reading, so the output is always valid JSON and valid
// UTF-8.
#include <Poco/DigestEngine.h>
#include <Poco/SHA2Engine.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <postern/postern.hpp>

namespace {

/// Length of the valid UTF-8 sequence starting at s[i], or 0 when the byte
/// there does not start one (RFC 3629 §4: no overlongs, no surrogates,
/// nothing above U+10FFFF).
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
    auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = byte(i);
    std::size_t len = 0;
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;  // overlong
        if (c == 0xED)
            hi = 0x9F;  // UTF-16 surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;  // overlong
        if (c == 0xF4)
            hi = 0x8F;  // above U+10FFFF
    } else {
        return 0;
    }
    if (s.size() - i < len)
        return 0;
    if (byte(i + 1) < lo || byte(i + 1) > hi)
        return 0;
    for (std::size_t k = 2; k < len; ++k) {
        if (byte(i + k) < 0x80 || byte(i + k) > 0xBF)
            return 0;
    }
    return len;
}

void append_json_string(std::string& out, std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    auto escape_byte = [&](unsigned char b) {
        out += "\\u00";
        out += kHex[b >> 4];
        out += kHex[b & 0xF];
    };
    out += '"';
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            switch (c) {
                case '"':
                    out += "\\\"";
                    break;
                case '\\':
                    out += "\\\\";
                    break;
                case '\b':
                    out += "\\b";
                    break;
                case '\f':
                    out += "\\f";
                    break;
                case '\n':
                    out += "\\n";
                    break;
                case '\r':
                    out += "\\r";
                    break;
                case '\t':
                    out += "\\t";
                    break;
                default:
                    if (c < 0x20 || c == 0x7F) {
                        escape_byte(c);
                    } else {
                        out += static_cast<char>(c);
                    }
            }
            ++i;
            continue;
        }
        if (const std::size_t len = utf8_sequence(s, i); len != 0) {
            out.append(s.substr(i, len));
            i += len;
        } else {
            escape_byte(c);
            ++i;
        }
    }
    out += '"';
}

/// A flat JSON object written member by member.
class JsonObject {
  public:
    explicit JsonObject(std::string& out) : out_(out) { out_ += '{'; }
    void key(std::string_view k) {
        if (!first_)
            out_ += ", ";
        first_ = false;
        append_json_string(out_, k);
        out_ += ": ";
    }
    void string(std::string_view k, std::string_view v) {
        key(k);
        append_json_string(out_, v);
    }
    void raw(std::string_view k, std::string_view json) {
        key(k);
        out_ += json;
    }
    void close() { out_ += '}'; }

  private:
    std::string& out_;
    bool first_ = true;
};

void echo(postern::Request& req, postern::Response& res) {
    Poco::SHA2Engine sha256(Poco::SHA2Engine::SHA_256);
    std::uint64_t body_length = 0;
    std::array<char, 64 * 1024> piece{};
    while (const std::size_t n = req.read(piece.data(), piece.size())) {
        sha256.update(piece.data(), n);
        body_length += n;
    }

    std::string json;
    json.reserve(4096);
    JsonObject top(json);
    top.string("protocol", req.protocol());
    top.string("method", req.method());
    top.string("script_name", req.script_name());
    top.string("path_info", req.path_info());
    top.string("query_string", req.query_string());
    top.string("server_protocol", req.server_protocol());
    top.string("server_name", req.server_name());
    top.string("server_port", req.server_port());
    top.string("remote_addr", req.remote_addr());
    top.raw("https", req.https() ? "true" : "false");
    top.string("content_type", req.content_type());

    top.key("headers");
    JsonObject headers(json);
    for (const auto& [name, value] : req.headers())
        headers.string(name, value);
    headers.close();

    top.raw("body_length", std::to_string(body_length));
    top.string("body_sha256", Poco::DigestEngine::digestToHex(sha256.digest()));

    top.key("environ");
    JsonObject environ(json);
    for (const auto& [name, value] : req.environ())
        environ.string(name, value);
    environ.close();
    top.close();
    json += '\n';

    res.header("Content-Type", "application/json");
    res.write(json);
}

}  // namespace

POSTERN_APP(echo)
