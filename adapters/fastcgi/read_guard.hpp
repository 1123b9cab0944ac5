// Postern FastCGI adapter: puts the RecordValidator and a deadline between
// libfcgi and the socket for every read libfcgi makes of a request.
//
// How: libfcgi does every read through its exported function OS_Read
// (libfcgi/os_unix.c), and calls it through the PLT, so the definition of
// OS_Read in read_guard.cpp — in libpostern, which the dynamic linker
// searches before libfcgi, its dependency — is the one libfcgi's own calls
// reach (ELF symbol interposition). While a ReadGuard is alive for a
// descriptor, reads of it (on any thread):
//   * are fed to the validator, and fail with EPROTO on the first bad byte,
//     before libfcgi sees it or allocates for it — the head, and every
//     record of the body after it;
//   * lose the management records (request id 0): the validator takes them
//     out, and the guard sends their answers itself, so that libfcgi's
//     unbounded ProcessManagementRecord never runs;
//   * while the head is incomplete, wait at most until the guard's
//     deadline in total (SO_RCVTIMEO alone bounds each read, so a front end
//     trickling one byte a time would hold a worker forever);
//   * when nothing of a request arrived yet (only management records, or a
//     readiness with no data), end with Failure::idle after telling libfcgi
//     the descriptor is gone (its request's ipcFd set to -1, so that its
//     failing FCGX_Accept_r does not close it): the connection goes back to
//     the reactor to wait without a thread.
// Any other read (no guard for the descriptor) is a plain read(2), as
// libfcgi's own OS_Read is.
//
// interposed() tells whether libfcgi's calls really arrive here; they do
// not if a program links libfcgi before libpostern, and the FastCGI
// protocol then refuses to start (libfcgi alone is not safe to expose).
#pragma once

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <string>

#include "core/input_wait.hpp"
#include "fastcgi/record_validator.hpp"

namespace postern::fastcgi {

class ReadGuard {
  public:
    using Clock = std::chrono::steady_clock;

    enum class Failure {
        none,
        malformed,     ///< the validator found an error (validator().error_*)
        timeout,       ///< the deadline passed before the head was complete
        closed,        ///< the front end closed the connection in the head
        read_error,    ///< read(2) failed in the head: read_errno()
        idle,          ///< nothing of a request yet and no more bytes: wait in the reactor
        write_error,   ///< an answer to a management record could not be sent
        body_timeout,  ///< the body broke the BodyRate rule (read_timeout, min_body_rate)
    };

    /// Installs the guard for reads of `fd`, until it is destroyed.
    /// `libfcgi_fd`: the FCGX_Request's ipcFd, set to -1 before an idle
    /// failure (nullptr: no idle failure, wait under the deadline instead).
    /// Guards do not nest, and one descriptor has one guard at a time.
    ///
    /// `prefiltered`: bytes of the request the validator already passed
    /// (read in the reactor), served to libfcgi before the socket is read.
    /// `body_rate`: the body rule for reads once the head is complete
    /// (nullptr: a plain blocking read under SO_RCVTIMEO).
    ReadGuard(int fd, RecordValidator& validator, Clock::time_point deadline,
              int* libfcgi_fd = nullptr, std::string prefiltered = {},
              BodyRate* body_rate = nullptr) noexcept;
    ~ReadGuard();
    ReadGuard(const ReadGuard&) = delete;
    ReadGuard& operator=(const ReadGuard&) = delete;

    Failure failure() const noexcept { return failure_; }
    int read_errno() const noexcept { return errno_; }
    /// Reads that went through this guard (0 means libfcgi did not call
    /// the interposed OS_Read).
    std::size_t reads() const noexcept { return reads_; }
    std::size_t bytes() const noexcept { return bytes_; }
    /// The `prefiltered` buffer, emptied with its capacity kept, for the
    /// next request to be read into without an allocation. No read may go
    /// through the guard after.
    std::string take_buffer() noexcept {
        pending_.clear();
        pending_at_ = 0;
        return std::move(pending_);
    }

    /// Bytes read from the socket after the end of the request (the next
    /// request's, unfiltered), taken by the caller once libfcgi is done.
    std::string take_carry() noexcept { return std::move(carry_); }

    /// The guarded read, called by the OS_Read hook.
    int read(char* buffer, std::size_t size) noexcept;

    /// The guard for `fd`, or nullptr.
    static ReadGuard* current(int fd) noexcept;

  private:
    int fail(Failure failure, int error) noexcept;
    bool send_answers() noexcept;
    int take_pending(char* buffer, std::size_t size) noexcept;

    int fd_;
    RecordValidator& validator_;
    Clock::time_point deadline_;
    int* libfcgi_fd_;
    BodyRate* body_rate_;
    Failure failure_ = Failure::none;
    int errno_ = 0;
    std::size_t reads_ = 0;
    std::size_t bytes_ = 0;
    // Bytes passed by the validator that did not fit a small read (libfcgi
    // reads whole 8 KiB buffers; this only serves a caller that does not).
    std::string pending_;
    std::size_t pending_at_ = 0;
    // What the last read took past the end of the request (take_carry()).
    std::string carry_;
};

/// True when libfcgi's reads reach the hook (checked once, on a socketpair,
/// by running FCGX_Accept_r over a minimal request). Call after FCGX_Init.
bool interposed();

}  // namespace postern::fastcgi
