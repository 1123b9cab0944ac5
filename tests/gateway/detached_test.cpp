// The engine of detached responses (core/detached.hpp): a Channel on one
// end of a socket pair, its StreamLoop, and a test framing that marks the
// head, every body piece and the end.
#include "core/detached.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "postern/stream.hpp"
#include "recording_sink.hpp"

namespace postern {
namespace {

using namespace std::chrono_literals;

class MarkedFraming : public DetachedFraming {
  public:
    MarkedFraming(int fd, std::string input = {}) : fd_(fd), input_(std::move(input)) {}
    int fd() const noexcept override { return fd_; }
    void head(const ResponseHead& head, std::string& out) override {
        out += "H" + std::to_string(head.status);
        if (head.headers != nullptr)
            for (const auto& [name, value] : *head.headers)
                out += "|" + name + "=" + value;
        out += "\n";
    }
    void body(std::string_view data, std::string& out) override {
        out += "B" + std::to_string(data.size()) + ":";
        out += data;
    }
    void end(std::string& out) override { out += "E"; }
    std::string take_input() override { return std::move(input_); }

  private:
    int fd_;
    std::string input_;
};

/// A socket pair: ours_ goes to the channel, peer_ is the client.
class DetachedTest : public ::testing::Test {
  protected:
    void SetUp() override {
        int sv[2];
        ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        ours_ = sv[0];
        peer_ = sv[1];
        loop_.start();
    }
    void TearDown() override {
        // The loop first: a channel still in its epoll set must outlive it.
        loop_.stop();
        keep_.clear();
        if (peer_ >= 0)
            ::close(peer_);
        if (ours_ >= 0)
            ::close(ours_);
    }

    std::shared_ptr<Channel> make(bool hold = true, std::size_t max_queued = 1 << 20,
                                  std::string input = {}) {
        ResponseHead head;
        head.status = 200;
        keep_.push_back(
            std::make_shared<Channel>(std::make_unique<MarkedFraming>(ours_, std::move(input)),
                                      head, HeaderList{{"X-A", "1"}}, "pre", hold, max_queued));
        return keep_.back();
    }
    /// Keeps a channel alive until the loop stopped.
    void keep(const std::shared_ptr<Channel>& ch) { keep_.push_back(ch); }

    /// Reads from the peer until `want` bytes came or `timeout` passed.
    std::string read_peer(std::size_t want, std::chrono::milliseconds timeout = 2000ms) {
        std::string got;
        const auto until = std::chrono::steady_clock::now() + timeout;
        while (got.size() < want && std::chrono::steady_clock::now() < until) {
            pollfd p{peer_, POLLIN, 0};
            if (::poll(&p, 1, 20) <= 0)
                continue;
            char buf[65536];
            const ssize_t n = ::recv(peer_, buf, sizeof(buf), 0);
            if (n <= 0)
                break;
            got.append(buf, static_cast<std::size_t>(n));
        }
        return got;
    }

    /// Waits until the loop closed the channel's source.
    bool wait_closed(std::chrono::milliseconds timeout = 2000ms) {
        std::unique_lock lock(mutex_);
        return cv_.wait_for(lock, timeout, [&] { return closed_ > 0; });
    }

    int ours_ = -1;
    int peer_ = -1;
    std::mutex mutex_;
    std::condition_variable cv_;
    int closed_ = 0;
    void* closed_source_ = nullptr;
    StreamLoop loop_{[this](void* source) {
        std::lock_guard lock(mutex_);
        ++closed_;
        closed_source_ = source;
        cv_.notify_all();
    }};
    int source_tag_ = 0;
    std::vector<std::shared_ptr<Channel>> keep_;
};

TEST_F(DetachedTest, HeldHeadAndBodyGoOutWithTheFirstWrite) {
    auto ch = make();
    ch->attach(loop_, &source_tag_, 1000ms);
    EXPECT_EQ(read_peer(1, 150ms), "");  // nothing before the first write
    EXPECT_TRUE(ch->write("abc"));
    const std::string want = "H200|X-A=1\nB3:preB3:abc";
    EXPECT_EQ(read_peer(want.size()), want);
    ch->end();
    EXPECT_EQ(read_peer(1), "E");
    ASSERT_TRUE(wait_closed());
    EXPECT_EQ(closed_source_, &source_tag_);
    EXPECT_FALSE(ch->open());
    EXPECT_FALSE(ch->write("late"));
}

TEST_F(DetachedTest, WritesBeforeAttachWaitForIt) {
    auto ch = make();
    EXPECT_TRUE(ch->write("x"));
    EXPECT_EQ(read_peer(1, 100ms), "");
    ch->attach(loop_, &source_tag_, 1000ms);
    const std::string want = "H200|X-A=1\nB3:preB1:x";
    EXPECT_EQ(read_peer(want.size()), want);
}

TEST_F(DetachedTest, UnheldHeadGoesOutAtAttach) {
    auto ch = make(false);
    ch->attach(loop_, &source_tag_, 1000ms);
    const std::string want = "H200|X-A=1\nB3:pre";
    EXPECT_EQ(read_peer(want.size()), want);
}

TEST_F(DetachedTest, EndWithoutWritesSendsTheHeadAndTheEnd) {
    auto ch = make();
    ch->attach(loop_, &source_tag_, 1000ms);
    ch->end();
    ch->end();  // idempotent
    const std::string want = "H200|X-A=1\nB3:preE";
    EXPECT_EQ(read_peer(want.size()), want);
    ASSERT_TRUE(wait_closed());
    EXPECT_EQ(closed_, 1);
}

TEST_F(DetachedTest, OnCloseRunsOnceWhenThePeerGoesAway) {
    auto ch = make();
    std::atomic<int> calls{0};
    std::atomic<int> finished{0};
    ch->on_close([&] { ++calls; });
    ch->on_finished([&](std::uint64_t, bool complete) {
        EXPECT_FALSE(complete);
        ++finished;
    });
    ch->attach(loop_, &source_tag_, 1000ms);
    ASSERT_TRUE(ch->write("a"));
    ::close(peer_);
    peer_ = -1;
    ASSERT_TRUE(wait_closed());
    EXPECT_EQ(calls.load(), 1);
    EXPECT_EQ(finished.load(), 1);
    EXPECT_FALSE(ch->write("b"));
    ch->end();
    EXPECT_EQ(calls.load(), 1);
    // Set after the end: called at once.
    bool late = false;
    ch->on_close([&] { late = true; });
    EXPECT_TRUE(late);
}

TEST_F(DetachedTest, QueueIsBoundedForAClientThatReadsNothing) {
    constexpr std::size_t kBound = 256 * 1024;
    auto ch = make(true, kBound);
    ch->attach(loop_, &source_tag_, 60'000ms);
    const std::string piece(16 * 1024, 'z');
    int accepted = 0;
    int refused = 0;
    for (int i = 0; i < 1000; ++i)
        (ch->write(piece) ? accepted : refused)++;
    EXPECT_GT(refused, 0);
    EXPECT_LE(ch->queued(), kBound + piece.size() + 64);
    EXPECT_TRUE(ch->open());  // a refusal does not end the stream
    // Once the client reads, the queue drains and writes succeed again.
    std::size_t total = 0;
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (ch->queued() > 0 && std::chrono::steady_clock::now() < until)
        total += read_peer(1 << 20, 50ms).size();
    EXPECT_EQ(ch->queued(), 0u);
    EXPECT_TRUE(ch->write("again"));
    EXPECT_GT(total, static_cast<std::size_t>(accepted) * piece.size());
}

TEST_F(DetachedTest, StalledAfterTheWriteTimeout) {
    auto ch = make(true, 64 << 20);
    ch->attach(loop_, &source_tag_, 100ms);
    const std::string piece(1 << 20, 'q');
    for (int i = 0; i < 8; ++i)
        ch->write(piece);
    ASSERT_GT(ch->queued(), 0u);
    EXPECT_FALSE(ch->stalled(std::chrono::steady_clock::now()));
    EXPECT_TRUE(ch->stalled(std::chrono::steady_clock::now() + 200ms));
    // The sweeper shuts the socket down; the loop then ends the channel.
    ::shutdown(ours_, SHUT_RDWR);
    ASSERT_TRUE(wait_closed());
    EXPECT_FALSE(ch->open());
}

TEST_F(DetachedTest, OnlyChannelsWithATimeoutRunningAreOnTheTimedList) {
    // The sweeper's look at detached responses (StreamLoop::check) walks
    // the timed list, not every open stream: an idle stream is not on it.
    auto ch = make(true, 64 << 20);
    ch->attach(loop_, &source_tag_, 100ms);
    ASSERT_TRUE(ch->write("abc"));
    EXPECT_FALSE(read_peer(1).empty());
    EXPECT_EQ(loop_.timed(), 0u);
    // The client stops reading: bytes wait, the write timeout runs.
    const std::string piece(1 << 20, 'q');
    for (int i = 0; i < 8 && ch->queued() == 0; ++i)
        ch->write(piece);
    ASSERT_GT(ch->queued(), 0u);
    EXPECT_EQ(loop_.timed(), 1u);
    ch->write(piece);  // once on the list is enough
    EXPECT_EQ(loop_.timed(), 1u);
    // Before the timeout, it stays; the client reads everything, and the
    // next look drops it.
    loop_.check(std::chrono::steady_clock::now());
    EXPECT_EQ(loop_.timed(), 1u);
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (ch->queued() > 0 && std::chrono::steady_clock::now() < until)
        read_peer(1 << 22, 50ms);
    ASSERT_EQ(ch->queued(), 0u);
    loop_.check(std::chrono::steady_clock::now() + 1h);
    EXPECT_EQ(loop_.timed(), 0u);
    EXPECT_TRUE(ch->open());  // an idle stream is never stalled
    // Stuck again: past the write timeout the look ends it.
    for (int i = 0; i < 64 && ch->queued() == 0; ++i)
        ch->write(piece);
    ASSERT_GT(ch->queued(), 0u);
    EXPECT_EQ(loop_.timed(), 1u);
    loop_.check(std::chrono::steady_clock::now() + 200ms);
    ASSERT_TRUE(wait_closed());
    EXPECT_FALSE(ch->open());
    loop_.check(std::chrono::steady_clock::now());
    EXPECT_EQ(loop_.timed(), 0u);
}

TEST_F(DetachedTest, ACloseByDeadlineEndsTheChannelAtTheNextLookPastIt) {
    auto ch = make(false);
    ch->attach(loop_, &source_tag_, 60'000ms);
    EXPECT_FALSE(read_peer(1).empty());  // the head and "pre"
    EXPECT_EQ(loop_.timed(), 0u);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    ch->close_by(deadline);
    EXPECT_EQ(loop_.timed(), 1u);
    loop_.check(deadline - 1s);
    EXPECT_TRUE(ch->open());
    EXPECT_EQ(loop_.timed(), 1u);
    loop_.check(deadline);
    ASSERT_TRUE(wait_closed());
    EXPECT_FALSE(ch->open());
}

TEST_F(DetachedTest, ADeadlineSetBeforeTheAttachIsTimedFromIt) {
    auto ch = make(false);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    ch->close_by(deadline);
    EXPECT_EQ(loop_.timed(), 0u);  // no loop yet
    ch->attach(loop_, &source_tag_, 60'000ms);
    EXPECT_EQ(loop_.timed(), 1u);
    loop_.check(deadline);
    ASSERT_TRUE(wait_closed());
}

TEST_F(DetachedTest, ReaderGetsEarlyInputThenWhatArrives) {
    auto ch = make(false, 1 << 20, "early:");
    std::mutex m;
    std::string seen;
    ch->set_reader([&](std::string_view bytes) {
        std::lock_guard lock(m);
        seen.append(bytes);
        return true;
    });
    ch->attach(loop_, &source_tag_, 1000ms);
    ASSERT_EQ(::send(peer_, "late", 4, 0), 4);
    const auto until = std::chrono::steady_clock::now() + 2s;
    for (;;) {
        {
            std::lock_guard lock(m);
            if (seen == "early:late" || std::chrono::steady_clock::now() > until)
                break;
        }
        std::this_thread::sleep_for(5ms);
    }
    std::lock_guard lock(m);
    EXPECT_EQ(seen, "early:late");
}

TEST_F(DetachedTest, BytesFromAClientWithoutAReaderAreDroppedAndTheStreamGoesOn) {
    // A stream (no reader) whose client sends 4 MiB of junk after the
    // request: read and dropped, the stream still writes, and the client's
    // end of file ends it.
    auto ch = make(false);
    ch->attach(loop_, &source_tag_, 5000ms);
    const std::string head = "H200|X-A=1\nB3:pre";
    ASSERT_EQ(read_peer(head.size()), head);
    const std::string junk(64 * 1024, 'j');
    for (int i = 0; i < 64; ++i)
        ASSERT_EQ(::send(peer_, junk.data(), junk.size(), 0), static_cast<ssize_t>(junk.size()));
    EXPECT_TRUE(ch->open());
    EXPECT_TRUE(ch->write("still"));
    EXPECT_EQ(read_peer(8), "B5:still");
    ::shutdown(peer_, SHUT_WR);
    ASSERT_TRUE(wait_closed());
    EXPECT_FALSE(ch->open());
}

TEST_F(DetachedTest, ConcurrentWritersNeverInterleaveAPiece) {
    auto ch = make(false, 64 << 20);
    ch->attach(loop_, &source_tag_, 5000ms);
    const std::string head = "H200|X-A=1\nB3:pre";
    ASSERT_EQ(read_peer(head.size()), head);
    constexpr int kThreads = 4;
    constexpr int kWrites = 200;
    std::vector<std::thread> writers;
    for (int t = 0; t < kThreads; ++t)
        writers.emplace_back([&, t] {
            const std::string piece(100, static_cast<char>('a' + t));
            for (int i = 0; i < kWrites; ++i)
                ASSERT_TRUE(ch->write(piece));
        });
    const std::size_t want = kThreads * kWrites * (100 + 5);  // "B100:" + 100
    std::string got = read_peer(want, 5000ms);
    for (auto& w : writers)
        w.join();
    got += read_peer(want - got.size(), 2000ms);
    ASSERT_EQ(got.size(), want);
    for (std::size_t at = 0; at < got.size(); at += 105) {
        ASSERT_EQ(got.substr(at, 5), "B100:");
        EXPECT_EQ(got.substr(at + 5, 100), std::string(100, got[at + 5]));
    }
}

TEST_F(DetachedTest, CutDropsWhatIsQueuedAndEnds) {
    auto ch = make();
    std::atomic<bool> complete{true};
    ch->on_finished([&](std::uint64_t, bool c) { complete = c; });
    ch->attach(loop_, &source_tag_, 1000ms);
    ch->cut();
    ASSERT_TRUE(wait_closed());
    EXPECT_FALSE(complete.load());
    EXPECT_FALSE(ch->write("x"));
}

TEST_F(DetachedTest, AbandonLetsGoAndRunsTheCallbacks) {
    auto ch = make();
    int calls = 0;
    ch->on_close([&] { ++calls; });
    ch->abandon();
    ch->abandon();
    EXPECT_EQ(calls, 1);
    EXPECT_FALSE(ch->write("x"));
}

TEST_F(DetachedTest, StreamClosesWhenItsLastOwnerGoes) {
    auto ch = make();
    ch->attach(loop_, &source_tag_, 1000ms);
    {
        Stream s(ch);
        EXPECT_TRUE(s.open());
        EXPECT_TRUE(s.write("1"));
    }
    const std::string want = "H200|X-A=1\nB3:preB1:1E";
    EXPECT_EQ(read_peer(want.size()), want);
    ASSERT_TRUE(wait_closed());
}

/// A sink that can detach, with the marked framing on a given descriptor.
class DetachingSink : public test::RecordingSink {
  public:
    explicit DetachingSink(int fd) : fd_(fd) {}
    std::unique_ptr<DetachedFraming> detach_framing() override {
        events.push_back("detach");
        return std::make_unique<MarkedFraming>(fd_);
    }

  private:
    int fd_;
};

TEST_F(DetachedTest, ResponseDetachHoldsTheHeadForTheFirstWrite) {
    DetachingSink sink(ours_);
    Response res(sink, false);
    res.status(201);
    res.header("X-B", "2");
    res.write("pre");
    std::shared_ptr<Stream> s = res.detach();
    keep(res.channel());
    EXPECT_TRUE(res.detached());
    EXPECT_EQ(sink.heads, 0);  // nothing through the sink
    EXPECT_THROW(res.write("x"), std::logic_error);
    EXPECT_THROW(res.detach(), std::logic_error);
    EXPECT_TRUE(res.finish());  // the core's finish() is a no-op now
    EXPECT_EQ(sink.finishes, 0);
    res.channel()->attach(loop_, &source_tag_, 1000ms);
    EXPECT_TRUE(s->write("abc"));
    const std::string want = "H201|X-B=2\nB3:preB3:abc";
    EXPECT_EQ(read_peer(want.size()), want);
}

TEST_F(DetachedTest, ResponseFlushedBeforeDetachContinuesItsBody) {
    DetachingSink sink(ours_);
    Response res(sink, false);
    res.write("first");
    ASSERT_TRUE(res.flush());
    auto s = res.detach();
    keep(res.channel());
    EXPECT_EQ(sink.heads, 1);
    EXPECT_EQ(sink.body, "first");
    res.channel()->attach(loop_, &source_tag_, 1000ms);
    EXPECT_TRUE(s->write("more"));
    s->close();
    const std::string want = "B4:moreE";  // no second head
    EXPECT_EQ(read_peer(want.size()), want);
}

TEST_F(DetachedTest, HeadRequestSendsTheHeadAndDropsTheBody) {
    DetachingSink sink(ours_);
    Response res(sink, true);
    auto s = res.detach();
    keep(res.channel());
    res.channel()->attach(loop_, &source_tag_, 1000ms);
    EXPECT_TRUE(s->write("dropped"));
    s->close();
    const std::string want = "H200\nE";
    EXPECT_EQ(read_peer(want.size() + 10, 300ms), want);
}

TEST(DetachedResponse, AProtocolThatCannotStreamRefuses) {
    test::RecordingSink sink;
    Response res(sink, false);
    EXPECT_THROW(res.detach(), std::logic_error);
}

}  // namespace
}  // namespace postern
