// Postern core: the one outcome of every decoder (STYLE 2, llhttp's single
// errno with a reason and an error position): done with the bytes consumed,
// need_more (a partial unit is not an error), or error with a code, a reason
// and the offset of the offending byte, counted from the first byte passed
// in. The code is the codec's own error enum (AJP, SCGI, uwsgi) or the HTTP
// status to answer with (the HTTP codec). Pure data; no allocation but the
// reason.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace postern {

enum class DecodeStatus { done, need_more, error };

template <class Code>
struct DecodeResult {
    DecodeStatus status = DecodeStatus::need_more;
    /// done: bytes of the unit decoded (the protocol says what a unit is).
    std::size_t consumed = 0;
    /// error: what kind of fault.
    Code code{};
    /// error: what is wrong, for the log line.
    std::string reason;
    /// error: offset of the offending byte.
    std::size_t offset = 0;
};

/// The error outcome: `code`, `reason`, at `offset`.
template <class Code>
DecodeResult<Code> decode_error(Code code, std::string reason, std::size_t offset) {
    DecodeResult<Code> r;
    r.status = DecodeStatus::error;
    r.code = code;
    r.reason = std::move(reason);
    r.offset = offset;
    return r;
}

/// What kind of fault a refused decode is: the protocol's codec sorts its
/// error codes into these (its own rules), the core maps them to one answer.
enum class Fault {
    malformed,       ///< the bytes break the protocol
    head_too_large,  ///< a head over a limit (bytes, fields, params, a packet)
    body_too_large,  ///< a body over --max-body-bytes
    too_slow,        ///< not whole within --read-timeout / --min-body-rate
};

/// The one mapping from a refused decode to what the front end is told,
/// for every protocol: the status an HTTP-speaking protocol answers (HTTP,
/// SCGI, uwsgi), and the status counted and logged where the protocol has
/// no answer and the connection is closed (AJP13 before a request, FastCGI
/// before a whole head; App::refuse_closing).
constexpr int fault_status(Fault fault) noexcept {
    switch (fault) {
        case Fault::malformed:
            return 400;
        case Fault::head_too_large:
            return 431;
        case Fault::body_too_large:
            return 413;
        case Fault::too_slow:
            return 408;
    }
    return 400;
}

/// The one way a refused decode is told in a log line: "<reason>
/// (<code name> at byte <offset>)".
inline std::string describe_fault(std::string_view reason, std::string_view code_name,
                                  std::uint64_t offset) {
    std::string out(reason);
    out += " (";
    out += code_name;
    out += " at byte ";
    out += std::to_string(offset);
    out += ')';
    return out;
}

}  // namespace postern
