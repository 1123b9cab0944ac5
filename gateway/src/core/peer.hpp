// Postern core: who is at the other end of a connection.
#pragma once

#include <string>

namespace postern {

/// The two ends of an accepted connection, as text for CGI variables and
/// log lines. For a unix socket, addr is "127.0.0.1" (RFC 3875 §4.1.8 wants
/// an address, and the peer is local), local_addr the socket path, and the
/// ports are empty.
struct Peer {
    std::string addr;
    std::string port;
    std::string local_addr;
    std::string local_port;
    bool unix_socket = false;
    /// The listener's slot on the status board (core/status.hpp), -1 for
    /// none: where this connection's requests are counted.
    int listener = -1;

    /// "127.0.0.1:51234", "[::1]:51234" or "unix:/run/postern.sock".
    std::string describe() const;
};

}  // namespace postern
