// Postern core: the connection engine's input buffer, one for every
// adapter (HTTP, AJP13, SCGI, uwsgi; FastCGI's bytes are libfcgi's). Bytes
// received and not yet consumed are data(); a codec decodes from its front
// and consume()s what it used. Reads never wait (read_available): a
// connection that has not all it needs goes back to the reactor
// (core/input_wait.hpp), and a worker reading a body waits with BodyRate
// first.
//
// The storage is allocated uninitialised and kept across requests; it
// moves its contents to the front or doubles only when full, so views into
// data() stay valid until the next read_available(), reserve(), shrink()
// or release().
//
// Threading: one per connection, used by the thread serving it.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>

#include "core/input_wait.hpp"

namespace postern {

class InputBuffer {
  public:
    /// `initial`: the storage allocated by the first read.
    explicit InputBuffer(std::size_t initial) noexcept : initial_(initial) {}

    std::string_view data() const noexcept { return {buf_.get() + begin_, end_ - begin_}; }
    std::size_t size() const noexcept { return end_ - begin_; }
    bool empty() const noexcept { return begin_ == end_; }
    std::size_t capacity() const noexcept { return capacity_; }

    /// Drops `n` bytes from the front of data().
    void consume(std::size_t n) noexcept {
        begin_ += n;
        if (begin_ >= end_)
            begin_ = end_ = 0;
    }
    /// Copies up to `n` bytes from the front of data() to `out` and
    /// consumes them; returns how many.
    std::size_t take(char* out, std::size_t n) noexcept {
        if (n > size())
            n = size();
        std::memcpy(out, buf_.get() + begin_, n);
        consume(n);
        return n;
    }
    /// Room for `bytes` from the front of data(), so that reads neither move
    /// nor grow the storage before they are all there.
    void reserve(std::size_t bytes);
    /// One recv(2) of what the socket has now, without waiting, appended to
    /// data(); the storage moves or doubles first when it is full.
    Available read_available(int fd, int& error);
    /// Frees the storage when nothing is buffered and it grew past `keep`
    /// bytes (one large head or body must not hold memory while idle).
    void shrink(std::size_t keep) noexcept {
        if (empty() && capacity_ > keep)
            release();
    }
    /// Drops the contents and frees the storage.
    void release() noexcept {
        buf_.reset();
        capacity_ = begin_ = end_ = 0;
    }

  private:
    std::unique_ptr<char[]> buf_;
    std::size_t initial_;
    std::size_t capacity_ = 0;
    std::size_t begin_ = 0;
    std::size_t end_ = 0;
};

}  // namespace postern
