#include "fastcgi/record.hpp"

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
