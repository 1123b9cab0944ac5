// Postern FastCGI adapter: puts the HeadValidator and a deadline between
// libfcgi and the socket while libfcgi reads a request head.
//
// How: libfcgi does every read through its exported function OS_Read
// (libfcgi/os_unix.c), and calls it through the PLT, so the definition of
// OS_Read in read_guard.cpp — in libpostern, which the dynamic linker
// searches before libfcgi, its dependency — is the one libfcgi's own calls
// reach (ELF symbol interposition). While a ReadGuard is alive on a thread,
// reads of its descriptor on that thread:
//   * wait at most until the guard's deadline in total (SO_RCVTIMEO alone
//     bounds each read, so a front end trickling one byte a time would
//     hold a worker forever);
//   * are fed to the validator, and fail with EPROTO on the first bad byte,
//     before libfcgi sees it or allocates for it.
// Any other read (another thread, another descriptor, no guard) is a plain
// read(2), as libfcgi's own OS_Read is.
//
// interposed() tells whether libfcgi's calls really arrive here (they do
// not if a program links libfcgi before libpostern); the adapter logs a
// warning once and falls back to checking the params after libfcgi read them.
#pragma once

#include <cerrno>
#include <chrono>
#include <cstddef>

#include "fastcgi/head_validator.hpp"

namespace postern::fastcgi {

class ReadGuard {
  public:
    using Clock = std::chrono::steady_clock;

    enum class Failure {
        none,
        malformed,   ///< the validator found an error (validator().error_*)
        timeout,     ///< the deadline passed
        closed,      ///< the front end closed the connection
        read_error,  ///< read(2) failed: read_errno()
    };

    /// Installs the guard for reads of `fd` on the calling thread. Guards do
    /// not nest.
    ReadGuard(int fd, HeadValidator& validator, Clock::time_point deadline) noexcept;
    ~ReadGuard();
    ReadGuard(const ReadGuard&) = delete;
    ReadGuard& operator=(const ReadGuard&) = delete;

    Failure failure() const noexcept { return failure_; }
    int read_errno() const noexcept { return errno_; }
    /// Reads that went through this guard (0 means libfcgi did not call
    /// the interposed OS_Read).
    std::size_t reads() const noexcept { return reads_; }
    std::size_t bytes() const noexcept { return bytes_; }

    /// The guarded read, called by the OS_Read hook.
    int read(char* buffer, std::size_t size) noexcept;

    /// The guard of the calling thread for `fd`, or nullptr.
    static ReadGuard* current(int fd) noexcept;

  private:
    int fd_;
    HeadValidator& validator_;
    Clock::time_point deadline_;
    Failure failure_ = Failure::none;
    int errno_ = 0;
    std::size_t reads_ = 0;
    std::size_t bytes_ = 0;
};

/// True when libfcgi's reads reach the hook (checked once, on a socketpair,
/// by running FCGX_Accept_r over a minimal request). Call after FCGX_Init.
bool interposed();

}  // namespace postern::fastcgi
