// Postern FastCGI adapter: the request body, read from libfcgi's FCGI_STDIN
// stream as it arrives.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "fastcgi/record_validator.hpp"
#include "postern/request.hpp"

struct FCGX_Stream;

namespace postern::fastcgi {

/// The body of one FastCGI request: the content of its FCGI_STDIN records,
/// up to the empty one that ends the stream (FastCGI 1.0 §5.3). Nothing is
/// buffered beyond libfcgi's own 8 KiB record buffer, and a body without
/// CONTENT_LENGTH simply ends at the empty record.
///
/// read() returns what libfcgi has buffered (blocking only when nothing is),
/// so a callback sees body bytes as soon as they arrive. It throws
/// RequestError(400) when the front end breaks off: a read timeout
/// (SO_RCVTIMEO, Limits::read_timeout per piece), a closed connection, a
/// malformed record (any record the RecordValidator refuses), or a body whose length differs from
/// CONTENT_LENGTH (§6.2 asks the application to check). The connection is then closed.
///
/// Threading: the worker thread serving the request. Does not own the stream.
class FcgxBody : public BodySource {
  public:
    /// `validator`: the one checking this request's records (read_guard.hpp),
    /// whose reason a refused record is reported with; may be nullptr.
    FcgxBody(FCGX_Stream* in, std::optional<std::uint64_t> content_length,
             const RecordValidator* validator = nullptr) noexcept
        : in_(in), content_length_(content_length), validator_(validator) {}

    std::size_t read(char* buffer, std::size_t size) override;

    /// True once the empty FCGI_STDIN record was read.
    bool complete() const noexcept { return complete_; }

  private:
    [[noreturn]] void fail(int error) const;

    FCGX_Stream* in_;
    std::optional<std::uint64_t> content_length_;
    const RecordValidator* validator_;
    std::uint64_t received_ = 0;
    bool complete_ = false;
};

}  // namespace postern::fastcgi
