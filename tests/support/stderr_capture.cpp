#include "stderr_capture.hpp"

#include <sys/types.h>
#include <unistd.h>

#include <stdexcept>

namespace postern::test {

StderrCapture::StderrCapture() : file_(std::tmpfile()), saved_(::dup(2)) {
    if (file_ == nullptr || saved_ < 0)
        throw std::runtime_error("StderrCapture: no temporary file or descriptor");
    std::fflush(stderr);
    ::dup2(::fileno(file_), 2);
}

StderrCapture::~StderrCapture() {
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    std::fclose(file_);
}

std::string StderrCapture::text() const {
    std::string out;
    char buf[4096];
    off_t at = 0;
    for (;;) {
        const ssize_t n = ::pread(::fileno(file_), buf, sizeof(buf), at);
        if (n <= 0)
            break;
        out.append(buf, static_cast<std::size_t>(n));
        at += n;
    }
    return out;
}

}  // namespace postern::test
