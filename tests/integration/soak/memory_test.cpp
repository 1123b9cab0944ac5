// Memory: a 1 GiB upload and a 1 GiB download through nginx -> FastCGI ->
// postern, on the shipped snippet's streaming location (/stream: request
// bodies are not buffered by nginx, responses are not either), with the
// resident memory of the postern processes sampled throughout and staying
// under 64 MiB: a body streams, it is never held whole.
//
//   upload:   1 GiB POSTed to the echo module (/stream/echo), which hashes
//             the body in pieces; its body_length and body_sha256 must be
//             those of what was sent.
//   download: /stream?chunks=1024&bytes=1048576 from the stream module:
//             1024 chunks of 1 MiB, chunk i made of the letter 'a' + i % 26;
//             every byte is checked as it arrives.
// The client streams too: it never holds more than 1 MiB of either body.
#include <gtest/gtest.h>

#include <Poco/DigestEngine.h>
#include <Poco/SHA2Engine.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <thread>

#include "echo_reply.hpp"
#include "process_memory.hpp"
#include "socket_client.hpp"
#include "stack.hpp"

namespace postern::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr std::uint64_t kMiB = 1024 * 1024;
constexpr std::uint64_t kBody = 1024 * kMiB;
constexpr std::uint64_t kRssLimitKib = 64 * 1024;
// Bounds each transfer (a stalled one fails instead of hanging the suite).
constexpr auto kTransferDeadline = 180s;
constexpr auto kReadTimeout = 30s;

const Topology& topology_named(const std::string& name) {
    for (const Topology& t : all_topologies())
        if (t.name == name)
            return t;
    throw std::runtime_error("no topology " + name);
}

/// Samples the RSS of a process tree every few milliseconds on a thread of
/// its own, from construction to stop().
class RssSampler {
  public:
    explicit RssSampler(pid_t root) : root_(root), thread_([this] { run(); }) {}
    ~RssSampler() { stop(); }

    void stop() {
        stop_ = true;
        if (thread_.joinable())
            thread_.join();
    }
    /// The largest total seen, and how many samples were taken.
    std::uint64_t peak_kib() const { return peak_kib_; }
    int samples() const { return samples_; }
    std::string peak_describe() const { return peak_.describe(); }

  private:
    void run() {
        while (!stop_) {
            TreeMemory m = tree_memory(root_);
            ++samples_;
            if (m.total_kib() > peak_kib_) {
                peak_kib_ = m.total_kib();
                peak_ = std::move(m);
            }
            std::this_thread::sleep_for(10ms);  // a sampling period, not a wait on a condition
        }
    }

    pid_t root_;
    std::atomic<bool> stop_{false};
    std::atomic<std::uint64_t> peak_kib_{0};
    std::atomic<int> samples_{0};
    TreeMemory peak_;
    std::thread thread_;
};

/// Receives the response head (up to the empty line); what came after it
/// is left in `rest`.
std::string read_head(SocketClient& socket, std::string& rest) {
    std::string got;
    for (;;) {
        const auto end = got.find("\r\n\r\n");
        if (end != std::string::npos) {
            rest = got.substr(end + 4);
            return got.substr(0, end + 4);
        }
        const std::string more = socket.recv_some(kReadTimeout);
        if (more.empty())
            throw std::runtime_error("no response head (got \"" + got.substr(0, 200) + "\")");
        got += more;
    }
}

class MemoryTest : public ::testing::Test {
  protected:
    void SetUp() override {
        try {
            stack_.emplace();
            endpoint_ = stack_->endpoint(topology_named("nginx_fastcgi_tcp"));
        } catch (const std::exception& e) {
            FAIL() << "the test stack did not start: " << e.what();
        }
        gateway_ = stack_->gateway().process().pid();
    }

    void TearDown() override {
        if (!stack_)
            return;
        const auto problems = stack_->stop();
        for (const auto& p : problems)
            ADD_FAILURE() << p;
        if (HasFailure()) {
            std::fprintf(stderr, "%s", stack_->log_tails().c_str());
            if (std::getenv("POSTERN_KEEP_TEMP") != nullptr)
                stack_->keep_dir();
        }
    }

    /// The peak RSS since each postern process started (VmHWM), which also
    /// covers moments between two samples.
    void expect_high_water_mark_under_limit() {
        for (pid_t pid : process_tree(gateway_)) {
            const std::uint64_t hwm = status_kib(pid, "VmHWM");
            std::printf("memory: postern pid %d peak RSS (VmHWM) %llu KiB\n", pid,
                        static_cast<unsigned long long>(hwm));
            EXPECT_LT(hwm, kRssLimitKib) << "postern pid " << pid;
        }
    }

    std::optional<Stack> stack_;
    Stack::Endpoint endpoint_;
    pid_t gateway_ = -1;
};

TEST_F(MemoryTest, UploadOfOneGibStreamsThroughTheGateway) {
    // 1 MiB of the fixed pseudo-random payload, its first 8 bytes replaced
    // by the block number, so a lost, repeated or reordered block changes
    // the digest.
    std::string block = payload(kMiB);
    Poco::SHA2Engine sha256(Poco::SHA2Engine::SHA_256);

    RssSampler sampler(gateway_);
    const auto start = Clock::now();
    SocketClient socket(endpoint_.address);
    const std::string head = "POST /stream/echo/upload HTTP/1.0\r\nHost: " + endpoint_.address +
                             "\r\nContent-Type: application/octet-stream\r\n"
                             "Content-Length: " +
                             std::to_string(kBody) + "\r\n\r\n";
    ASSERT_TRUE(socket.send(head));
    for (std::uint64_t k = 0; k < kBody / kMiB; ++k) {
        for (int b = 0; b < 8; ++b)
            block[b] = static_cast<char>(k >> (8 * b));
        sha256.update(block.data(), block.size());
        ASSERT_TRUE(socket.send(block)) << "the front end closed after " << k << " MiB";
        ASSERT_LT(Clock::now() - start, kTransferDeadline) << "upload stalled at " << k << " MiB";
    }
    std::string body;
    const std::string response = read_head(socket, body);
    body += socket.recv_until_close(kReadTimeout);
    const auto took = Clock::now() - start;
    sampler.stop();

    ASSERT_EQ(response.compare(0, 12, "HTTP/1.1 200"), 0) << response << body.substr(0, 300);
    const EchoReply reply(body);
    EXPECT_EQ(reply.body_length(), kBody);
    EXPECT_EQ(reply.str("body_sha256"), Poco::DigestEngine::digestToHex(sha256.digest()));
    EXPECT_EQ(reply.str("script_name"), "/stream/echo");

    std::printf(
        "memory: 1 GiB upload in %.1f s, postern peak RSS sampled %llu KiB "
        "(%d samples: %s)\n",
        std::chrono::duration<double>(took).count(),
        static_cast<unsigned long long>(sampler.peak_kib()), sampler.samples(),
        sampler.peak_describe().c_str());
    RecordProperty("upload_peak_rss_kib", std::to_string(sampler.peak_kib()));
    EXPECT_LT(sampler.peak_kib(), kRssLimitKib);
    expect_high_water_mark_under_limit();
}

TEST_F(MemoryTest, DownloadOfOneGibStreamsThroughTheGateway) {
    RssSampler sampler(gateway_);
    const auto start = Clock::now();
    SocketClient socket(endpoint_.address);
    ASSERT_TRUE(socket.send("GET /stream?chunks=1024&bytes=1048576 HTTP/1.0\r\nHost: " +
                            endpoint_.address + "\r\n\r\n"));
    std::string data;
    const std::string response = read_head(socket, data);
    ASSERT_EQ(response.compare(0, 12, "HTTP/1.1 200"), 0) << response;

    // HTTP/1.0: the body runs to the end of the connection.
    std::uint64_t received = 0;
    std::uint64_t wrong = 0;
    std::optional<std::uint64_t> first_wrong;
    for (;;) {
        for (std::size_t at = 0; at < data.size();) {
            const std::uint64_t pos = received + at;
            const char expected = static_cast<char>('a' + (pos / kMiB) % 26);
            const std::size_t run = std::min<std::uint64_t>(data.size() - at, kMiB - pos % kMiB);
            const auto bad = std::count_if(data.begin() + static_cast<std::ptrdiff_t>(at),
                                           data.begin() + static_cast<std::ptrdiff_t>(at + run),
                                           [&](char c) { return c != expected; });
            if (bad > 0 && !first_wrong)
                first_wrong = pos;
            wrong += static_cast<std::uint64_t>(bad);
            at += run;
        }
        received += data.size();
        ASSERT_LT(Clock::now() - start, kTransferDeadline)
            << "download stalled at " << received << " bytes";
        data = socket.recv_some(kReadTimeout);
        if (data.empty())
            break;
    }
    const auto took = Clock::now() - start;
    sampler.stop();

    EXPECT_TRUE(socket.closed()) << "no byte for " << kReadTimeout.count() << " s after "
                                 << received << " bytes";
    EXPECT_EQ(received, kBody);
    EXPECT_EQ(wrong, 0u) << "first wrong byte at " << first_wrong.value_or(0);
    std::printf(
        "memory: 1 GiB download in %.1f s, postern peak RSS sampled %llu KiB "
        "(%d samples: %s)\n",
        std::chrono::duration<double>(took).count(),
        static_cast<unsigned long long>(sampler.peak_kib()), sampler.samples(),
        sampler.peak_describe().c_str());
    RecordProperty("download_peak_rss_kib", std::to_string(sampler.peak_kib()));
    EXPECT_LT(sampler.peak_kib(), kRssLimitKib);
    expect_high_water_mark_under_limit();
}

}  // namespace
}  // namespace postern::test
