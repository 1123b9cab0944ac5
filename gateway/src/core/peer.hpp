// Postern core: who is at the other end of a connection.
#pragma once

#include <string>

namespace postern {

/// The two ends of an accepted connection, as text for CGI variables and
/// log lines. For a unix socket, addr is "unix" and the ports are empty.
struct Peer {
    std::string addr;
    std::string port;
    std::string local_addr;
    std::string local_port;
    bool unix_socket = false;

    /// "127.0.0.1:51234", "[::1]:51234" or "unix:/run/postern.sock".
    std::string describe() const;
};

}  // namespace postern
