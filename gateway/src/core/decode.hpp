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
