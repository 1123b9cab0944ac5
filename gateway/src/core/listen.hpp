// Postern core: binding listening sockets from "HOST:PORT", "/unix/path" or
// "fd:N".
#pragma once

#include <string>

namespace postern {

struct BoundSocket {
    int fd = -1;
    /// The address as bound ("127.0.0.1:40213" for a port-0 request).
    std::string address;
    bool unix_socket = false;
    /// The socket file to remove on shutdown ("" when not ours to remove).
    std::string unix_path;
};

/// Binds and listens, non-blocking and close-on-exec. A unix socket gets
/// `socket_mode`; a stale socket file nobody listens on is replaced, one in
/// use is an error. Throws std::runtime_error with one clear line
/// ("cannot listen on 127.0.0.1:9000: Address already in use").
BoundSocket bind_listener(const std::string& address, unsigned socket_mode);

}  // namespace postern
