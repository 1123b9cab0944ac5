// Test support: a datagram socket standing in for systemd's notification
// socket (NOTIFY_SOCKET), for the Notifier and the executable's readiness.
#pragma once

#include <chrono>
#include <string>

namespace postern::test {

/// Bound at construction (throws std::runtime_error when it cannot be);
/// closed, and its path unlinked, on destruction. Not copyable.
class NotifySocket {
  public:
    /// `path`: a file name, or with `abstract` a name in the abstract
    /// namespace (what NOTIFY_SOCKET spells "@name").
    explicit NotifySocket(const std::string& path, bool abstract = false);
    ~NotifySocket();
    NotifySocket(const NotifySocket&) = delete;
    NotifySocket& operator=(const NotifySocket&) = delete;

    /// The next datagram, or "" when none came within `timeout`.
    std::string receive(std::chrono::milliseconds timeout = std::chrono::seconds(15));

  private:
    std::string path_;
    bool abstract_;
    int fd_ = -1;
};

}  // namespace postern::test
