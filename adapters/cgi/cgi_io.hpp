// Postern CGI build: the request body from standard input and the response
// to standard output (RFC 3875 §4.2, §6).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "postern/request.hpp"
#include "postern/response.hpp"

namespace postern::cgi {

/// The body on descriptor `fd`: exactly CONTENT_LENGTH bytes when the host
/// gave one (RFC 3875 §4.2: the script must not read more), otherwise up to
/// the end of file (a chunked upload that the host passes on as it reads
/// it). An end of file before CONTENT_LENGTH bytes is a RequestError(400).
class FdBody final : public BodySource {
  public:
    FdBody(int fd, std::optional<std::uint64_t> length) : fd_(fd), left_(length) {}
    std::size_t read(char* buffer, std::size_t size) override;

  private:
    int fd_;
    std::optional<std::uint64_t> left_;
    bool eof_ = false;
};

/// The response on descriptor `fd`: the CGI header block (cgi_head(), with
/// "Status:"), then the body; flush() writes what is buffered. abort()
/// stops writing: the program then exits non-zero, and a response with a
/// Content-Length reads as cut short.
class FdSink final : public ResponseSink {
  public:
    /// `head_request`: the request is HEAD (no body goes out, whatever the
    /// callback writes).
    FdSink(int fd, bool head_request) : fd_(fd), head_request_(head_request) {}
    bool send_head(const ResponseHead& head) override;
    bool send_body(std::string_view data) override;
    bool flush() override;
    bool finish() override;
    void abort() override;
    bool aborted() const noexcept { return aborted_; }

  private:
    bool write_out();

    int fd_;
    bool head_request_;
    std::string out_;
    bool no_body_ = false;
    bool gone_ = false;
    bool aborted_ = false;
};

}  // namespace postern::cgi
