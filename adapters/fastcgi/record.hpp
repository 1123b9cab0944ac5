// Postern FastCGI adapter: the record layer of FastCGI 1.0 (§3.3, §8) —
// its constants and an encoder, the one place record bytes are assembled.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace postern::fastcgi {

// FastCGI 1.0 §8: the record header and the values Postern looks at.
inline constexpr std::size_t kHeaderLength = 8;
inline constexpr std::size_t kMaxContent = 65535;
inline constexpr std::uint8_t kVersion1 = 1;
inline constexpr std::uint8_t kBeginRequest = 1;
inline constexpr std::uint8_t kAbortRequest = 2;
inline constexpr std::uint8_t kEndRequest = 3;
inline constexpr std::uint8_t kParams = 4;
inline constexpr std::uint8_t kStdin = 5;
inline constexpr std::uint8_t kStdout = 6;
inline constexpr std::uint8_t kStderr = 7;
inline constexpr std::uint8_t kData = 8;
inline constexpr std::uint8_t kGetValues = 9;
inline constexpr std::uint8_t kGetValuesResult = 10;
inline constexpr std::uint8_t kUnknownType = 11;
inline constexpr std::uint16_t kNullRequestId = 0;
inline constexpr std::uint8_t kKeepConn = 1;    // FCGI_BeginRequestBody.flags
inline constexpr std::uint16_t kResponder = 1;  // roles, §6
inline constexpr std::uint16_t kAuthorizer = 2;
inline constexpr std::uint8_t kRequestComplete = 0;  // FCGI_EndRequestBody.protocolStatus
inline constexpr std::uint8_t kOverloaded = 2;
inline constexpr std::uint8_t kUnknownRole = 3;

/// "FCGI_PARAMS", "type 12", ...: a record type for log lines.
std::string record_type_name(std::uint8_t type);

/// Encoded size of one name-value pair (FastCGI 1.0 §3.4): a length of
/// 127 or less takes one byte, a longer one four.
constexpr std::uint64_t name_value_size(std::uint64_t name_length,
                                        std::uint64_t value_length) noexcept {
    return (name_length > 127 ? 4 : 1) + (value_length > 127 ? 4 : 1) + name_length + value_length;
}

/// Appends one record (§3.3): the header, `content` (at most kMaxContent
/// bytes; the caller splits longer content) and zero padding to a multiple
/// of 8 bytes, as §3.3 recommends.
void append_record(std::string& out, std::uint8_t type, std::uint16_t request_id,
                   std::string_view content);

/// Appends one name-value pair (§3.4).
void append_name_value(std::string& out, std::string_view name, std::string_view value);

/// Takes the first name-value pair (§3.4) off the front of `pairs` into
/// `name` and `value` (views into `pairs`' bytes). False, and `pairs` left
/// as it was, when it is empty or does not start with a whole pair.
bool take_name_value(std::string_view& pairs, std::string_view& name,
                     std::string_view& value) noexcept;

/// Splits the head of a request out of `bytes`, the request's records from
/// its first byte with no management record among them (as the
/// RecordValidator passes them on): the contents of its non-empty
/// FCGI_PARAMS records, in order, are appended to `params`, and those
/// records are removed from `bytes`, in place. What is left is every other
/// record as it was: FCGI_BEGIN_REQUEST, the empty FCGI_PARAMS that ends
/// the params, and whatever followed it (the body's records). False, with
/// `bytes` and `params` unchanged, when `bytes` does not hold the whole
/// head (the empty FCGI_PARAMS record, padding included).
bool take_params(std::string& bytes, std::string& params);

/// FCGI_END_REQUEST (§5.5) for `request_id` with `app_status` and
/// `protocol_status`.
void append_end_request(std::string& out, std::uint16_t request_id, std::uint32_t app_status,
                        std::uint8_t protocol_status);

}  // namespace postern::fastcgi
