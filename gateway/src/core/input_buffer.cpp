#include "core/input_buffer.hpp"

#include <sys/socket.h>

#include <cerrno>

namespace postern {

void InputBuffer::reserve(std::size_t bytes) {
    if (capacity_ - begin_ >= bytes)
        return;
    const std::size_t have = end_ - begin_;
    if (capacity_ >= bytes) {
        std::memmove(buf_.get(), buf_.get() + begin_, have);
    } else {
        const std::size_t unit = initial_ == 0 ? 4096 : initial_;
        const std::size_t capacity = (bytes + unit - 1) / unit * unit;
        auto grown = std::make_unique_for_overwrite<char[]>(capacity);
        if (have > 0)
            std::memcpy(grown.get(), buf_.get() + begin_, have);
        buf_ = std::move(grown);
        capacity_ = capacity;
    }
    begin_ = 0;
    end_ = have;
}

Available InputBuffer::read_available(int fd, int& error) {
    if (!buf_) {
        capacity_ = initial_ == 0 ? 4096 : initial_;
        buf_ = std::make_unique_for_overwrite<char[]>(capacity_);
    }
    if (end_ == capacity_ && begin_ > 0) {
        std::memmove(buf_.get(), buf_.get() + begin_, end_ - begin_);
        end_ -= begin_;
        begin_ = 0;
    }
    if (end_ == capacity_) {
        // Full of one unit a codec has not yet seen whole: the codec's own
        // limit (a head's, a packet's) bounds how far this grows.
        const std::size_t capacity = capacity_ * 2;
        auto grown = std::make_unique_for_overwrite<char[]>(capacity);
        std::memcpy(grown.get(), buf_.get(), end_);
        buf_ = std::move(grown);
        capacity_ = capacity;
    }
    for (;;) {
        const ssize_t n = ::recv(fd, buf_.get() + end_, capacity_ - end_, MSG_DONTWAIT);
        if (n > 0) {
            end_ += static_cast<std::size_t>(n);
            return Available::some;
        }
        if (n == 0)
            return Available::eof;
        if (errno == EINTR)
            continue;
        error = errno;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return Available::nothing;
        return Available::failed;
    }
}

}  // namespace postern
