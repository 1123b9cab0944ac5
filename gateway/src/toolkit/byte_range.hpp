// Postern toolkit: the Range request header (RFC 9110 §14.1-14.2) read
// against a file's size, for Response::send_file. Pure: no I/O.
#pragma once

#include <cstdint>
#include <string_view>

namespace postern::toolkit {

/// What a Range header asks of a representation of `size` bytes.
struct ByteRange {
    enum class Kind {
        /// Serve the whole file (200): no Range, a malformed one (RFC 9110
        /// §14.2: a server ignores what it cannot parse), another unit,
        /// several ranges, or an empty file.
        whole,
        /// One satisfiable range: bytes [first, last] (206).
        one,
        /// One range none of whose bytes exist: 416 with "bytes */size".
        unsatisfiable,
    } kind = Kind::whole;
    std::uint64_t first = 0;
    std::uint64_t last = 0;  ///< inclusive

    std::uint64_t length() const noexcept { return last - first + 1; }
};

/// Reads `header` (the Range field value) for a file of `size` bytes:
/// "bytes=a-b", "bytes=a-" and "bytes=-n" (a suffix: the last n bytes, the
/// whole file when n >= size), the unit case-insensitive, optional spaces
/// around the set. A last-pos past the end is clamped to it; a first-pos at
/// or past the end, or a suffix of 0 ("bytes=-0"), is unsatisfiable. A
/// range with last-pos below first-pos, a number of more than 19 digits or
/// any other byte makes the header malformed: the whole file.
ByteRange parse_byte_range(std::string_view header, std::uint64_t size) noexcept;

}  // namespace postern::toolkit
