#include "fastcgi/fcgx_sink.hpp"

#include <fcgiapp.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>

#include "core/cgi_head.hpp"
#include "core/detached.hpp"
#include "core/send_all.hpp"
#include "fastcgi/record.hpp"

namespace postern::fastcgi {

namespace {

/// Appends `data` as FCGI_STDOUT records of at most kMaxContent bytes.
void append_stdout(std::string& out, std::uint16_t request_id, std::string_view data) {
    while (!data.empty()) {
        const std::size_t n = std::min(data.size(), kMaxContent);
        append_record(out, kStdout, request_id, data.substr(0, n));
        data.remove_prefix(n);
    }
}

/// A detached FastCGI response (core/detached.hpp): the CGI head and the
/// body as FCGI_STDOUT records (FastCGI 1.0 §6.2), then the empty
/// FCGI_STDOUT and FCGI_END_REQUEST (§5.5) that libfcgi's FCGX_Finish_r
/// would have written. Each write() becomes whole records at once, so the
/// front end passes it on without waiting for a buffer to fill.
class FcgxDetachedFraming final : public DetachedFraming {
  public:
    FcgxDetachedFraming(int fd, std::uint16_t request_id, bool no_body) noexcept
        : fd_(fd), request_id_(request_id), no_body_(no_body) {}

    int fd() const noexcept override { return fd_; }

    void head(const ResponseHead& head, std::string& out) override {
        // RFC 9110 §6.4.1: as FcgxSink::send_head.
        no_body_ = head.head_only || !status_has_body(head.status);
        append_stdout(out, request_id_, cgi_head(head));
    }

    void body(std::string_view data, std::string& out) override {
        if (!no_body_)
            append_stdout(out, request_id_, data);
    }

    void end(std::string& out) override {
        append_record(out, kStdout, request_id_, {});
        append_end_request(out, request_id_, 0, kRequestComplete);
    }

  private:
    int fd_;
    std::uint16_t request_id_;
    bool no_body_;
};

}  // namespace

bool FcgxSink::ok() const noexcept {
    return !aborted_ && !write_failed_ && FCGX_GetError(out_) == 0;
}

namespace {

// A body piece this large goes out by put_direct(); a smaller one is
// gathered in libfcgi's buffer (a small response: one write(2) in all).
constexpr std::size_t kDirect = 16 * 1024;
// Content per record: the largest multiple of 8 (FastCGI 1.0 §3.3: no
// padding needed) within the 16-bit length.
constexpr std::size_t kDirectRecord = 65528;
constexpr int kRecordsPerWrite = 16;

}  // namespace

bool FcgxSink::put_direct(std::string_view data) {
    // What libfcgi holds (the head, small writes) goes first. FCGX_FFlush
    // writes no record when its buffer is empty.
    FCGX_FFlush(out_);
    if (!ok())
        return false;
    while (!data.empty()) {
        unsigned char headers[kRecordsPerWrite][kHeaderLength];
        iovec iov[2 * kRecordsPerWrite];
        int count = 0;
        for (int r = 0; r < kRecordsPerWrite && !data.empty(); ++r) {
            const std::size_t n = std::min(data.size(), kDirectRecord);
            unsigned char* h = headers[r];
            h[0] = kVersion1;
            h[1] = kStdout;
            h[2] = static_cast<unsigned char>(request_id_ >> 8);
            h[3] = static_cast<unsigned char>(request_id_ & 0xff);
            h[4] = static_cast<unsigned char>(n >> 8);
            h[5] = static_cast<unsigned char>(n & 0xff);
            h[6] = 0;  // paddingLength
            h[7] = 0;
            iov[count++] = {h, kHeaderLength};
            iov[count++] = {const_cast<char*>(data.data()), n};
            data.remove_prefix(n);
        }
        int first = 0;
        while (first < count) {
            msghdr msg{};
            msg.msg_iov = iov + first;
            msg.msg_iovlen = static_cast<std::size_t>(count - first);
            const ssize_t w = send_waiting(fd_, msg, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                // The front end went away, or SO_SNDTIMEO expired.
                write_failed_ = true;
                return false;
            }
            auto sent = static_cast<std::size_t>(w);
            while (first < count && sent >= iov[first].iov_len)
                sent -= iov[first++].iov_len;
            if (first < count) {
                iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + sent;
                iov[first].iov_len -= sent;
            }
        }
    }
    return true;
}

bool FcgxSink::put(std::string_view data) {
    // FCGX_PutStr takes an int length: hand it bounded pieces.
    constexpr std::size_t kPiece = 1 << 20;
    while (!data.empty() && ok()) {
        const std::size_t n = std::min(data.size(), kPiece);
        if (FCGX_PutStr(data.data(), static_cast<int>(n), out_) < 0)
            break;
        data.remove_prefix(n);
    }
    return ok();
}

bool FcgxSink::send_head(const ResponseHead& head) {
    if (!ok())
        return false;
    // RFC 9110 §6.4.1: a 1xx, 204 or 304 response has no content, whatever
    // the callback wrote (the other adapters drop it too); nor has the
    // answer to HEAD (the core writes none; a detached stream's framing
    // must know it too).
    no_body_ = head.head_only || !status_has_body(head.status);
    return put(cgi_head(head));
}

bool FcgxSink::send_body(std::string_view data) {
    if (!ok())
        return false;
    if (no_body_)
        return true;
    return data.size() >= kDirect ? put_direct(data) : put(data);
}

bool FcgxSink::flush() {
    if (!ok())
        return false;
    // FCGX_FFlush returns 0 on a stream already in error; ok() reads the
    // stream's error instead.
    FCGX_FFlush(out_);
    return ok();
}

bool FcgxSink::finish() {
    // No flush here: FCGX_Finish_r writes what is buffered together with the
    // closing records, one write(2) for a small response.
    return ok();
}

void FcgxSink::abort() {
    if (aborted_)
        return;
    aborted_ = true;
    // The front end must see the response end without FCGI_END_REQUEST
    // (FastCGI 1.0 §5.5), e.g. nginx: "upstream prematurely closed FastCGI
    // stdout". What libfcgi still buffers is dropped with the request.
    ::shutdown(fd_, SHUT_RDWR);
}

}  // namespace postern::fastcgi

namespace postern::fastcgi {

std::unique_ptr<DetachedFraming> FcgxSink::detach_framing() {
    // The channel writes to the descriptor itself from now on: what libfcgi
    // still buffers (nothing, after the core's flush, but that is its
    // contract, not libfcgi's) must precede it. A failed write leaves the
    // sink broken(), and the adapter cuts the channel.
    if (ok())
        FCGX_FFlush(out_);
    return std::make_unique<FcgxDetachedFraming>(fd_, request_id_, no_body_);
}

}  // namespace postern::fastcgi
