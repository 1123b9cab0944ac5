// Postern FastCGI adapter: a strict, resumable check of a request's head
// (FCGI_BEGIN_REQUEST and the FCGI_PARAMS stream), run over the bytes before
// libfcgi parses them.
//
// Why: libfcgi's ReadParams allocates name length + value length bytes as
// soon as it has read the two lengths, before any of those bytes arrived
// (29 bytes make it allocate 1 GiB, checked with libfcgi 2.4.2-2+deb12u1;
// with 0x7fffffff lengths the sum overflows, CVE-2025-23016). Postern's rule is that a length read
// from the wire is checked against a named limit before memory is allocated, so every byte libfcgi
// reads for a head passes through this validator first (see read_guard.hpp) and the connection is
// dropped on the first bad one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace postern::fastcgi {

// FastCGI 1.0 §8: the record header and the values Postern looks at.
inline constexpr std::size_t kHeaderLength = 8;
inline constexpr std::uint8_t kVersion1 = 1;
inline constexpr std::uint8_t kBeginRequest = 1;
inline constexpr std::uint8_t kAbortRequest = 2;
inline constexpr std::uint8_t kEndRequest = 3;
inline constexpr std::uint8_t kParams = 4;
inline constexpr std::uint8_t kStdin = 5;
inline constexpr std::uint8_t kStdout = 6;
inline constexpr std::uint8_t kStderr = 7;
inline constexpr std::uint8_t kGetValues = 9;
inline constexpr std::uint16_t kNullRequestId = 0;
inline constexpr std::uint8_t kKeepConn = 1;         // FCGI_BeginRequestBody.flags
inline constexpr std::uint16_t kResponder = 1;       // roles, §6
inline constexpr std::uint8_t kRequestComplete = 0;  // FCGI_EndRequestBody.protocolStatus
inline constexpr std::uint8_t kUnknownRole = 3;

/// "FCGI_PARAMS", "type 12", ...: a record type for log lines.
std::string record_type_name(std::uint8_t type);

/// Encoded size of one name-value pair (FastCGI 1.0 §3.4): a length of
/// 127 or less takes one byte, a longer one four.
constexpr std::uint64_t name_value_size(std::uint64_t name_length,
                                        std::uint64_t value_length) noexcept {
    return (name_length > 127 ? 4 : 1) + (value_length > 127 ? 4 : 1) + name_length + value_length;
}

/// Feeds on the bytes of one connection, from the first byte of a request,
/// and says when the head is complete (the empty FCGI_PARAMS record that ends
/// the name-value stream was seen), still incomplete, or malformed.
///
/// Strict by default: what nginx and Apache never send is an error (a record
/// of another request before FCGI_BEGIN_REQUEST, a second request id on the
/// connection, a stream record other than FCGI_PARAMS before the params
/// ended). Management records (request id 0, §3.3) may come anywhere; libfcgi
/// answers them. The role is not checked here (the connection refuses other
/// roles with FCGI_UNKNOWN_ROLE).
///
/// Pure: no sockets, no allocation proportional to the input. Not
/// thread-safe; one validator per request head.
class HeadValidator {
  public:
    enum class Status {
        need_more,  ///< every byte so far is valid; the head is not complete
        done,       ///< the head is complete; later bytes belong to the body
        error,      ///< see error_code(), error_reason(), error_offset()
    };
    enum class ErrorCode {
        none,
        bad_version,        ///< §3.3: version is not FCGI_VERSION_1
        unexpected_record,  ///< a record that cannot come at this point
        bad_begin_request,  ///< §5.1: request id 0 or a body that is not 8 bytes
        other_request,      ///< a second request id: Postern does not multiplex
        params_too_large,   ///< the name-value pairs claim more than the limit
        split_pair,         ///< the params ended inside a name-value pair
    };

    /// `max_params_bytes`: the most bytes the encoded name-value pairs of one
    /// request may take (Limits::max_params_bytes).
    explicit HeadValidator(std::uint64_t max_params_bytes) noexcept;

    /// Checks the next bytes read from the connection. Once done or error,
    /// further input is ignored and the status stays.
    Status feed(std::string_view bytes) noexcept;

    Status status() const noexcept { return status_; }
    ErrorCode error_code() const noexcept { return code_; }
    /// What was wrong, naming the record and the lengths: "FastCGI params of
    /// 300000 bytes (limit 262144)".
    const std::string& error_reason() const noexcept { return reason_; }
    /// Offset of the offending byte (a record's first byte, a pair's first
    /// length byte) from the first byte fed.
    std::uint64_t error_offset() const noexcept { return error_offset_; }

    /// Bytes of the encoded name-value pairs so far, counting the lengths a
    /// pair declared as soon as they were read.
    std::uint64_t params_bytes() const noexcept { return params_bytes_; }
    /// The request id of FCGI_BEGIN_REQUEST, 0 before it.
    std::uint16_t request_id() const noexcept { return request_id_; }
    /// The role FCGI_BEGIN_REQUEST asked for (§5.1), 0 before its body.
    std::uint16_t role() const noexcept { return role_; }
    /// Bytes fed and examined (stops growing once done or error).
    std::uint64_t offset() const noexcept { return offset_; }

  private:
    enum class Phase { before_begin, params, done };
    enum class PairState { name_length, value_length, data };

    void on_header() noexcept;
    void on_content(std::string_view bytes) noexcept;
    /// A length of four bytes, or one arriving in pieces (§3.4); true once
    /// complete, with the value in `length`.
    bool read_long_length(std::string_view chunk, std::uint64_t base, std::size_t& j,
                          std::uint64_t& length) noexcept;
    void on_begin_body(std::string_view bytes) noexcept;
    void fail(ErrorCode code, std::string reason, std::uint64_t offset) noexcept;

    std::uint64_t max_params_bytes_;
    Status status_ = Status::need_more;
    Phase phase_ = Phase::before_begin;
    ErrorCode code_ = ErrorCode::none;
    std::string reason_;
    std::uint64_t error_offset_ = 0;
    std::uint64_t offset_ = 0;

    // The record being read.
    unsigned char header_[kHeaderLength] = {};
    std::size_t header_have_ = 0;
    std::uint64_t record_offset_ = 0;
    std::uint8_t record_type_ = 0;
    bool record_is_params_ = false;  // content goes through the pair parser
    bool record_is_begin_ = false;   // content is FCGI_BeginRequestBody
    std::uint32_t content_left_ = 0;
    std::uint32_t padding_left_ = 0;

    // The name-value stream (§3.4); a pair may span records.
    std::uint16_t request_id_ = 0;
    std::uint16_t role_ = 0;
    std::size_t begin_have_ = 0;
    PairState pair_state_ = PairState::name_length;
    unsigned char length_bytes_[4] = {};
    std::size_t length_have_ = 0;
    std::size_t length_need_ = 1;
    std::uint64_t name_length_ = 0;
    std::uint64_t pair_offset_ = 0;
    std::uint64_t data_left_ = 0;
    std::uint64_t params_bytes_ = 0;
};

}  // namespace postern::fastcgi
