#include "ajp/codec.hpp"

#include <array>
#include <stdexcept>

#include "ajp/codes.hpp"
#include "core/text.hpp"

namespace postern::ajp {

using namespace codes;

namespace {

constexpr auto fail = &decode_error<Error>;

std::string hex(unsigned v, int digits) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string s = "0x";
    for (int i = digits - 1; i >= 0; --i)
        s += kHex[(v >> (4 * i)) & 0xF];
    return s;
}

/// A cursor over one payload. Every read checks the bytes left first and
/// records the first fault; later reads then fail too.
class Reader {
  public:
    Reader(std::string_view data, std::size_t base) : data_(data), base_(base) {}

    bool ok() const noexcept { return error_.code == Error::none; }
    const Result& error() const noexcept { return error_; }
    std::size_t left() const noexcept { return data_.size() - pos_; }
    std::size_t offset() const noexcept { return base_ + pos_; }

    std::uint8_t peek() const noexcept {
        return left() > 0 ? static_cast<std::uint8_t>(data_[pos_]) : 0;
    }

    std::uint8_t byte(const char* what) {
        if (!need(1, what))
            return 0;
        return static_cast<std::uint8_t>(data_[pos_++]);
    }

    std::uint16_t integer(const char* what) {
        if (!need(2, what))
            return 0;
        auto v = static_cast<std::uint16_t>((static_cast<std::uint8_t>(data_[pos_]) << 8) |
                                            static_cast<std::uint8_t>(data_[pos_ + 1]));
        pos_ += 2;
        return v;
    }

    bool boolean(const char* what) {
        const std::size_t at = offset();
        std::uint8_t b = byte(what);
        if (ok() && b > 1)
            set(Error::bad_boolean,
                std::string(what) + " is " + hex(b, 2) + ", not a boolean (0 or 1)", at);
        return b == 1;
    }

    /// A string; `present` false for the null string (length 0xFFFF).
    std::string_view string(const char* what, bool* present = nullptr) {
        const std::size_t at = offset();
        std::uint16_t n = integer(what);
        if (!ok())
            return {};
        if (n == kNullString) {
            if (present)
                *present = false;
            return {};
        }
        if (present)
            *present = true;
        // Length, then the bytes and their NUL: compare lengths, never
        // pointers (STYLE 3).
        if (static_cast<std::size_t>(n) + 1 > left()) {
            set(Error::truncated,
                std::string(what) + " of " + std::to_string(n) + " bytes runs past the packet", at);
            return {};
        }
        std::string_view s = data_.substr(pos_, n);
        if (data_[pos_ + n] != '\0') {
            set(Error::bad_string, std::string(what) + " is not NUL-terminated", offset() + n);
            return {};
        }
        pos_ += n + 1u;
        return s;
    }

    void set(Error code, std::string reason, std::size_t at) {
        if (ok())
            error_ = fail(code, std::move(reason), at);
    }

  private:
    bool need(std::size_t n, const char* what) {
        if (!ok())
            return false;
        if (n > left()) {
            set(Error::truncated, std::string(what) + " runs past the end of the packet", offset());
            return false;
        }
        return true;
    }

    std::string_view data_;
    std::size_t base_;
    std::size_t pos_ = 0;
    Result error_;
};

}  // namespace

std::string_view error_name(Error e) noexcept {
    switch (e) {
        case Error::none:
            return "none";
        case Error::bad_magic:
            return "bad_magic";
        case Error::packet_too_large:
            return "packet_too_large";
        case Error::empty_packet:
            return "empty_packet";
        case Error::unknown_type:
            return "unknown_type";
        case Error::truncated:
            return "truncated";
        case Error::bad_string:
            return "bad_string";
        case Error::bad_boolean:
            return "bad_boolean";
        case Error::bad_method:
            return "bad_method";
        case Error::bad_header:
            return "bad_header";
        case Error::too_many_headers:
            return "too_many_headers";
        case Error::too_many_attributes:
            return "too_many_attributes";
        case Error::bad_attribute:
            return "bad_attribute";
        case Error::trailing_bytes:
            return "trailing_bytes";
        case Error::bad_body_chunk:
            return "bad_body_chunk";
    }
    return "unknown";
}

Result frame_packet(std::string_view in, std::size_t max_payload, std::string_view& payload) {
    // The magic can be checked byte by byte: a wrong first byte is an error
    // before the second arrives.
    if (!in.empty() && static_cast<std::uint8_t>(in[0]) != 0x12)
        return fail(Error::bad_magic,
                    "bad magic " + hex(static_cast<std::uint8_t>(in[0]), 2) + " (expected 0x1234)",
                    0);
    if (in.size() >= 2 && static_cast<std::uint8_t>(in[1]) != 0x34)
        return fail(Error::bad_magic,
                    "bad magic " +
                        hex((static_cast<unsigned>(static_cast<std::uint8_t>(in[0])) << 8) |
                                static_cast<std::uint8_t>(in[1]),
                            4) +
                        " (expected 0x1234)",
                    0);
    if (in.size() < kHeaderSize)
        return {};
    const std::size_t length = (static_cast<std::size_t>(static_cast<std::uint8_t>(in[2])) << 8) |
                               static_cast<std::uint8_t>(in[3]);
    if (length > max_payload)
        return fail(Error::packet_too_large,
                    "packet of " + std::to_string(length + kHeaderSize) +
                        " bytes over the packet size of " +
                        std::to_string(max_payload + kHeaderSize) + " (--ajp-packet-size)",
                    2);
    if (in.size() - kHeaderSize < length)
        return {};
    payload = in.substr(kHeaderSize, length);
    Result r;
    r.status = Status::done;
    r.consumed = kHeaderSize + length;
    return r;
}

Result decode_request_packet(std::string_view in, const DecodeLimits& limits, RequestPacket& out) {
    std::string_view payload;
    Result r = frame_packet(in, limits.max_payload, payload);
    if (r.status != Status::done)
        return r;
    if (payload.empty())
        return fail(Error::empty_packet, "empty packet where a request was expected", 2);
    const auto type = static_cast<std::uint8_t>(payload[0]);
    switch (type) {
        case static_cast<std::uint8_t>(Code::forward_request): {
            out.type = Code::forward_request;
            Result f = decode_forward_request(payload, limits, out.request, kHeaderSize);
            if (f.status != Status::done)
                return f;
            return r;
        }
        case static_cast<std::uint8_t>(Code::cping):
        case static_cast<std::uint8_t>(Code::shutdown):
        case static_cast<std::uint8_t>(Code::ping):
            // A single prefix byte (AJPv13 "Shutdown", "CPing").
            if (payload.size() != 1)
                return fail(Error::trailing_bytes,
                            std::to_string(payload.size() - 1) + " bytes after packet type " +
                                std::to_string(type),
                            kHeaderSize + 1);
            out.type = static_cast<Code>(type);
            return r;
        default:
            return fail(Error::unknown_type,
                        "packet type " + std::to_string(type) +
                            " where a request was expected (2 FORWARD_REQUEST, 10 CPING)",
                        kHeaderSize);
    }
}

Result decode_forward_request(std::string_view payload, const DecodeLimits& limits,
                              ForwardRequest& out, std::size_t base) {
    out = ForwardRequest{};
    Reader rd(payload, base);
    const std::uint8_t prefix = rd.byte("prefix code");
    if (rd.ok() && prefix != static_cast<std::uint8_t>(Code::forward_request))
        return fail(Error::unknown_type,
                    "packet type " + std::to_string(prefix) + " is not FORWARD_REQUEST", base);
    const std::size_t method_at = rd.offset();
    const std::uint8_t method = rd.byte("method");
    if (rd.ok()) {
        if (method >= 1 && method < kMethods.size())
            out.method = kMethods[method];
        else if (method != kStoredMethod)
            rd.set(Error::bad_method, "unknown method code " + std::to_string(method), method_at);
    }
    out.protocol = rd.string("protocol");
    out.req_uri = rd.string("req_uri");
    out.remote_addr = rd.string("remote_addr");
    out.remote_host = rd.string("remote_host");
    out.server_name = rd.string("server_name");
    out.server_port = rd.integer("server_port");
    out.is_ssl = rd.boolean("is_ssl");
    const std::size_t count_at = rd.offset();
    const std::uint16_t num_headers = rd.integer("num_headers");
    if (rd.ok() && num_headers > limits.max_headers)
        rd.set(Error::too_many_headers,
               std::to_string(num_headers) + " headers, over the limit of " +
                   std::to_string(limits.max_headers),
               count_at);
    // Each header takes at least 4 bytes (a code and an empty value would be
    // 2 + 3): do not reserve for a count the packet cannot hold.
    if (rd.ok() && num_headers <= rd.left() / 4)
        out.headers.reserve(num_headers);
    for (std::uint16_t i = 0; rd.ok() && i < num_headers; ++i) {
        const std::size_t at = rd.offset();
        std::string name;
        if (rd.peek() == 0xA0) {
            // A coded name: 0xA0 then the code; a named header's length can
            // never start with 0xA0 (it would exceed any packet).
            const std::uint16_t code = rd.integer("header code");
            const unsigned low = code & 0xFFu;
            if (rd.ok() && (low == 0 || low >= kRequestHeaders.size())) {
                rd.set(Error::bad_header, "unknown request header code " + hex(code, 4), at);
                break;
            }
            name = kRequestHeaders[low];
        } else {
            name = rd.string("header name");
            if (rd.ok() && name.empty()) {
                rd.set(Error::bad_header, "empty header name", at);
                break;
            }
        }
        std::string value(rd.string("header value"));
        if (rd.ok())
            out.headers.emplace_back(std::move(name), std::move(value));
    }
    std::size_t attributes = 0;
    bool stored_method = false;
    while (rd.ok()) {
        const std::size_t at = rd.offset();
        const std::uint8_t code = rd.byte("attribute code (or the 0xFF terminator)");
        if (!rd.ok())
            break;
        if (code == kAreDone) {
            if (rd.left() != 0)
                rd.set(Error::trailing_bytes,
                       std::to_string(rd.left()) + " bytes after the request terminator",
                       rd.offset());
            break;
        }
        if (++attributes > limits.max_attributes) {
            rd.set(Error::too_many_attributes,
                   "more than " + std::to_string(limits.max_attributes) + " attributes", at);
            break;
        }
        switch (code) {
            case kContext:
            case kServletPath:
                rd.string("context attribute");  // unused by every front end; ignored
                break;
            case kRemoteUser:
                out.remote_user = rd.string("remote_user");
                break;
            case kAuthType:
                out.auth_type = rd.string("auth_type");
                break;
            case kQueryString:
                out.query_string = rd.string("query_string");
                break;
            case kRoute:
                out.route = rd.string("route");
                break;
            case kSslCert:
                out.ssl_cert = rd.string("ssl_cert");
                break;
            case kSslCipher:
                out.ssl_cipher = rd.string("ssl_cipher");
                break;
            case kSslSession:
                out.ssl_session = rd.string("ssl_session");
                break;
            case kSslKeySize:
                out.ssl_key_size = rd.integer("ssl_key_size");
                break;
            case kSecret:
                out.secret = rd.string("secret");
                break;
            case kStoredMethodAttr: {
                std::string_view m = rd.string("stored method");
                if (rd.ok() && m.empty())
                    rd.set(Error::bad_method, "empty stored method", at);
                if (rd.ok() && method == kStoredMethod) {
                    out.method = m;
                    stored_method = true;
                }
                break;
            }
            case kReqAttribute: {
                std::string name(rd.string("req_attribute name"));
                std::string value(rd.string("req_attribute value"));
                if (rd.ok())
                    out.attributes.emplace_back(std::move(name), std::move(value));
                break;
            }
            default:
                // The length of an unknown attribute is unknown: nothing after
                // it can be read.
                rd.set(Error::bad_attribute, "unknown attribute code " + hex(code, 2), at);
                break;
        }
    }
    if (rd.ok() && method == kStoredMethod && !stored_method)
        rd.set(Error::bad_method, "method code 0xff without a stored method attribute", method_at);
    if (!rd.ok())
        return rd.error();
    Result r;
    r.status = Status::done;
    r.consumed = payload.size();
    return r;
}

Result decode_body_packet(std::string_view in, std::size_t max_payload, std::string_view& data) {
    std::string_view payload;
    Result r = frame_packet(in, max_payload, payload);
    if (r.status != Status::done)
        return r;
    data = {};
    if (payload.empty())
        return r;  // mod_jk's end of body
    if (payload.size() < 2)
        return fail(Error::bad_body_chunk, "body packet of 1 byte has no chunk length",
                    kHeaderSize);
    const std::size_t n = (static_cast<std::size_t>(static_cast<std::uint8_t>(payload[0])) << 8) |
                          static_cast<std::uint8_t>(payload[1]);
    // The chunk fills the rest of the packet; one spare byte (a NUL some
    // implementations add, as after a string) is tolerated, nothing more.
    if (n > payload.size() - 2 || payload.size() - 2 - n > 1)
        return fail(Error::bad_body_chunk,
                    "body chunk length " + std::to_string(n) + " in a packet of " +
                        std::to_string(payload.size()) + " payload bytes",
                    kHeaderSize);
    data = payload.substr(2, n);
    return r;
}

std::string framing_fault(const ForwardRequest& req) {
    // ASCII case-insensitive: coded headers are lowercase, named ones as the
    // front end spelt them.
    std::size_t lengths = 0;
    std::size_t encodings = 0;
    std::size_t hosts = 0;
    for (const auto& [name, value] : req.headers) {
        lengths += iequals(name, "content-length") ? 1 : 0;
        encodings += iequals(name, "transfer-encoding") ? 1 : 0;
        hosts += iequals(name, "host") ? 1 : 0;
    }
    if (lengths > 1)
        return "more than one Content-Length header";
    if (encodings > 1)
        return "more than one Transfer-Encoding header";
    if (lengths > 0 && encodings > 0)
        return "both Content-Length and Transfer-Encoding";
    if (hosts > 1)
        return "more than one Host header";
    return {};
}

}  // namespace postern::ajp
