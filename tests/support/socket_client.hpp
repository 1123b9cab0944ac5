// Test support: a blocking socket client with deadlines, for raw-bytes tests.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace postern::test {

using namespace std::chrono_literals;

/// A connected stream socket to "HOST:PORT" or an absolute unix-socket path.
/// Every receive waits at most the given deadline; nothing here sleeps.
class SocketClient {
  public:
    /// Connects or throws std::runtime_error; from the local IP address
    /// `source` when it is not empty (TCP only).
    explicit SocketClient(const std::string& address, const std::string& source = {});
    ~SocketClient();
    SocketClient(SocketClient&& other) noexcept;
    SocketClient& operator=(SocketClient&&) = delete;
    SocketClient(const SocketClient&) = delete;

    /// Sends all of `data`; false if the peer closed or reset.
    bool send(std::string_view data);
    /// Receives what is available, waiting up to `timeout` for the first
    /// byte; "" on timeout or when the peer closed (see closed()).
    std::string recv_some(std::chrono::milliseconds timeout = 5000ms);
    /// Receives until the peer closes or `timeout` passes in total.
    std::string recv_until_close(std::chrono::milliseconds timeout = 10000ms);
    /// Receives until `data` contains `marker` (returns all received), or
    /// `timeout` passes (returns what came).
    std::string recv_until(std::string_view marker, std::chrono::milliseconds timeout = 10000ms);
    /// Receives exactly n bytes or fewer on timeout/close.
    std::string recv_exact(std::size_t n, std::chrono::milliseconds timeout = 10000ms);
    /// True once the peer closed (recv returned 0 or a reset).
    bool closed() const noexcept { return closed_; }
    /// Waits up to `timeout` for the peer to close; true if it did.
    bool wait_closed(std::chrono::milliseconds timeout = 10000ms);
    void shutdown_write();
    int fd() const noexcept { return fd_; }

  private:
    int fd_ = -1;
    bool closed_ = false;
};

/// Waits until something accepts connections at `address` (deadline).
bool wait_for_listener(const std::string& address, std::chrono::milliseconds timeout = 10000ms);

/// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0 and
/// released), for configuring processes that cannot take port 0.
int free_port();

}  // namespace postern::test
