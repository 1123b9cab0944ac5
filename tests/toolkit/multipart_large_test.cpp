// Integration: a 1 GiB multipart/form-data upload saved to disk by the real
// `postern` executable (one worker process) running upload_module.so, which
// calls Multipart and Part::save_to. The client streams the body over HTTP
// straight to the gateway (1 MiB at a time, never the whole body); the
// saved file's SHA-256 must be the sender's, and the peak resident memory
// (VmHWM) of every postern process must stay under 64 MiB: a part streams
// through a fixed buffer whatever its size.
//
// Twice: over HTTP straight to the gateway, and through nginx running
// nginx-conf/postern-fastcgi.conf as shipped (its streaming location).
// POSTERN_UPLOAD_BYTES sets the size of the file part (default 1 GiB).
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <Poco/DigestEngine.h>
#include <Poco/SHA2Engine.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "process.hpp"
#include "process_memory.hpp"
#include "socket_client.hpp"
#include "stack.hpp"

namespace postern::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

constexpr std::uint64_t kMiB = 1024 * 1024;
constexpr std::uint64_t kRssLimitKib = 64 * 1024;
constexpr auto kReadTimeout = 60s;
const std::string kBoundary = "----postern-large-7MA4YWxkTrZu0gW";

std::uint64_t upload_bytes() {
    const char* v = std::getenv("POSTERN_UPLOAD_BYTES");
    return v == nullptr ? 1024 * kMiB : std::strtoull(v, nullptr, 10);
}

/// Block `k` of the file (1 MiB, the last one shorter): xorshift64
/// pseudo-random bytes seeded by k, so a lost, repeated or reordered block
/// changes the digest; each block starts with the delimiter less its last
/// byte, so the scanner meets near-misses at every buffer position.
void fill_block(std::string& block, std::uint64_t k) {
    std::uint64_t x = 0x9E3779B97F4A7C15ull ^ (k + 1) * 0xBF58476D1CE4E5B9ull;
    for (std::size_t i = 0; i + 8 <= block.size(); i += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        std::memcpy(block.data() + i, &x, 8);
    }
    // ('!' after it: a random byte would complete it one time in 256.)
    const std::string near_miss = "\r\n--" + kBoundary.substr(0, kBoundary.size() - 1) + "!";
    block.replace(0, std::min(block.size(), near_miss.size()), near_miss.substr(0, block.size()));
}

std::string sha256_of_file(const std::string& path, std::uint64_t& size) {
    Poco::SHA2Engine sha(Poco::SHA2Engine::SHA_256);
    std::ifstream in(path, std::ios::binary);
    std::vector<char> buf(kMiB);
    size = 0;
    while (in) {
        in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
        const auto n = static_cast<std::size_t>(in.gcount());
        sha.update(buf.data(), n);
        size += n;
    }
    return Poco::DigestEngine::digestToHex(sha.digest());
}

/// One gateway (one worker process) with upload_module.so mounted at
/// /stream/up, listening on HTTP and FastCGI; uploads into dir/uploads.
class MultipartLarge : public ::testing::Test {
  protected:
    void SetUp() override {
        Gateway::Config config;
        config.protocols = {"http", "fastcgi"};
        config.env = {"POSTERN_UPLOAD_DIR=" + uploads_};
        config.extra_args = {"--mount", std::string("/stream/up=") + UPLOAD_MODULE, "--processes",
                             "1"};
        try {
            gateway_.emplace(dir_, "gateway", config);
        } catch (const std::exception& e) {
            FAIL() << "the gateway did not start: " << e.what();
        }
    }

    /// POSTs a field and a file part of `bytes` bytes to /stream/up at
    /// `address`, then checks the answer, the saved file and the memory.
    void upload(const std::string& address, std::uint64_t bytes) {
        const std::string field = "--" + kBoundary +
                                  "\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\n"
                                  "one gibibyte\r\n";
        const std::string file_head = "--" + kBoundary +
                                      "\r\nContent-Disposition: form-data; name=\"file\"; "
                                      "filename=\"big.bin\"\r\nContent-Type: "
                                      "application/octet-stream\r\n\r\n";
        const std::string tail = "\r\n--" + kBoundary + "--\r\n";
        const std::uint64_t length = field.size() + file_head.size() + bytes + tail.size();

        const auto start = Clock::now();
        SocketClient c(address);
        const timeval send_timeout{30, 0};  // a stalled gateway fails the send
        ::setsockopt(c.fd(), SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof(send_timeout));
        ASSERT_TRUE(
            c.send("POST /stream/up HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                   "Content-Type: multipart/form-data; boundary=" +
                   kBoundary + "\r\nContent-Length: " + std::to_string(length) + "\r\n\r\n" +
                   field + file_head));
        Poco::SHA2Engine sent(Poco::SHA2Engine::SHA_256);
        std::string block;
        for (std::uint64_t k = 0, at = 0; at < bytes; ++k, at += kMiB) {
            block.resize(std::min(kMiB, bytes - at));
            fill_block(block, k);
            sent.update(block.data(), block.size());
            ASSERT_TRUE(c.send(block)) << "closed or stalled after " << at << " bytes";
        }
        ASSERT_TRUE(c.send(tail));
        const std::string response = c.recv_until_close(kReadTimeout);
        const double upload_s = std::chrono::duration<double>(Clock::now() - start).count();

        ASSERT_EQ(response.compare(0, 12, "HTTP/1.1 200"), 0)
            << response.substr(0, 300) << tail_file(gateway_->log_path());
        const auto body_at = response.find("\r\n\r\n");
        ASSERT_NE(body_at, std::string::npos);
        EXPECT_EQ(response.substr(body_at + 4),
                  "note=one gibibyte\nfile " + std::to_string(bytes) + "\n");

        // Memory first, while the processes are there: every postern
        // process, the worker that ran the callback among them.
        const pid_t root = gateway_->process().pid();
        const std::vector<pid_t> tree = process_tree(root);
        EXPECT_GE(tree.size(), 2u) << "no worker process under the supervisor";
        for (pid_t pid : tree) {
            const std::uint64_t hwm = status_kib(pid, "VmHWM");
            std::printf("multipart: postern pid %d%s peak RSS (VmHWM) %llu KiB\n", pid,
                        pid == root ? " (supervisor)" : " (worker)",
                        static_cast<unsigned long long>(hwm));
            EXPECT_GT(hwm, 0u) << "pid " << pid;
            EXPECT_LT(hwm, kRssLimitKib) << "postern pid " << pid;
            RecordProperty(pid == root ? "supervisor_vmhwm_kib" : "worker_vmhwm_kib",
                           std::to_string(hwm));
        }

        std::uint64_t saved_size = 0;
        const auto hash_start = Clock::now();
        EXPECT_EQ(sha256_of_file(uploads_ + "/file", saved_size),
                  Poco::DigestEngine::digestToHex(sent.digest()));
        EXPECT_EQ(saved_size, bytes);
        std::vector<std::string> names;
        for (const auto& e : fs::directory_iterator(uploads_))
            names.push_back(e.path().filename().string());
        EXPECT_EQ(names, std::vector<std::string>{"file"}) << "a temporary file was left behind";
        std::printf(
            "multipart: %llu bytes uploaded and saved in %.1f s (%.0f MiB/s), checked in "
            "%.1f s\n",
            static_cast<unsigned long long>(bytes), upload_s,
            static_cast<double>(bytes) / kMiB / upload_s,
            std::chrono::duration<double>(Clock::now() - hash_start).count());
        fs::remove(uploads_ + "/file");  // 1 GiB less on the disk at once
    }

    void TearDown() override {
        if (gateway_) {
            EXPECT_EQ(gateway_->stop(), 0) << tail_file(gateway_->log_path());
        }
    }

    TempDir dir_{"postern-multipart-large"};
    std::string uploads_ = dir_.subdir("uploads");
    std::optional<Gateway> gateway_;
};

TEST_F(MultipartLarge, AnUploadOfOneGibOverHttpSavesWithBoundedMemoryAndTheSameDigest) {
    upload(gateway_->address("http", false), upload_bytes());
}

TEST_F(MultipartLarge, AnUploadThroughNginxAsShippedSavesWithBoundedMemoryAndTheSameDigest) {
    // nginx-conf/postern-fastcgi.conf's streaming location (/stream: the
    // body is not spooled by nginx). The snippet's client_max_body_size is
    // 1g, and a 1 GiB file with its multipart framing is over it (nginx
    // answers 413): the file is 64 KiB short of 1 GiB here.
    std::optional<Nginx> nginx;
    try {
        nginx.emplace(dir_, "fastcgi", "postern-fastcgi.conf",
                      std::map<std::string, std::string>{
                          {"POSTERN_FASTCGI", gateway_->address("fastcgi", false)}});
    } catch (const std::exception& e) {
        FAIL() << "nginx did not start: " << e.what();
    }
    upload("127.0.0.1:" + std::to_string(nginx->port()), upload_bytes() - 64 * 1024);
    EXPECT_EQ(nginx->stop(), 0) << tail_file(nginx->error_log());
}

}  // namespace
}  // namespace postern::test
