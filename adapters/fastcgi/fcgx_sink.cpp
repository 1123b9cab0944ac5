#include "fastcgi/fcgx_sink.hpp"

#include <fcgiapp.h>
#include <sys/socket.h>

#include <algorithm>

#include "core/cgi_head.hpp"

namespace postern::fastcgi {

bool FcgxSink::ok() const noexcept {
    return !aborted_ && FCGX_GetError(out_) == 0;
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
    // the callback wrote (the other adapters drop it too).
    no_body_ = !status_has_body(head.status);
    return put(cgi_head(head));
}

bool FcgxSink::send_body(std::string_view data) {
    if (!ok())
        return false;
    if (no_body_)
        return true;
    return put(data);
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
