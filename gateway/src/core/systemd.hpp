// Postern core: what systemd hands a service, without libsystemd. Socket
// activation (sd_listen_fds(3): LISTEN_PID, LISTEN_FDS, descriptors from 3)
// and readiness notification (sd_notify(3): a datagram to NOTIFY_SOCKET).
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "postern/server.hpp"

namespace postern::systemd {

/// The first descriptor systemd passes (SD_LISTEN_FDS_START).
inline constexpr int kFirstPassedFd = 3;

/// How many sockets systemd passed to process `self`, from the values of
/// LISTEN_PID and LISTEN_FDS (nullptr when unset). 0 when they are unset
/// or meant for another process (LISTEN_PID names another pid: inherited
/// through a shell). Throws std::runtime_error with one line when they are
/// meant for `self` but malformed.
int passed_socket_count(const char* listen_pid, const char* listen_fds, pid_t self);

/// Reads LISTEN_PID and LISTEN_FDS for this process and removes them (and
/// LISTEN_FDNAMES) from the environment, so neither workers nor anything
/// they start takes the sockets for its own; returns the count. Throws as
/// passed_socket_count does.
int take_passed_sockets();

/// Which passed socket each --listen takes. `passed` holds the local
/// address of each passed socket (descriptor kFirstPassedFd + i, as
/// local_address() writes it). A --listen takes, in this order of
/// preference: the descriptor its `fd:N` names; the passed socket bound
/// to exactly its address; the first passed socket no other --listen took.
/// Returns the descriptor for each spec, or -1 for one that binds its own
/// address (more --listen than sockets). Without any --listen, every
/// passed socket becomes a fastcgi listener: `specs` is filled in. Throws
/// std::runtime_error with one line when a passed socket would be left
/// without a listener (connections to it would wait forever).
std::vector<int> assign_passed_sockets(std::vector<ListenSpec>& specs,
                                       const std::vector<std::string>& passed);

/// Sends sd_notify(3) states ("READY=1", "RELOADING=1", "STOPPING=1",
/// "STATUS=...") to the socket systemd named in NOTIFY_SOCKET. A notifier
/// without a socket does nothing. Sending never blocks and never throws: a
/// lost notification must not stop the gateway.
class Notifier {
  public:
    Notifier() = default;
    /// `socket` as NOTIFY_SOCKET gives it: a path, or "@name" for an
    /// abstract socket.
    explicit Notifier(std::string socket) : socket_(std::move(socket)) {}
    /// From NOTIFY_SOCKET, which is then removed from the environment (a
    /// worker or an application must not speak for the service).
    static Notifier from_environment();

    bool enabled() const noexcept { return !socket_.empty(); }
    /// Sends one datagram; false if it could not be sent.
    bool notify(std::string_view state) const;

  private:
    std::string socket_;
};

}  // namespace postern::systemd
