#include "core/connection.hpp"

#include <unistd.h>

namespace postern {

Connection::~Connection() {
    if (int fd = fd_.load(); fd >= 0)
        ::close(fd);
}

}  // namespace postern
