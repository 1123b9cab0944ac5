// The gateway's own waits call a standing-by thread in at once, on every
// socket protocol (core/blocking.hpp): with one thread waiting for requests
// and three standing by (Options::pollers = 1, threads = 4), a response
// write to a front end that stops reading (bytes, or a file sent with
// sendfile(2)) and a request body that stops part-way each let a
// standing-by thread take the other connections before they wait, once
// for the request however many pieces follow; nothing of the response or
// the body is lost when the front end goes on, and the next request is
// served. The same cases over HTTP, FastCGI, AJP13, SCGI and uwsgi,
// against a real Server on 127.0.0.1:0.
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <exception>
#include <string>
#include <string_view>
#include <thread>

#include "ajp_client.hpp"
#include "core/blocking.hpp"
#include "core/send_all.hpp"
#include "in_process_gateway.hpp"
#include "postern/postern.hpp"
#include "protocol_client.hpp"
#include "socket_client.hpp"
#include "test_data.hpp"
#include "wait.hpp"

namespace postern {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using test::fnv1a;
using test::InProcessGateway;
using test::ProtocolClient;
using test::ProtocolReply;
using test::ProtocolRequest;
using test::SocketClient;

/// More than the loopback socket buffers on both sides hold, so that the
/// write finds the socket full while the front end does not read.
constexpr std::size_t kBig = std::size_t{32} << 20;

class PollersOverEveryProtocol : public ::testing::TestWithParam<const char*> {
  protected:
    PollersOverEveryProtocol() : gateway_({GetParam()}), client_(GetParam()) {
        Options& o = gateway_.options();
        o.threads = 4;
        o.pollers = 1;
        o.drain_timeout = 2s;
        gateway_.app().extra = [this](Request& req, Response& res) {
            if (req.path_info() == "/known") {
                // kBig known bytes, written in 64 KiB pieces.
                for (std::size_t at = 0; at < kBig; at += kPiece)
                    if (!res.write(std::string_view(big_).substr(at, kPiece)))
                        break;
                return true;
            }
            if (req.path_info() == "/file") {
                // The same bytes from a file: sendfile(2) on HTTP, SCGI and
                // uwsgi; read and framed on FastCGI and AJP.
                res.send_file(req, file_);
                return true;
            }
            if (req.path_info() == "/partial") {
                // Reads the body, and counts how it ended.
                char buffer[50000];
                try {
                    while (std::size_t n = req.read(buffer, sizeof buffer))
                        partial_bytes_ += n;
                } catch (const RequestError&) {
                    ++partial_refused_;
                    ++partial_done_;
                    throw;
                }
                ++partial_done_;
                res.write("read " + std::to_string(partial_bytes_.load()));
                return true;
            }
            return false;
        };
    }

    ~PollersOverEveryProtocol() override { ::unlink(file_.c_str()); }

    static std::string write_file(const std::string& bytes) {
        char path[] = "/tmp/postern-pollers-XXXXXX";
        const int fd = ::mkstemp(path);
        EXPECT_GE(fd, 0);
        EXPECT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
        ::close(fd);
        return path;
    }

    const std::string& address() const { return gateway_.address(); }

    /// A GET on a new connection is answered at once, whatever the one
    /// polling thread is doing.
    void expect_served() {
        const auto t0 = Clock::now();
        const ProtocolReply r = client_.exchange(address(), ProtocolRequest{}, 5s);
        EXPECT_TRUE(r.answered) << r.error;
        EXPECT_EQ(r.body, "Hello, world!\n");
        EXPECT_LT(Clock::now() - t0, 3s);
    }

    /// The next request on `c` (a kept connection) or on a new one.
    void expect_next_served(SocketClient& c) {
        if (!client_.keeps_connections()) {
            expect_served();
            return;
        }
        ASSERT_TRUE(c.send(client_.encode(ProtocolRequest{})));
        const ProtocolReply r = client_.read(c, 5s);
        EXPECT_TRUE(r.answered) << r.error;
        EXPECT_EQ(r.body, "Hello, world!\n");
    }

    /// A POST of `size` known bytes to `target`.
    static ProtocolRequest post(const char* target, std::size_t size, unsigned seed) {
        ProtocolRequest r;
        r.method = "POST";
        r.target = target;
        r.body = test::deterministic_bytes(size, seed);
        return r;
    }

    /// Sends `r` on `c` up to a point in its body where a thread has taken
    /// the request, and returns the rest, to send later. Three quarters in:
    /// past the first FCGI_STDIN record, which a FastCGI request waits for
    /// in the reactor, without a thread. AJP: the gateway asks for each
    /// packet after the first (GET_BODY_CHUNK), so the cut is a quarter
    /// into the second packet, sent once asked for, and the rest answer
    /// later asks (finish_body()).
    std::deque<std::string> cut_body(SocketClient& c, const ProtocolRequest& r) {
        if (!is("ajp")) {
            const std::string bytes = client_.encode(r);
            const std::size_t cut = client_.head(r).size() + r.body.size() * 3 / 4;
            EXPECT_TRUE(c.send(bytes.substr(0, cut)));
            return {bytes.substr(cut)};
        }
        std::deque<std::string> packets = test::ajp::body_packets(r.body, false);
        EXPECT_GE(packets.size(), 3u);
        EXPECT_TRUE(c.send(client_.head(r) + packets.front()));
        packets.pop_front();
        // GET_BODY_CHUNK: 'A' 'B', length 3, 0x06, the length asked for.
        const std::string ask = c.recv_exact(7, 5s);
        EXPECT_TRUE(ask.size() == 7 && ask.substr(0, 4) == std::string("AB\x00\x03", 4) &&
                    ask[4] == 6)
            << "no GET_BODY_CHUNK for the second packet";
        const std::string second = packets.front();
        packets.pop_front();
        EXPECT_TRUE(c.send(second.substr(0, second.size() / 4)));
        packets.push_front(second.substr(second.size() / 4));
        return packets;
    }

    /// Sends what cut_body() left, `rest`, the first piece in two halves,
    /// and reads the answer.
    ProtocolReply finish_body(SocketClient& c, std::deque<std::string> rest) {
        const std::string first = rest.front();
        rest.pop_front();
        EXPECT_TRUE(c.send(first.substr(0, first.size() / 2)));
        std::this_thread::sleep_for(20ms);
        EXPECT_TRUE(c.send(first.substr(first.size() / 2)));
        if (!is("ajp"))
            return client_.read(c, 10s);
        ProtocolReply reply;
        try {
            const test::ajp::Exchange ex = test::ajp::read_exchange(c, std::move(rest), false, 10s);
            reply.answered = ex.ended;
            reply.status = ex.status;
            reply.body = ex.body;
        } catch (const std::exception& e) {
            reply.error = e.what();
        }
        return reply;
    }

    bool is(const char* protocol) const { return std::string_view(GetParam()) == protocol; }

    /// Waits until the hand-off counter moves from `before`, and expects
    /// exactly one.
    static void expect_one_handoff(std::uint64_t before, const char* what) {
        test::wait_until([&] { return blocking_handoffs() != before; }, 5s, 1ms);
        EXPECT_EQ(blocking_handoffs(), before + 1) << what;
    }

    /// GETs `target`, whose response is big_, from a front end that does
    /// not read it: one thread is called in, requests on other connections
    /// are served meanwhile; then the front end reads every byte, in order,
    /// and the next request is served. One hand-off for the request,
    /// however many pieces the write took.
    void expect_write_handed_off(const char* target) {
        gateway_.start();
        const std::uint64_t before = blocking_handoffs();
        SocketClient slow(address());
        ProtocolRequest get;
        get.target = target;
        ASSERT_TRUE(slow.send(client_.encode(get)));
        expect_one_handoff(before, "the write waited without calling a thread in");
        for (int i = 0; i < 5; ++i)
            expect_served();
        const ProtocolReply r = client_.read(slow, 30s);
        ASSERT_TRUE(r.answered) << r.error;
        EXPECT_EQ(r.status, 200);
        ASSERT_EQ(r.body.size(), kBig);
        EXPECT_TRUE(r.body == big_) << "the response came back changed";
        expect_next_served(slow);
        EXPECT_EQ(blocking_handoffs(), before + 1);
    }

    static constexpr std::size_t kPiece = 64 << 10;
    std::atomic<std::uint64_t> partial_bytes_{0};
    std::atomic<int> partial_refused_{0};
    std::atomic<int> partial_done_{0};
    const std::string big_ = test::deterministic_bytes(kBig, 17);
    const std::string file_ = write_file(big_);
    InProcessGateway gateway_;
    ProtocolClient client_;
};

TEST_P(PollersOverEveryProtocol, AResponseWriteThatWaitsForTheFrontEndCallsAThreadIn) {
    expect_write_handed_off("/app/known");
}

TEST_P(PollersOverEveryProtocol, AFileSentToAFrontEndThatDoesNotReadCallsAThreadIn) {
    const std::uint64_t sendfile_before = sendfile_bytes();
    expect_write_handed_off("/app/file");
    if (is("http") || is("scgi") || is("uwsgi")) {
        EXPECT_EQ(sendfile_bytes() - sendfile_before, kBig) << "not sent with sendfile(2)";
    }
}

TEST_P(PollersOverEveryProtocol, ARequestBodyThatStopsHalfWayCallsAThreadIn) {
    gateway_.start();
    const std::uint64_t before = blocking_handoffs();
    const ProtocolRequest sum = post("/app/sum", 100'000, 5);
    SocketClient slow(address());
    std::deque<std::string> rest = cut_body(slow, sum);
    expect_one_handoff(before, "the body read waited without calling a thread in");
    for (int i = 0; i < 5; ++i)
        expect_served();
    // The rest: the whole body reaches the callback.
    const ProtocolReply r = finish_body(slow, std::move(rest));
    ASSERT_TRUE(r.answered) << r.error;
    EXPECT_EQ(r.body, "bytes=100000 fnv=" + std::to_string(fnv1a(sum.body)));
    expect_next_served(slow);
    EXPECT_EQ(blocking_handoffs(), before + 1);
}

TEST_P(PollersOverEveryProtocol, AFrontEndThatVanishesMidBodyLeavesNoThreadWaiting) {
    // The body stops part-way and the front end goes: the callback's read
    // is refused (never a clean end of a shorter body), it ends, and the
    // gateway goes on serving.
    gateway_.start();
    const ProtocolRequest partial = post("/app/partial", 100'000, 6);
    const std::uint64_t before = blocking_handoffs();
    {
        SocketClient slow(address());
        cut_body(slow, partial);
        expect_one_handoff(before, "the body read waited without calling a thread in");
    }  // the front end closes with the body unsent
    ASSERT_TRUE(test::wait_until([&] { return partial_done_.load() == 1; }, 5s))
        << "the callback still waits for a body whose front end is gone";
    EXPECT_EQ(partial_refused_.load(), 1) << "a cut body read as a whole one";
    EXPECT_LT(partial_bytes_.load(), 100'000u);
    for (int i = 0; i < 5; ++i)
        expect_served();
}

std::string name_of(const ::testing::TestParamInfo<const char*>& info) {
    return info.param;
}

INSTANTIATE_TEST_SUITE_P(Protocols, PollersOverEveryProtocol,
                         ::testing::Values("http", "fastcgi", "ajp", "scgi", "uwsgi"), name_of);

}  // namespace
}  // namespace postern
