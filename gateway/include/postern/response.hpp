// Postern: the response a callback builds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "postern/cookie.hpp"
#include "postern/files.hpp"

namespace postern {

class Request;
class Stream;
class Channel;
class DetachedFraming;

using HeaderList = std::vector<std::pair<std::string, std::string>>;

/// The reason phrase of an HTTP status code (RFC 9110 §15), "Unknown" for a
/// code without one. The only place the gateway derives reason phrases.
std::string_view reason_phrase(int status) noexcept;

/// False for a status whose response never has content: 1xx, 204 and 304
/// (RFC 9110 §6.4.1). The gateway sends no Content-Length with one (RFC
/// 9110 §8.6) and drops whatever body the callback writes. The only place
/// the gateway decides this.
bool status_has_body(int status) noexcept;

/// True for a valid header field name (RFC 9110 §5.1: a token).
bool valid_header_name(std::string_view name) noexcept;
/// True for a header value without CR, LF or NUL (RFC 9110 §5.5).
bool valid_header_value(std::string_view value) noexcept;

/// What the core hands an adapter to put on the wire.
struct ResponseHead {
    int status = 200;
    const HeaderList* headers = nullptr;
    /// Set when the length is known (the whole body was buffered, or the
    /// callback declared it); empty for a streamed body of unknown length.
    std::optional<std::uint64_t> content_length;
    /// HEAD: headers only, no body will follow.
    bool head_only = false;
};

/// Implemented by each adapter: encodes a response into its wire format
/// (CGI header block and FCGI_STDOUT records, an HTTP/1.1 status line and
/// chunked or fixed-length body, ...). Called from the worker thread serving
/// the request, in the order send_head, send_body*, finish. Every call
/// returns false once the front end has gone away (a write failed).
class ResponseSink {
  public:
    virtual ~ResponseSink() = default;
    virtual bool send_head(const ResponseHead& head) = 0;
    virtual bool send_body(std::string_view data) = 0;
    /// Sends `count` bytes of the open file `fd` from `offset` as body bytes.
    /// The default reads the file and calls send_body; an adapter writing
    /// the body to a plain socket unframed overrides it with sendfile(2).
    virtual bool send_file(int fd, std::uint64_t offset, std::uint64_t count);
    /// Pushes what the adapter buffered to the front end now.
    virtual bool flush() = 0;
    /// The response is complete.
    virtual bool finish() = 0;
    /// The response cannot complete (the callback threw after the head was
    /// sent): end it so that the front end sees it cut off, never complete.
    virtual void abort() = 0;
    /// A detached response (Response::detach): the framing of this
    /// protocol for what is written after the callback returned, from any
    /// thread (core/detached.hpp); called after everything sent through
    /// this sink was flushed. nullptr (the default) where the protocol
    /// cannot stream past its callback (CGI).
    virtual std::unique_ptr<DetachedFraming> detach_framing();
};

/// `text` with the five characters HTML gives meaning to (& < > " ')
/// escaped, so that request data shows as text in an element or a quoted
/// attribute value. Pure; thread-safe.
std::string html_escape(std::string_view text);

/// The response a callback builds: status, headers, body.
///
/// Headers are validated when set: a name that is not a token, or a value
/// with CR, LF or NUL, throws std::invalid_argument naming it, as does a
/// hop-by-hop header (Connection, Transfer-Encoding, ...) that the gateway
/// manages itself. The reason phrase always follows the status code.
///
/// Writes are buffered. If the callback returns without flushing, the
/// whole body goes out with a Content-Length. flush() sends the head and
/// what is buffered at once; from then on the body streams (with the
/// Content-Length the callback set, otherwise with the protocol's streamed
/// framing). A buffer that grows past the gateway's limit is flushed by
/// itself, so a large body never sits in memory. For HEAD the head is sent
/// with the body's length and the body is dropped.
///
/// When the front end has gone away, write() and flush() return false and
/// client_gone() is true, so a long callback can stop early.
///
/// Threading: belongs to the worker thread running the callback.
class Response {
  public:
    Response(ResponseSink& sink, bool head_only, std::size_t buffer_limit = 64 * 1024);

    /// Sets the final status, 200 to 999. A code below 200 throws
    /// std::invalid_argument, as a bad header does: a 1xx is an interim
    /// response (RFC 9110 §15.2), which a client would take as such and then
    /// wait for the final one; 100 Continue is the gateway's to send.
    /// Throws std::logic_error once the head was sent.
    void status(int code);
    int status() const noexcept { return status_; }
    /// Adds a header (a second call with the same name adds a second copy).
    void header(std::string_view name, std::string_view value);
    /// Replaces every copy of a header.
    void set_header(std::string_view name, std::string_view value);
    /// The first value of a header set so far.
    std::optional<std::string_view> get_header(std::string_view name) const;
    const HeaderList& headers() const noexcept { return headers_; }

    /// Appends body bytes; false once the front end has gone away.
    bool write(std::string_view data);
    /// Sends the head and everything buffered now; false once the front end
    /// has gone away.
    bool flush();
    bool client_gone() const noexcept { return gone_; }
    bool headers_sent() const noexcept { return committed_; }
    /// Body bytes passed to the adapter so far.
    std::uint64_t body_bytes_sent() const noexcept { return sent_; }

    /// Sends `count` bytes of the open file `fd` from `offset` as (part of)
    /// the body, through the kernel's sendfile where the adapter can; the
    /// head goes first, with the declared Content-Length if any. The caller
    /// keeps the descriptor. False once the front end has gone away; throws
    /// std::system_error when the file cannot be read.
    bool write_file(int fd, std::uint64_t offset, std::uint64_t count);

    // The application toolkit (see README "Writing a callback").

    /// Adds a Set-Cookie header (RFC 6265 §4.1.1: `name=value; Max-Age=N;
    /// Domain=d; Path=p; Secure; HttpOnly; SameSite=Lax`, the attributes
    /// that are set). Several cookies are several headers, over every
    /// protocol, never one merged header. A max_age of 0 or less is sent
    /// as Max-Age=0 (the cookie is deleted).
    ///
    /// Throws std::invalid_argument, adding nothing, for what a browser
    /// would misread or drop without a word: a name that is not a token; a
    /// value with a byte outside cookie-octet (space, '"', ',', ';', '\',
    /// controls, non-ASCII; a value wrapped in one pair of double quotes is
    /// fine), which the caller must encode first; a path not starting with
    /// '/' or holding ';', controls or non-ASCII; a domain that is not a
    /// host name (letters, digits, '-', '.'); SameSite=None without secure;
    /// a "__Secure-" name without secure, or a "__Host-" name without
    /// secure, with a domain or with a path other than "/". Throws
    /// std::logic_error once the head was sent.
    void set_cookie(const Cookie& cookie);
    /// A JSON body: sets the status, replaces Content-Type with
    /// application/json (RFC 8259 §11: no charset) and writes `text`, which
    /// the caller has encoded (it is not checked). Throws
    /// std::invalid_argument for an invalid status (as status() does) before
    /// changing anything, std::logic_error once the head was sent. Meant as
    /// the whole body: write nothing before it.
    void json(std::string_view text, int status = 200);
    /// A redirect to `location` (absolute, or a path; the caller encodes it
    /// as a URI and makes sure it is one it means to send a client to, not
    /// "//elsewhere" from user input): sets the status, replaces Location
    /// and Content-Type (text/html), and writes a short HTML body with the
    /// link, its &<>"' escaped (RFC 9110 §15.4). Throws
    /// std::invalid_argument, changing nothing, for a status other than
    /// 301, 302, 303, 307 or 308, an empty location, or one with a control
    /// character (CR, LF, NUL, TAB, DEL); std::logic_error once the head was
    /// sent. Meant as the whole body: write nothing before it.
    void redirect(std::string_view location, int status = 302);
    /// Answers with the file at `path` (the whole response: call it instead
    /// of write(), before anything was written):
    ///  - Content-Type (FileOptions), Content-Disposition for a
    ///    download_name, Last-Modified (the file's mtime, never later than
    ///    now), Accept-Ranges: bytes, and Content-Length;
    ///  - GET and HEAD with If-Modified-Since at or after Last-Modified
    ///    (RFC 9110 §13.1.3; ignored when malformed or beside If-None-Match):
    ///    304, no body;
    ///  - GET with a Range of one byte range ("bytes=a-b", "bytes=a-",
    ///    "bytes=-n"): 206 with Content-Range; a range starting at or past
    ///    the end, or "bytes=-0": 416 with "Content-Range: bytes */size".
    ///    Several ranges, a malformed Range, an If-Range that is not the
    ///    file's Last-Modified (no ETag is sent), an empty file: the whole
    ///    file, 200 (RFC 9110 §14.2 lets a server ignore Range);
    ///  - HEAD: the same head as GET, without reading the file (RFC 9110
    ///    §14.2 defines Range for GET only, so HEAD ignores it);
    ///  - any other method: the whole file, 200, without conditions or
    ///    ranges (the callback chose to answer with the file; a static-file
    ///    route refuses other methods itself, as Router does).
    /// A status the callback set before (not 200) is kept and the whole file
    /// sent with it, without conditions or ranges (an error page from a
    /// file). The body goes out through write_file(): the kernel's sendfile
    /// where the adapter writes to a plain socket (HTTP, SCGI, uwsgi),
    /// read and framed elsewhere (FastCGI, AJP). The descriptor is closed
    /// before send_file returns, on every path.
    ///
    /// Failure: RequestError 404 when the file does not exist or is not a
    /// regular file (a directory, a FIFO: never opened for reading in a way
    /// that blocks), 403 when it cannot be opened (EACCES); other open
    /// errors throw std::system_error (a 500). std::logic_error when the
    /// body was already started. A file shrinking while it is sent throws
    /// after the head went out: the response is cut off, never completed
    /// with wrong bytes. The caller must have checked `path` is one it may
    /// serve: use path_under() for a path taken from the request.
    void send_file(const Request& req, const std::string& path, const FileOptions& options = {});

    /// Hands the response over to a Stream and lets the callback return
    /// while it goes on: the worker thread is free, the connection waits in
    /// the reactor, and the Stream writes from any thread (postern/stream.hpp).
    /// The status and headers set so far, and what was written, go out with
    /// the stream's first write (already flushed ones stay sent). The
    /// request body is read to its end before the connection is handed over
    /// (read it first if it matters). After detach() this Response takes no
    /// more writes (std::logic_error).
    ///
    /// Throws std::logic_error when the response already finished or was
    /// detached, or when the protocol cannot stream past its callback (CGI).
    std::shared_ptr<Stream> detach();
    bool detached() const noexcept { return channel_ != nullptr; }

    // Used by the gateway.

    /// Adds a header that header() refuses because the gateway manages it
    /// (Upgrade on WebSocket::accept's 426 answer, RFC 9110 §15.5.22); the
    /// name and value are checked as header() checks them.
    void gateway_header(std::string_view name, std::string_view value);
    /// detach() for WebSocket::accept: a head of `status` (101) and
    /// `headers` that the callback cannot set, sent as soon as the callback
    /// returns, then raw bytes; `max_queued` bounds the queue.
    std::shared_ptr<Channel> detach_channel(int status, HeaderList headers, std::size_t max_queued);
    /// The channel of a detached response, nullptr otherwise.
    const std::shared_ptr<Channel>& channel() const noexcept { return channel_; }

    // Used by the core once the callback has returned.
    /// Sends whatever remains; returns false if the front end went away.
    bool finish();
    /// Ends a response that cannot complete.
    void abort();
    /// Drops headers and body so an error page can replace them; only
    /// before the head was sent.
    void reset();

  private:
    bool commit(std::optional<std::uint64_t> length);
    bool send_buffer();
    /// send_buffer(), then the sink's flush or finish.
    bool send_buffer_then(bool (ResponseSink::*step)());

    ResponseSink& sink_;
    bool head_only_;
    std::size_t buffer_limit_;
    int status_ = 200;
    HeaderList headers_;
    std::string buffer_;
    bool committed_ = false;
    bool gone_ = false;
    bool finished_ = false;
    std::optional<std::uint64_t> declared_length_;
    std::uint64_t sent_ = 0;
    std::shared_ptr<Channel> channel_;
};

}  // namespace postern
