// Tests gateway/src/core/send_all.cpp: send_file_all (sendfile(2) with the
// write timeout) over a socket pair, byte for byte.
#include "core/send_all.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>

#include "test_data.hpp"

namespace postern {
namespace {

using namespace std::chrono_literals;

/// A file holding `bytes`, already unlinked; the descriptor closes with it.
class TempFile {
  public:
    explicit TempFile(const std::string& bytes) {
        char name[] = "/tmp/postern-sendfile-XXXXXX";
        fd_ = ::mkstemp(name);
        if (fd_ < 0)
            throw std::runtime_error("mkstemp failed");
        ::unlink(name);
        if (::write(fd_, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size()))
            throw std::runtime_error("write failed");
    }
    ~TempFile() { ::close(fd_); }
    int fd() const noexcept { return fd_; }

  private:
    int fd_;
};

struct SocketPair {
    int fds[2] = {-1, -1};
    SocketPair() {
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
            throw std::runtime_error("socketpair failed");
    }
    ~SocketPair() {
        for (int fd : fds)
            if (fd >= 0)
                ::close(fd);
    }
    void close_reader() {
        ::close(fds[1]);
        fds[1] = -1;
    }
};

std::string read_n(int fd, std::size_t n) {
    std::string out;
    char buf[65536];
    while (out.size() < n) {
        const ssize_t got = ::read(fd, buf, sizeof buf);
        if (got <= 0)
            break;
        out.append(buf, static_cast<std::size_t>(got));
    }
    return out;
}

TEST(SendFileAll, SendsTheRangeByteForByteAndCountsIt) {
    const std::string bytes = test::deterministic_bytes(3 << 20, 5);
    TempFile file(bytes);
    SocketPair pair;
    std::string got;
    std::thread reader([&] { got = read_n(pair.fds[1], (2 << 20) + 7); });
    const std::uint64_t before = sendfile_bytes();
    EXPECT_EQ(send_file_all(pair.fds[0], file.fd(), 12345, (2 << 20) + 7, 1000ms), SendFile::sent);
    reader.join();
    EXPECT_TRUE(got == bytes.substr(12345, (2 << 20) + 7));
    EXPECT_EQ(sendfile_bytes() - before, std::uint64_t{(2 << 20) + 7});
}

TEST(SendFileAll, AFileShorterThanAskedThrows) {
    TempFile file("ten bytes!");
    SocketPair pair;
    EXPECT_THROW(send_file_all(pair.fds[0], file.fd(), 0, 20, 1000ms), std::runtime_error);
    EXPECT_EQ(read_n(pair.fds[1], 10), "ten bytes!") << "what existed went out first";
}

TEST(SendFileAll, APeerThatWentAwayFails) {
    TempFile file(std::string(1 << 20, 'x'));
    // sendfile(2) has no MSG_NOSIGNAL: the gateway ignores SIGPIPE (Server's
    // constructor), as this test does.
    ::signal(SIGPIPE, SIG_IGN);
    SocketPair pair;
    pair.close_reader();
    EXPECT_EQ(send_file_all(pair.fds[0], file.fd(), 0, 1 << 20, 1000ms), SendFile::failed);
    EXPECT_EQ(errno, EPIPE);
}

TEST(SendFileAll, APeerThatStopsReadingTimesOutOnANonBlockingSocket) {
    TempFile file(std::string(8 << 20, 'x'));
    SocketPair pair;
    ::fcntl(pair.fds[0], F_SETFL, ::fcntl(pair.fds[0], F_GETFL) | O_NONBLOCK);
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(send_file_all(pair.fds[0], file.fd(), 0, 8 << 20, 200ms), SendFile::failed);
    EXPECT_EQ(errno, EAGAIN);
    EXPECT_GE(std::chrono::steady_clock::now() - start, 200ms);
}

TEST(SendFileAll, APeerThatStopsReadingTimesOutOnABlockingSocketAfterSoSndtimeo) {
    TempFile file(std::string(8 << 20, 'x'));
    SocketPair pair;
    timeval tv{0, 200'000};
    ASSERT_EQ(::setsockopt(pair.fds[0], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv), 0);
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(send_file_all(pair.fds[0], file.fd(), 0, 8 << 20, 200ms), SendFile::failed);
    EXPECT_EQ(errno, EAGAIN);
    EXPECT_GE(std::chrono::steady_clock::now() - start, 200ms);
}

}  // namespace
}  // namespace postern
