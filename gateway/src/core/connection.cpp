#include "core/connection.hpp"

#include <unistd.h>

namespace postern {

Connection::~Connection() {
    if (fd_ >= 0) ::close(fd_);
}

}  // namespace postern
