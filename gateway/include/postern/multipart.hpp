// Postern: a multipart/form-data body, read part by part as it arrives.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace postern {

class Request;

/// One part of a multipart body. Obtained from Multipart::next() and valid
/// until the next call to next() or the end of the Multipart; its content
/// is read from the request body as it is asked for, never held whole.
class Part {
  public:
    virtual ~Part() = default;
    /// The name parameter of Content-Disposition ("" when absent).
    virtual std::string_view name() const noexcept = 0;
    /// The filename parameter of Content-Disposition ("" when absent), as
    /// the client sent it: never use it as a path without checking it.
    virtual std::string_view filename() const noexcept = 0;
    /// The part's Content-Type ("text/plain" when absent, RFC 7578 §4.4).
    virtual std::string_view content_type() const noexcept = 0;
    /// A header of the part by name, case-insensitive.
    virtual std::optional<std::string_view> header(std::string_view name) const = 0;
    /// Reads up to n bytes of the part's content; 0 at the end of the
    /// part. Throws RequestError(400) when the body ends before the part's
    /// closing boundary (a client gone mid-part) or is malformed. The end
    /// (0) comes only once the closing boundary and what must follow it
    /// ("--" or CRLF) have arrived, so a part that reached its end is whole.
    /// A RequestError from the body itself (408 too slow, 413 over the
    /// limit) passes through with its status.
    virtual std::size_t read(char* buffer, std::size_t n) = 0;
    /// The rest of the content as a string; RequestError(413) past `limit`.
    virtual std::string text(std::size_t limit = 64 * 1024) = 0;
    /// Writes the rest of the content to `path`: into a temporary file
    /// beside it, renamed to `path` only once the part is complete. When the
    /// part is cut short or malformed, or the disk refuses, the temporary
    /// file is removed and the error thrown (RequestError for the body,
    /// std::system_error for the disk): nothing is left at `path`. Returns
    /// the bytes written.
    ///
    /// The temporary file is ".NAME.XXXXXX" in the directory of `path`
    /// (created O_EXCL, mode 0666 less the umask, as `path` would be); it
    /// is fsync()ed before the rename, so after a crash `path` holds the
    /// whole part or whatever was there before, never a short file. An
    /// existing file at `path` is replaced only by a complete part.
    virtual std::uint64_t save_to(const std::string& path) = 0;
};

/// A streaming reader of a multipart/form-data (RFC 7578) request body:
///
///     postern::Multipart mp(req);
///     while (auto part = mp.next())
///         if (part->filename().empty()) fields.push_back(part->text());
///         else part->save_to(dir + "/upload");
///
/// Memory stays bounded whatever the sizes of the parts: content streams
/// from the request body through a fixed buffer. The constructor throws
/// RequestError(415) when the request is not multipart/form-data and 400
/// when its Content-Type has no boundary; next() throws RequestError(400)
/// on a part without headers, a header block over 16 KiB, more than
/// `max_parts` parts, or a body that ends before the final boundary.
///
/// A Part is complete only once its closing boundary has arrived: a body
/// cut short anywhere (the client gone: the adapter's RequestError passes
/// through), or ending without the final "--BOUNDARY--", throws; it never
/// reads as a clean end. Strict RFC 2046 framing: CRLF line ends (a bare
/// LF is content), a delimiter inside a part's content is refused, up to
/// 16 KiB of preamble and any epilogue are skipped. A Part stays valid
/// after a failure, until next() or the end of the Multipart; every later
/// call throws again.
///
/// The Multipart reads the body through Request::read (64 KiB of buffer):
/// do not read the body otherwise while it is in use.
///
/// Threading: belongs to the callback's thread, as the Request does.
class Multipart {
  public:
    explicit Multipart(Request& req, std::size_t max_parts = 1000);
    ~Multipart();
    Multipart(const Multipart&) = delete;
    Multipart& operator=(const Multipart&) = delete;

    /// The next part, skipping what is left unread of the current one;
    /// nullptr after the final boundary.
    Part* next();

  private:
    class Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace postern
