#include "fastcgi/fcgx_body.hpp"

#include <fcgiapp.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

namespace postern::fastcgi {

void FcgxBody::fail(int error) const {
    std::string why;
    int status = 400;
    if (validator_ != nullptr && validator_->status() == RecordValidator::Status::error) {
        const auto r = validator_->result();
        why = "front end sent " + describe_fault(r.reason, error_name(r.code), r.offset) +
              " in the FastCGI request";
    } else if (error == EAGAIN || error == EWOULDBLOCK || error == ETIMEDOUT) {
        why =
            "front end sent no request body for --read-timeout, or sent it slower than "
            "--min-body-rate";
        status = 408;
    } else if (error > 0) {
        why = std::string("reading the request body from the front end failed: ") +
              std::strerror(error);
    } else if (error == FCGX_UNSUPPORTED_VERSION) {
        why = "front end sent a FastCGI record with a bad version byte in the request body";
    } else {
        // libfcgi reports both an end of file and a record of another type
        // for this request as FCGX_PROTOCOL_ERROR.
        why =
            "front end closed the connection or broke FastCGI framing in the middle of the "
            "request body (FCGI_STDIN, FastCGI 1.0 §5.3)";
    }
    why += " after " + std::to_string(received_) + " bytes";
    throw RequestError(status, why);
}

std::size_t FcgxBody::read(char* buffer, std::size_t size) {
    if (size == 0 || complete_)
        return 0;
    // FCGX_GetStr would block until `size` bytes or the end arrived; one
    // FCGX_GetChar blocks for at least one byte, then whatever libfcgi has
    // buffered is copied without blocking.
    const int c = FCGX_GetChar(in_);
    if (c == EOF) {
        if (const int error = FCGX_GetError(in_); error != 0)
            fail(error);
        complete_ = true;
        if (content_length_ && received_ != *content_length_)
            throw RequestError(400, "front end sent a request body of " +
                                        std::to_string(received_) + " bytes with CONTENT_LENGTH " +
                                        std::to_string(*content_length_) + " (FastCGI 1.0 §6.2)");
        return 0;
    }
    buffer[0] = static_cast<char>(c);
    std::size_t got = 1;
    const auto buffered = static_cast<std::size_t>(in_->stop - in_->rdNext);
    const std::size_t more = std::min(size - 1, buffered);
    if (more > 0)
        got += static_cast<std::size_t>(FCGX_GetStr(buffer + 1, static_cast<int>(more), in_));
    received_ += got;
    if (content_length_ && received_ > *content_length_)
        throw RequestError(400, "front end sent more request body than CONTENT_LENGTH " +
                                    std::to_string(*content_length_) + " (FastCGI 1.0 §6.2)");
    return got;
}

}  // namespace postern::fastcgi
