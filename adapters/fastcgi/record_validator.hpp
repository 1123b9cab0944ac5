// Postern FastCGI adapter: a strict, resumable check of every record a
// front end sends for one request — FCGI_BEGIN_REQUEST, the FCGI_PARAMS
// stream, the FCGI_STDIN stream — run over the bytes before libfcgi sees
// them, and the answers to the management records that come in between.
//
// Why: libfcgi 2.4.2 trusts what it reads.
//   * ReadParams allocates name length + value length bytes as soon as it
//     has read the two lengths, before any of those bytes arrived (29 bytes
//     make it allocate 1 GiB; with 0x7fffffff lengths the sum overflows,
//     CVE-2025-23016);
//   * ProcessManagementRecord copies each known name of an FCGI_GET_VALUES
//     record into a 64-byte stack buffer without a bound: eight
//     FCGI_MPXS_CONNS names smash its stack and kill the worker.
// So every byte libfcgi reads passes through this validator first (see
// read_guard.hpp): a bad record header, at any point of the request, drops
// the connection before libfcgi sees it, and management records (request
// id 0, §3.3) are taken out of the stream and answered here, so that none
// ever reaches libfcgi.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/decode.hpp"
#include "fastcgi/record.hpp"

namespace postern::fastcgi {

/// What FCGI_GET_VALUES is answered with (§4.1). FCGI_MPXS_CONNS is always
/// 0: Postern serves one request at a time on a connection.
struct ManagementValues {
    std::uint64_t max_conns = 0;  ///< FCGI_MAX_CONNS: --max-connections
    std::uint64_t max_reqs = 0;   ///< FCGI_MAX_REQS: --threads
};

/// Feeds on the bytes of one connection, from the first byte of a request,
/// and says when its head is complete (the empty FCGI_PARAMS record), still
/// incomplete, or malformed; once the head is complete it goes on checking
/// the records of the body, for the whole request.
///
/// Strict by default: what nginx and Apache never send is an error — a
/// version other than FCGI_VERSION_1; a record type a front end never sends
/// (FCGI_STDOUT, FCGI_END_REQUEST, types above 11, ...); a record of another
/// request before FCGI_BEGIN_REQUEST; a second request id on the connection
/// (Postern does not multiplex); a stream record other than FCGI_PARAMS
/// before the params ended, or other than FCGI_STDIN after; FCGI_DATA (a
/// responder has no data stream); an FCGI_BEGIN_REQUEST body that is not 8
/// bytes or an FCGI_ABORT_REQUEST with content; params past the limit.
///
/// One request: filter() stops at its end (the empty FCGI_STDIN record and
/// its padding, ended()), and taken() says how far it read. What follows
/// is the next request's, sent before this one was answered, for the next
/// validator: requests a front end sends back to back are served one after
/// the other whether they arrive in one read or in several. An empty
/// FCGI_ABORT_REQUEST before FCGI_BEGIN_REQUEST is for a request already
/// answered (§5.4) and is dropped, as management records are.
///
/// Management records may come anywhere, between any two records: they are
/// removed from the bytes passed on (filter()), and their answers wait in
/// answers() for the caller to send — FCGI_GET_VALUES gets one
/// FCGI_GET_VALUES_RESULT naming each known variable asked for, once
/// (unknown names are left out); any other type gets FCGI_UNKNOWN_TYPE
/// (§4.2). An FCGI_GET_VALUES body over kMaxGetValuesContent, a malformed
/// one, or more than kMaxManagementRecords of them for one request is an
/// error, so answers stay bounded.
///
/// Pure: no sockets, no allocation proportional to the input. Not
/// thread-safe; one validator per request.
class RecordValidator {
  public:
    static constexpr std::size_t kMaxGetValuesContent = 1024;
    static constexpr std::size_t kMaxManagementRecords = 64;

    /// The decode outcome's vocabulary (core/decode.hpp): need_more, every
    /// byte so far is valid and the head is not complete; done, the head is
    /// complete and the body's records follow (still checked); error, see
    /// result().
    using Status = DecodeStatus;
    enum class ErrorCode {
        none,
        bad_version,          ///< §3.3: version is not FCGI_VERSION_1
        unknown_type,         ///< a record type a front end never sends (§8)
        unexpected_record,    ///< a record that cannot come at this point
        bad_begin_request,    ///< §5.1: request id 0 or a body that is not 8 bytes
        other_request,        ///< a second request id: Postern does not multiplex
        params_too_large,     ///< the name-value pairs claim more than the limit
        split_pair,           ///< the params ended inside a name-value pair
        bad_management,       ///< a malformed or oversized FCGI_GET_VALUES
        too_many_management,  ///< more than kMaxManagementRecords management records
    };

    /// `max_params_bytes`: the most bytes the encoded name-value pairs of one
    /// request may take (Limits::max_params_bytes).
    explicit RecordValidator(std::uint64_t max_params_bytes, ManagementValues values = {}) noexcept;

    /// Checks the next `size` bytes read from the connection and writes
    /// those that are not part of a management record to `out`, in order;
    /// returns how many were written. `out` may be `in` moved back by at
    /// least held_back() bytes (in-place filtering) or a buffer of its own
    /// of held_back() + size bytes: a record header is passed on only once
    /// all 8 of its bytes arrived, since its request id says whether it is
    /// a management record. Once error, nothing more is written or checked.
    std::size_t filter(const char* in, std::size_t size, char* out);

    /// filter() for a caller that does not keep the bytes (tests, fuzzers).
    Status feed(std::string_view bytes);

    /// The request is whole: its empty FCGI_STDIN record, padding included,
    /// was seen. filter() takes nothing more.
    bool ended() const noexcept { return phase_ == Phase::body_done && header_have_ == 0; }
    /// How many of the bytes given to the last filter() (or feed()) it
    /// examined: all of them unless the request ended, or was in error,
    /// before their end. The rest are the next request's.
    std::size_t taken() const noexcept { return taken_; }

    Status status() const noexcept { return status_; }
    /// The outcome so far as every codec gives it (core/decode.hpp):
    /// `consumed` is offset(), the bytes examined.
    DecodeResult<ErrorCode> result() const {
        DecodeResult<ErrorCode> r;
        r.status = status_;
        r.consumed = offset_;
        r.code = code_;
        r.reason = reason_;
        r.offset = error_offset_;
        return r;
    }
    ErrorCode error_code() const noexcept { return code_; }
    /// What was wrong, naming the record and the lengths: "FastCGI params of
    /// 300000 bytes (limit 262144)".
    const std::string& error_reason() const noexcept { return reason_; }
    /// Offset of the offending byte (a record's first byte, a pair's first
    /// length byte) from the first byte fed.
    std::uint64_t error_offset() const noexcept { return error_offset_; }

    /// Answers owed to the front end for the management records seen so
    /// far, as encoded records; the caller sends and clears them.
    std::string& answers() noexcept { return answers_; }
    /// Management records seen (answered or not).
    std::size_t management_records() const noexcept { return management_records_; }

    /// Header bytes held back until their record's header is complete.
    std::size_t held_back() const noexcept;
    /// Bytes of this request's own records seen so far (management records
    /// not counted): 0 while nothing of a request arrived.
    std::uint64_t request_bytes() const noexcept { return request_bytes_; }
    /// The empty FCGI_STDIN record that ends the body was seen (§5.3).
    bool body_complete() const noexcept { return phase_ == Phase::body_done; }

    /// Bytes of the encoded name-value pairs so far, counting the lengths a
    /// pair declared as soon as they were read.
    std::uint64_t params_bytes() const noexcept { return params_bytes_; }
    /// Name-value pairs the front end sent so far.
    std::uint64_t params_count() const noexcept { return params_count_; }
    /// The request id of FCGI_BEGIN_REQUEST, 0 before it.
    std::uint16_t request_id() const noexcept { return request_id_; }
    /// The role FCGI_BEGIN_REQUEST asked for (§5.1), 0 before its body.
    std::uint16_t role() const noexcept { return role_; }
    /// Bytes fed and examined (stops growing at an error).
    std::uint64_t offset() const noexcept { return offset_; }

  private:
    enum class Phase { before_begin, params, body, body_done };
    enum class PairState { name_length, value_length, data };
    enum class Kind { request, management, get_values, stale_abort };

    void on_header();
    void on_management_header(std::uint8_t type);
    void on_management_end();
    /// Counts a record that is not the request's (a management record, a
    /// stale abort) against kMaxManagementRecords; false, in error, past it.
    bool count_management_record();
    void on_content(std::string_view bytes);
    /// A length of four bytes, or one arriving in pieces (§3.4); true once
    /// complete, with the value in `length`.
    bool read_long_length(std::string_view chunk, std::uint64_t base, std::size_t& j,
                          std::uint64_t& length) noexcept;
    void on_begin_body(std::string_view bytes) noexcept;
    void fail(ErrorCode code, std::string reason, std::uint64_t offset);

    std::uint64_t max_params_bytes_;
    ManagementValues values_;
    Status status_ = Status::need_more;
    Phase phase_ = Phase::before_begin;
    ErrorCode code_ = ErrorCode::none;
    std::string reason_;
    std::uint64_t error_offset_ = 0;
    std::uint64_t offset_ = 0;
    std::uint64_t request_bytes_ = 0;
    std::size_t taken_ = 0;

    // The record being read.
    char header_[kHeaderLength] = {};
    std::size_t header_have_ = 0;
    std::uint64_t record_offset_ = 0;
    std::uint8_t record_type_ = 0;
    Kind kind_ = Kind::request;
    bool record_is_params_ = false;  // content goes through the pair parser
    bool record_is_begin_ = false;   // content is FCGI_BeginRequestBody
    std::uint32_t content_left_ = 0;
    std::uint32_t padding_left_ = 0;

    // Management records (§3.3, §4).
    std::string management_content_;  // an FCGI_GET_VALUES body, bounded
    std::string answers_;
    std::size_t management_records_ = 0;

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
    std::uint64_t params_count_ = 0;
};

/// "bad_version", ... for log lines and tests.
std::string_view error_name(RecordValidator::ErrorCode code) noexcept;

/// The answer to one management record (§4): FCGI_GET_VALUES_RESULT for an
/// FCGI_GET_VALUES whose body is `content`, FCGI_UNKNOWN_TYPE otherwise.
/// Returns false when `content` is not a well-formed list of name-value
/// pairs (§3.4), appending nothing.
bool answer_management(std::uint8_t type, std::string_view content, const ManagementValues& values,
                       std::string& out);

}  // namespace postern::fastcgi
