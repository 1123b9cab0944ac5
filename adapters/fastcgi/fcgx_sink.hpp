// Postern FastCGI adapter: a response written as FCGI_STDOUT records through
// libfcgi's output stream.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "postern/response.hpp"

struct FCGX_Stream;

namespace postern::fastcgi {

/// Encodes a response for the FastCGI front end: the CGI header block
/// (Status: line and headers, core/cgi_head.hpp) then the body, both as
/// FCGI_STDOUT content (FastCGI 1.0 §6.2). libfcgi cuts the stream into
/// records of up to 8 KiB and writes a record when its buffer fills or on
/// flush(). The empty FCGI_STDOUT record and FCGI_END_REQUEST are written
/// by FCGX_Finish_r, after the core is done, so a small response goes out
/// in one write(2).
///
/// Every call returns false once a write failed (the front end closed, or
/// SO_SNDTIMEO expired); that is how Response::client_gone() learns it.
/// abort() shuts the socket down at once, so the front end sees the
/// response end without FCGI_END_REQUEST: cut off, never complete; the
/// connection must then be freed with FCGX_Free(request, 0), never
/// FCGX_Finish_r, which would write FCGI_END_REQUEST.
///
/// A detached response (Response::detach, detach_framing()): what libfcgi
/// still buffers is flushed, then the rest of the response is framed by
/// the gateway itself (FCGI_STDOUT records of `request_id`, then the empty
/// FCGI_STDOUT and FCGI_END_REQUEST, §5.5), written by the channel; the
/// libfcgi request must then be freed with FCGX_Free(request, 0), never
/// finished, and the connection closes when the channel ends.
///
/// Threading: the worker thread serving the request. Does not own the stream
/// or the descriptor.
class FcgxSink : public ResponseSink {
  public:
    FcgxSink(FCGX_Stream* out, int fd, std::uint16_t request_id) noexcept
        : out_(out), fd_(fd), request_id_(request_id) {}

    bool send_head(const ResponseHead& head) override;
    bool send_body(std::string_view data) override;
    bool flush() override;
    bool finish() override;
    void abort() override;
    std::unique_ptr<DetachedFraming> detach_framing() override;

    bool aborted() const noexcept { return aborted_; }
    /// A write failed or abort() was called: the response did not complete.
    bool broken() const noexcept { return aborted_ || !ok(); }

  private:
    bool put(std::string_view data);
    /// A large piece of body straight to the socket as FCGI_STDOUT records
    /// of up to 64 KiB, several per writev(2), after what libfcgi buffers:
    /// not copied into libfcgi's 8 KiB buffer and written a record at a time.
    bool put_direct(std::string_view data);
    bool ok() const noexcept;

    FCGX_Stream* out_;
    int fd_;
    std::uint16_t request_id_;
    bool aborted_ = false;
    bool no_body_ = false;
    bool write_failed_ = false;  // put_direct's writev failed
};

}  // namespace postern::fastcgi
