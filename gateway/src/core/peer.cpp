#include "core/peer.hpp"

namespace postern {

std::string Peer::describe() const {
    if (unix_socket)
        return "unix:" + local_addr;
    if (addr.find(':') != std::string::npos)
        return "[" + addr + "]:" + port;
    return addr + ":" + port;
}

}  // namespace postern
