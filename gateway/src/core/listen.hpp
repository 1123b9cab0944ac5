// Postern core: binding listening sockets from "HOST:PORT", "/unix/path" or
// "fd:N".
#pragma once

#include <string>

namespace postern {

struct BoundSocket {
    int fd = -1;
    /// The address as bound ("127.0.0.1:40213" for a port-0 request), or
    /// as an inherited socket is bound ("fd:N" if it has no name).
    std::string address;
    bool unix_socket = false;
    /// The socket file's path ("" for an unnamed or abstract socket).
    std::string unix_path;
    /// This process created the socket file, and removes it when it stops
    /// listening. False for an inherited socket: the process that bound it
    /// (a supervisor, systemd, spawn-fcgi) owns the file.
    bool owns_path = false;
};

/// Binds and listens, non-blocking and close-on-exec. A unix socket gets
/// `socket_mode`; a stale socket file nobody listens on is replaced, one in
/// use is an error. Throws std::runtime_error with one clear line
/// ("cannot listen on 127.0.0.1:9000: Address already in use").
/// "fd:N" adopts the listening socket on descriptor N (checked) instead.
BoundSocket bind_listener(const std::string& address, unsigned socket_mode);

/// The local address of socket `fd` as --listen writes it: "127.0.0.1:9000",
/// "[::1]:9000", "/run/app.sock"; "" when it has none (or is not a socket).
std::string local_address(int fd);

/// Raises the soft limit on open descriptors to the hard limit: every
/// front-end connection is a descriptor, and the default soft limit of
/// 1,024 is too low for a gateway behind several busy front ends.
void raise_descriptor_limit();

}  // namespace postern
