#include "stderr_capture.hpp"

#include <sys/types.h>
#include <unistd.h>

#include <stdexcept>
#include <thread>

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

bool StderrCapture::wait_for(std::string_view needle, std::chrono::milliseconds timeout) const {
    const auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (text().find(needle) != std::string::npos)
            return true;
        if (std::chrono::steady_clock::now() >= until)
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

}  // namespace postern::test
