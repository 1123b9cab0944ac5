#include "uwsgi/codec.hpp"

#include <iterator>
#include <stdexcept>
#include <unordered_set>

#include "core/decimal.hpp"
#include "core/log_escape.hpp"

namespace postern::uwsgi {

namespace {

constexpr std::size_t kMaxContentLengthDigits = 19;

constexpr auto error = &decode_error<Error>;

std::size_t u16le(std::string_view s, std::size_t at) noexcept {
    return static_cast<std::size_t>(static_cast<unsigned char>(s[at])) |
           (static_cast<std::size_t>(static_cast<unsigned char>(s[at + 1])) << 8);
}

void put_u16le(std::string& out, std::size_t n) {
    out += static_cast<char>(n & 0xFF);
    out += static_cast<char>((n >> 8) & 0xFF);
}

std::string_view modifier_name(unsigned m) noexcept {
    // The uWSGI packet types most likely to reach a wrong port.
    switch (m) {
        case 5:
            return " (PSGI)";
        case 6:
            return " (Lua WSAPI)";
        case 7:
            return " (Rack)";
        case 9:
            return " (CGI)";
        case 14:
            return " (PHP)";
        case 100:
            return " (uWSGI ping)";
        case 111:
            return " (uWSGI management)";
        default:
            return "";
    }
}

}  // namespace

std::string_view error_name(Error e) noexcept {
    // In the order of the enumerators.
    static constexpr std::string_view kNames[] = {
        "none",       "bad_modifier1",   "bad_modifier2",      "header_too_large", "truncated",
        "empty_name", "too_many_params", "bad_content_length", "duplicate_name",
    };
    static_assert(std::size(kNames) == static_cast<std::size_t>(Error::duplicate_name) + 1);
    const auto i = static_cast<std::size_t>(e);
    return i < std::size(kNames) ? kNames[i] : "unknown";
}

Result decode_request(std::string_view in, const DecodeLimits& limits, Request& out) {
    // The first byte is enough to refuse another packet type.
    if (!in.empty() && in[0] != 0) {
        const unsigned m = static_cast<unsigned char>(in[0]);
        return error(Error::bad_modifier1,
                     "uwsgi modifier1 " + std::to_string(m) + std::string(modifier_name(m)) +
                         " is not supported; Postern takes modifier1 0 (WSGI-style variables, "
                         "nginx uwsgi_modifier1 0)",
                     0);
    }
    if (in.size() < kHeaderSize)
        return Result{};
    const std::size_t datasize = u16le(in, 1);
    if (in[3] != 0)
        return error(Error::bad_modifier2,
                     "uwsgi modifier2 " + std::to_string(static_cast<unsigned char>(in[3])) +
                         " with modifier1 0; Postern takes modifier2 0",
                     3);
    if (datasize > limits.max_header_bytes)
        return error(Error::header_too_large,
                     "uwsgi variables block of " + std::to_string(datasize) +
                         " bytes is over the limit of " + std::to_string(limits.max_header_bytes) +
                         " (--max-params-bytes)",
                     1);
    if (in.size() - kHeaderSize < datasize)
        return Result{};

    const std::string_view block = in.substr(kHeaderSize, datasize);
    Request req;
    req.modifier2 = 0;
    std::unordered_set<std::string_view> seen;
    std::size_t at = 0;
    while (at < block.size()) {
        const std::size_t offset = kHeaderSize + at;
        if (req.params.size() == limits.max_params)
            return error(Error::too_many_params,
                         "uwsgi packet has more than " + std::to_string(limits.max_params) +
                             " variables (--max-params)",
                         offset);
        // Each length is compared with what is left of the block before use.
        if (block.size() - at < 2)
            return error(Error::truncated, "uwsgi key length runs past the variables block",
                         offset);
        const std::size_t key_len = u16le(block, at);
        at += 2;
        if (key_len == 0)
            return error(Error::empty_name, "uwsgi variable with an empty key", offset);
        if (block.size() - at < key_len)
            return error(Error::truncated, "uwsgi key runs past the variables block", offset);
        const std::string_view key = block.substr(at, key_len);
        at += key_len;
        if (block.size() - at < 2)
            return error(Error::truncated, "uwsgi value length runs past the variables block",
                         kHeaderSize + at);
        const std::size_t value_len = u16le(block, at);
        at += 2;
        if (block.size() - at < value_len)
            return error(Error::truncated, "uwsgi value runs past the variables block",
                         kHeaderSize + at - 2);
        const std::string_view value = block.substr(at, value_len);
        // A repeated header is the client's (joined by the core); any other
        // variable sent twice leaves two meanings for one name (CONTENT_LENGTH
        // "5" then "": the body framed with one, the callback shown the other).
        // Host is the one header HTTP refuses twice (RFC 9112 §3.2).
        const bool header = key.size() > 5 && key.substr(0, 5) == "HTTP_" && key != "HTTP_HOST";
        if (!header && !seen.insert(key).second)
            return error(Error::duplicate_name, "uwsgi packet sends " + log_escape(key) + " twice",
                         offset);
        if (key == "CONTENT_LENGTH" && !value.empty()) {
            // An empty CONTENT_LENGTH is no body (Apache sends none, nginx
            // none for a body-less request).
            if (value.size() > kMaxContentLengthDigits)
                return error(Error::bad_content_length,
                             "uwsgi CONTENT_LENGTH is longer than 19 digits", kHeaderSize + at);
            if (const std::size_t k = leading_digits(value); k < value.size())
                return error(Error::bad_content_length,
                             "uwsgi CONTENT_LENGTH is not a decimal number", kHeaderSize + at + k);
            req.content_length = *parse_length(value);
        }
        at += value_len;
        req.params.emplace_back(key, value);
    }
    out = std::move(req);
    Result r;
    r.status = Status::done;
    r.consumed = kHeaderSize + datasize;
    return r;
}

std::string encode_request(const std::vector<std::pair<std::string, std::string>>& params,
                           std::uint8_t modifier1, std::uint8_t modifier2) {
    std::string block;
    for (const auto& [key, value] : params) {
        if (key.size() > kMaxDataSize || value.size() > kMaxDataSize)
            throw std::length_error("uwsgi key or value longer than 65535 bytes");
        put_u16le(block, key.size());
        block += key;
        put_u16le(block, value.size());
        block += value;
    }
    if (block.size() > kMaxDataSize)
        throw std::length_error("uwsgi variables block longer than 65535 bytes");
    std::string out;
    out += static_cast<char>(modifier1);
    put_u16le(out, block.size());
    out += static_cast<char>(modifier2);
    return out + block;
}

}  // namespace postern::uwsgi
