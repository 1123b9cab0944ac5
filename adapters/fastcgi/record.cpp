#include "fastcgi/record.hpp"

#include <cstring>

namespace postern::fastcgi {

std::string record_type_name(std::uint8_t type) {
    switch (type) {
        case kBeginRequest:
            return "FCGI_BEGIN_REQUEST";
        case kAbortRequest:
            return "FCGI_ABORT_REQUEST";
        case kEndRequest:
            return "FCGI_END_REQUEST";
        case kParams:
            return "FCGI_PARAMS";
        case kStdin:
            return "FCGI_STDIN";
        case kStdout:
            return "FCGI_STDOUT";
        case kStderr:
            return "FCGI_STDERR";
        case kData:
            return "FCGI_DATA";
        case kGetValues:
            return "FCGI_GET_VALUES";
        case kGetValuesResult:
            return "FCGI_GET_VALUES_RESULT";
        case kUnknownType:
            return "FCGI_UNKNOWN_TYPE";
        default:
            return "type " + std::to_string(type);
    }
}

void append_record(std::string& out, std::uint8_t type, std::uint16_t request_id,
                   std::string_view content) {
    const std::size_t length = content.size() > kMaxContent ? kMaxContent : content.size();
    const std::size_t padding = (8 - length % 8) % 8;
    const char header[kHeaderLength] = {
        static_cast<char>(kVersion1),       static_cast<char>(type),
        static_cast<char>(request_id >> 8), static_cast<char>(request_id & 0xff),
        static_cast<char>(length >> 8),     static_cast<char>(length & 0xff),
        static_cast<char>(padding),         0};
    out.append(header, kHeaderLength);
    out.append(content.substr(0, length));
    out.append(padding, '\0');
}

namespace {

void append_length(std::string& out, std::size_t n) {
    if (n <= 127) {
        out += static_cast<char>(n);
        return;
    }
    out += static_cast<char>(((n >> 24) & 0x7f) | 0x80);
    out += static_cast<char>((n >> 16) & 0xff);
    out += static_cast<char>((n >> 8) & 0xff);
    out += static_cast<char>(n & 0xff);
}

}  // namespace

void append_name_value(std::string& out, std::string_view name, std::string_view value) {
    append_length(out, name.size());
    append_length(out, value.size());
    out.append(name);
    out.append(value);
}

namespace {

/// Takes one length of a name-value pair (§3.4) off the front of `in`: one
/// byte up to 127, else four with the top bit set.
bool take_length(std::string_view& in, std::size_t& n) noexcept {
    if (in.empty())
        return false;
    const auto b0 = static_cast<unsigned char>(in[0]);
    if ((b0 & 0x80) == 0) {
        n = b0;
        in.remove_prefix(1);
        return true;
    }
    if (in.size() < 4)
        return false;
    n = (static_cast<std::size_t>(b0 & 0x7f) << 24) |
        (static_cast<std::size_t>(static_cast<unsigned char>(in[1])) << 16) |
        (static_cast<std::size_t>(static_cast<unsigned char>(in[2])) << 8) |
        static_cast<std::size_t>(static_cast<unsigned char>(in[3]));
    in.remove_prefix(4);
    return true;
}

}  // namespace

bool take_name_value(std::string_view& pairs, std::string_view& name,
                     std::string_view& value) noexcept {
    std::string_view in = pairs;
    std::size_t name_length = 0;
    std::size_t value_length = 0;
    if (!take_length(in, name_length) || !take_length(in, value_length) ||
        in.size() < name_length || in.size() - name_length < value_length)
        return false;
    name = in.substr(0, name_length);
    value = in.substr(name_length, value_length);
    pairs = in.substr(name_length + value_length);
    return true;
}

bool take_params(std::string& bytes, std::string& params) {
    // Walked twice: first to find the end of the head (so that nothing is
    // moved unless it is all there), then to move the records kept over
    // the FCGI_PARAMS ones.
    std::size_t end = 0;
    for (std::size_t at = 0;;) {
        if (bytes.size() - at < kHeaderLength)
            return false;
        const auto* h = reinterpret_cast<const unsigned char*>(bytes.data() + at);
        const std::size_t content = (std::size_t{h[4]} << 8) | h[5];
        const std::size_t whole = kHeaderLength + content + h[6];
        if (bytes.size() - at < whole)
            return false;
        at += whole;
        if (h[1] == kParams && content == 0) {
            end = at;
            break;
        }
    }
    std::size_t kept = 0;
    for (std::size_t at = 0; at < end;) {
        const auto* h = reinterpret_cast<const unsigned char*>(bytes.data() + at);
        const std::size_t content = (std::size_t{h[4]} << 8) | h[5];
        const std::size_t whole = kHeaderLength + content + h[6];
        if (h[1] == kParams && content != 0) {
            params.append(bytes, at + kHeaderLength, content);
        } else {
            if (kept != at)
                std::memmove(bytes.data() + kept, bytes.data() + at, whole);
            kept += whole;
        }
        at += whole;
    }
    bytes.erase(kept, end - kept);
    return true;
}

void append_end_request(std::string& out, std::uint16_t request_id, std::uint32_t app_status,
                        std::uint8_t protocol_status) {
    const char body[8] = {static_cast<char>(app_status >> 24),
                          static_cast<char>((app_status >> 16) & 0xff),
                          static_cast<char>((app_status >> 8) & 0xff),
                          static_cast<char>(app_status & 0xff),
                          static_cast<char>(protocol_status),
                          0,
                          0,
                          0};
    append_record(out, kEndRequest, request_id, std::string_view(body, sizeof(body)));
}

}  // namespace postern::fastcgi
