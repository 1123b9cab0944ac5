#include "core/detached.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "core/log.hpp"
#include "postern/stream.hpp"

namespace postern {

namespace {

// Bytes read per look at a connection before others get their turn; the
// rest waits for the next look (the channel wakes itself).
constexpr std::size_t kReadPerLook = 256 * 1024;
// Sent bytes are dropped from the front of the queue once this many pile up.
constexpr std::size_t kCompactAt = 64 * 1024;
constexpr auto kNoDeadline = std::chrono::steady_clock::time_point::max();

}  // namespace

Channel::Channel(std::unique_ptr<DetachedFraming> framing, std::optional<ResponseHead> head,
                 HeaderList headers, std::string body, bool hold, std::size_t max_queued)
    : framing_(std::move(framing)),
      head_(std::move(head)),
      headers_(std::move(headers)),
      held_body_(std::move(body)),
      max_queued_(max_queued) {
    if (head_) {
        head_->headers = &headers_;
        no_body_ = head_->head_only || !status_has_body(head_->status);
        if (head_->content_length && !no_body_)
            length_left_ = *head_->content_length;
    }
    held_ = head_.has_value() || !held_body_.empty();
    if (!hold)
        release_locked();
}

Channel::~Channel() = default;

void Channel::release_locked() {
    if (!held_)
        return;
    held_ = false;
    if (head_) {
        framing_->head(*head_, out_);
        head_.reset();
    }
    if (!held_body_.empty() && !no_body_) {
        body_bytes_ += held_body_.size();
        if (length_left_)
            *length_left_ -= std::min<std::uint64_t>(*length_left_, held_body_.size());
        framing_->body(held_body_, out_);
    }
    held_body_.clear();
    held_body_.shrink_to_fit();
}

bool Channel::queue_locked(std::string_view data, bool raw) {
    if (closed_ || gone_ || ending_)
        return false;
    if (no_body_ && !raw)
        return true;  // HEAD, 204, 304: the head alone goes out
    if (!raw && length_left_ && data.size() > *length_left_)
        return false;  // past the declared Content-Length
    const std::size_t waiting = out_.size() - sent_;
    if (waiting > 0 && waiting + data.size() > max_queued_)
        return false;
    release_locked();
    if (!data.empty()) {
        if (raw)
            out_.append(data);
        else
            framing_->body(data, out_);
        body_bytes_ += data.size();
        if (length_left_ && !raw)
            *length_left_ -= data.size();
    }
    if (waiting == 0)
        progress_ = std::chrono::steady_clock::now();
    if (fd_ >= 0 && !send_locked())
        wake_locked();
    return !gone_;
}

bool Channel::write(std::string_view data) {
    std::lock_guard lock(mutex_);
    return queue_locked(data, false);
}

bool Channel::write_raw(std::string_view bytes) {
    std::lock_guard lock(mutex_);
    return queue_locked(bytes, true);
}

void Channel::end() {
    std::lock_guard lock(mutex_);
    if (closed_ || ending_)
        return;
    ending_ = true;
    if (gone_)
        return;
    if (sent_ == out_.size())
        progress_ = std::chrono::steady_clock::now();  // the write timeout starts now
    release_locked();
    framing_->end(out_);
    complete_ = !length_left_ || *length_left_ == 0;
    if (fd_ >= 0) {
        send_locked();
        wake_locked();  // the stream thread closes once everything is sent
    }
}

void Channel::end_lingering(std::chrono::milliseconds linger) {
    {
        std::lock_guard lock(mutex_);
        if (closed_ || ending_)
            return;
        linger_ = true;
        deadline_ = std::min(deadline_, std::chrono::steady_clock::now() + linger);
    }
    end();
}

void Channel::cut() {
    std::lock_guard lock(mutex_);
    if (closed_)
        return;
    ending_ = true;
    linger_ = false;  // at once, even when an end_lingering() waits for the client
    complete_ = false;
    out_.clear();
    sent_ = 0;
    if (fd_ >= 0)
        wake_locked();
}

void Channel::on_going_away(std::function<void()> fn) {
    std::lock_guard lock(mutex_);
    if (!closed_)
        going_away_ = std::move(fn);
}

void Channel::going_away() {
    std::function<void()> fn;
    {
        std::lock_guard lock(mutex_);
        if (closed_)
            return;
        // Already ending (or gone): nothing to say; the end goes on as it
        // was, or at once.
        if (!ending_ && !gone_)
            fn = going_away_;
    }
    if (fn)
        fn();
    else
        cut();
}

bool Channel::open() const {
    std::lock_guard lock(mutex_);
    return !closed_ && !gone_ && !ending_;
}

std::size_t Channel::queued() const {
    std::lock_guard lock(mutex_);
    return out_.size() - sent_;
}

std::uint64_t Channel::body_bytes() const {
    std::lock_guard lock(mutex_);
    return body_bytes_;
}

void Channel::on_close(std::function<void()> fn) {
    {
        std::lock_guard lock(mutex_);
        if (!closed_) {
            on_close_ = std::move(fn);
            return;
        }
    }
    if (fn)
        fn();
}

void Channel::on_finished(std::function<void(std::uint64_t, bool)> fn) {
    std::lock_guard lock(mutex_);
    finished_ = std::move(fn);
}

void Channel::set_reader(std::function<bool(std::string_view)> reader) {
    std::lock_guard lock(mutex_);
    reader_ = std::move(reader);
}

bool Channel::send_locked() {
    while (sent_ < out_.size()) {
        const ssize_t n =
            ::send(fd_, out_.data() + sent_, out_.size() - sent_, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            sent_ += static_cast<std::size_t>(n);
            progress_ = std::chrono::steady_clock::now();
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            time_locked();  // the write timeout runs until the socket takes more
            break;          // the stream thread sends the rest when epoll says it can
        }
        gone_ = true;
        out_.clear();
        sent_ = 0;
        return false;
    }
    if (sent_ == out_.size()) {
        // An idle stream holds no buffer once a burst went out.
        if (out_.capacity() > kCompactAt)
            std::string().swap(out_);
        else
            out_.clear();
        sent_ = 0;
    } else if (sent_ >= kCompactAt && sent_ * 2 >= out_.size()) {
        out_.erase(0, sent_);
        sent_ = 0;
    }
    return true;
}

bool Channel::finished_locked() const {
    return gone_ || (ending_ && sent_ == out_.size() && !linger_);
}

void Channel::wake_locked() {
    if (woken_ || loop_ == nullptr || closed_)
        return;
    woken_ = true;
    loop_->wake(shared_from_this());
}

void Channel::time_locked() {
    if (timed_ || loop_ == nullptr || closed_)
        return;
    timed_ = true;
    loop_->time(weak_from_this());
}

void Channel::close_by(std::chrono::steady_clock::time_point deadline) {
    std::lock_guard lock(mutex_);
    deadline_ = std::min(deadline_, deadline);
    time_locked();  // before attach: attach() does
}

bool Channel::check(std::chrono::steady_clock::time_point now) {
    {
        std::lock_guard lock(mutex_);
        if (closed_ || fd_ < 0) {
            timed_ = false;
            return false;
        }
        if (!stalled_locked(now)) {
            if (sent_ < out_.size() || deadline_ != kNoDeadline)
                return true;
            timed_ = false;  // back on the list when a send leaves bytes again
            return false;
        }
    }
    cut();  // not shutdown(2): see Reactor::hand_over; the stream thread closes it
    return false;
}

bool Channel::stalled(std::chrono::steady_clock::time_point now) const {
    std::lock_guard lock(mutex_);
    return stalled_locked(now);
}

bool Channel::stalled_locked(std::chrono::steady_clock::time_point now) const {
    if (closed_ || fd_ < 0)
        return false;
    if (gone_ || now >= deadline_)
        return true;
    return sent_ < out_.size() && now - progress_ > write_timeout_;
}

void Channel::attach(StreamLoop& loop, void* source, std::chrono::milliseconds write_timeout) {
    std::lock_guard lock(mutex_);
    loop_ = &loop;
    source_ = source;
    write_timeout_ = write_timeout;
    input_ = framing_->take_input();
    // What was queued before (a WebSocket's 101) waits for the stream
    // thread's first look: the write timeout counts from now, not from a
    // progress_ never set (the sweeper would take it for stalled).
    progress_ = std::chrono::steady_clock::now();
    fd_ = framing_->fd();
    loop.opened();
    if (deadline_ != kNoDeadline)
        time_locked();
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = this;
    if (fd_ < 0 || ::epoll_ctl(loop.epoll_fd(), EPOLL_CTL_ADD, fd_, &ev) != 0) {
        if (fd_ >= 0)
            log::error(std::string("epoll_ctl on a detached connection: ") + std::strerror(errno));
        gone_ = true;
    }
    // The first look: what was queued before (the held head goes out with
    // the first write), the input the adapter read past the request.
    wake_locked();
}

void Channel::abandon() {
    std::unique_lock lock(mutex_);
    if (closed_)
        return;
    gone_ = true;
    close_locked(lock);
}

void Channel::close_locked(std::unique_lock<std::mutex>& lock) {
    // Release the descriptor (the reactor closes it), then run the
    // callbacks once, outside the lock.
    closed_ = true;
    if (fd_ >= 0 && loop_ != nullptr)
        ::epoll_ctl(loop_->epoll_fd(), EPOLL_CTL_DEL, fd_, nullptr);
    fd_ = -1;
    const bool complete = complete_ && !gone_;
    out_.clear();
    sent_ = 0;
    auto finished = std::move(finished_);
    auto on_close = std::move(on_close_);
    auto reader = std::move(reader_);
    auto going_away = std::move(going_away_);
    const std::uint64_t bytes = body_bytes_;
    lock.unlock();
    reader = nullptr;  // may own what refers back to this channel
    going_away = nullptr;
    try {
        if (finished)
            finished(bytes, complete);
        if (on_close)
            on_close();
    } catch (const std::exception& e) {
        log::error(std::string("a detached response's on_close threw: ") + e.what());
    } catch (...) {
        log::error("a detached response's on_close threw a non-standard exception");
    }
}

bool Channel::service(std::uint32_t events) {
    std::unique_lock lock(mutex_);
    if (closed_)
        return false;
    woken_ = false;
    if (events & (EPOLLERR | EPOLLHUP))
        gone_ = true;
    if (!gone_ && sent_ < out_.size())
        send_locked();
    // Read what came (edge-triggered: until the socket has no more, or a
    // look's worth, then another look), and hand it to the reader.
    bool more = false;
    if (!gone_ && ((events & (EPOLLIN | EPOLLRDHUP)) != 0 || (events == 0 && fd_ >= 0))) {
        char buf[16384];
        std::size_t taken = 0;
        for (;;) {
            if (taken >= kReadPerLook) {
                more = true;
                break;
            }
            const ssize_t n = ::recv(fd_, buf, sizeof(buf), MSG_DONTWAIT);
            if (n > 0) {
                taken += static_cast<std::size_t>(n);
                if (reader_ && !reading_stopped_)
                    input_.append(buf, static_cast<std::size_t>(n));
                continue;
            }
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            gone_ = true;  // end of file, or an error
            break;
        }
    }
    while (!input_.empty() && reader_ && !reading_stopped_ && !closed_) {
        std::string bytes;
        bytes.swap(input_);
        auto reader = reader_;
        lock.unlock();
        const bool go_on = reader(bytes);
        lock.lock();
        if (!go_on)
            reading_stopped_ = true;
    }
    if (!reader_ || reading_stopped_)
        input_.clear();
    if (linger_ && ending_ && !gone_ && !write_shut_ && sent_ == out_.size()) {
        // All sent: the client reads it, then the end of file; the
        // connection closes when the client's end of file arrives (gone_)
        // or at the deadline (the sweeper).
        ::shutdown(fd_, SHUT_WR);
        write_shut_ = true;
    }
    if (!finished_locked()) {
        if (more)
            wake_locked();
        return false;
    }
    close_locked(lock);
    return true;
}

// --- The stream thread -------------------------------------------------------

StreamLoop::StreamLoop(std::function<void(void*)> close) : close_(std::move(close)) {
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (epoll_fd_ < 0 || wake_fd_ < 0)
        throw std::runtime_error(std::string("stream thread: ") + std::strerror(errno));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = nullptr;  // the wake-up
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
}

StreamLoop::~StreamLoop() {
    stop();
    ::close(epoll_fd_);
    ::close(wake_fd_);
}

void StreamLoop::start() {
    thread_ = std::thread([this] { run(); });
}

void StreamLoop::stop() {
    if (!thread_.joinable())
        return;
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    std::uint64_t one = 1;
    [[maybe_unused]] ssize_t w = ::write(wake_fd_, &one, sizeof(one));
    thread_.join();
}

void StreamLoop::wake(std::shared_ptr<Channel> channel) {
    bool first;
    {
        std::lock_guard lock(mutex_);
        first = woken_.empty();
        woken_.push_back(std::move(channel));
    }
    if (first) {
        std::uint64_t one = 1;
        [[maybe_unused]] ssize_t w = ::write(wake_fd_, &one, sizeof(one));
    }
}

void StreamLoop::time(std::weak_ptr<Channel> channel) {
    std::lock_guard lock(timed_mutex_);
    timed_.push_back(std::move(channel));
}

void StreamLoop::check(std::chrono::steady_clock::time_point now) {
    std::vector<std::weak_ptr<Channel>> looking;
    {
        std::lock_guard lock(timed_mutex_);
        if (timed_.empty())
            return;
        looking.swap(timed_);
    }
    // Outside the list's lock: a channel's lock comes first (time_locked).
    std::erase_if(looking, [now](const std::weak_ptr<Channel>& weak) {
        const std::shared_ptr<Channel> channel = weak.lock();
        return !channel || !channel->check(now);
    });
    std::lock_guard lock(timed_mutex_);
    timed_.insert(timed_.end(), std::make_move_iterator(looking.begin()),
                  std::make_move_iterator(looking.end()));
}

std::size_t StreamLoop::timed() const {
    std::lock_guard lock(timed_mutex_);
    return timed_.size();
}

void StreamLoop::run() {
    epoll_event events[64];
    std::vector<std::shared_ptr<Channel>> woken;
    std::vector<void*> closing;
    for (;;) {
        const int n = ::epoll_wait(epoll_fd_, events, 64, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            log::error(std::string("epoll_wait (stream thread) failed: ") + std::strerror(errno));
            return;
        }
        for (int i = 0; i < n; ++i) {
            if (events[i].data.ptr == nullptr) {
                std::uint64_t count;
                [[maybe_unused]] ssize_t r = ::read(wake_fd_, &count, sizeof(count));
                std::lock_guard lock(mutex_);
                if (stop_)
                    return;
                woken.swap(woken_);
                continue;
            }
            auto* channel = static_cast<Channel*>(events[i].data.ptr);
            if (channel->service(events[i].events))
                closing.push_back(channel->source());
        }
        for (auto& channel : woken)
            if (channel->service(0))
                closing.push_back(channel->source());
        // Closed only now: a later event of the same batch may still have
        // named one of these channels (service() then did nothing).
        woken.clear();
        for (void* source : closing) {
            open_.fetch_sub(1, std::memory_order_relaxed);
            close_(source);
        }
        closing.clear();
    }
}

// --- Stream ------------------------------------------------------------------

Stream::Stream(std::shared_ptr<Channel> channel) : channel_(std::move(channel)) {}

Stream::~Stream() {
    channel_->end();
}

bool Stream::write(std::string_view data) {
    return channel_->write(data);
}

void Stream::close() {
    channel_->end();
}

void Stream::on_close(std::function<void()> fn) {
    channel_->on_close(std::move(fn));
}

bool Stream::open() const {
    return channel_->open();
}

std::size_t Stream::queued() const {
    return channel_->queued();
}

// --- Response::detach ----------------------------------------------------------

std::unique_ptr<DetachedFraming> ResponseSink::detach_framing() {
    return nullptr;
}

std::shared_ptr<Stream> Response::detach() {
    if (channel_)
        throw std::logic_error("response detached twice");
    if (finished_)
        throw std::logic_error("detach after the response finished");
    if (declared_length_ && !committed_ && buffer_.size() > *declared_length_)
        throw std::logic_error("callback wrote more than its Content-Length of " +
                               std::to_string(*declared_length_) + " bytes");
    std::optional<ResponseHead> head;
    std::string body;
    if (committed_) {
        send_buffer_then(&ResponseSink::flush);
    } else {
        ResponseHead h;
        h.status = status_;
        h.head_only = head_only_;
        if (status_has_body(status_))
            h.content_length = declared_length_;
        head = h;
        body.swap(buffer_);
    }
    std::unique_ptr<DetachedFraming> framing = sink_.detach_framing();
    if (!framing)
        throw std::logic_error("this protocol cannot stream a response past its callback");
    channel_ = std::make_shared<Channel>(std::move(framing), head, headers_, std::move(body), true,
                                         Stream::kMaxQueued);
    if (gone_)
        channel_->cut();
    committed_ = true;
    finished_ = true;
    return std::make_shared<Stream>(channel_);
}

std::shared_ptr<Channel> Response::detach_channel(int status, HeaderList headers,
                                                  std::size_t max_queued) {
    if (channel_)
        throw std::logic_error("response detached twice");
    if (finished_ || committed_)
        throw std::logic_error("upgrade after the response started");
    std::unique_ptr<DetachedFraming> framing = sink_.detach_framing();
    if (!framing)
        throw std::logic_error("this protocol cannot stream a response past its callback");
    ResponseHead head;
    head.status = status;
    channel_ = std::make_shared<Channel>(std::move(framing), head, std::move(headers),
                                         std::string(), false, max_queued);
    status_ = status;  // what the access log and the counters see
    committed_ = true;
    finished_ = true;
    return channel_;
}

}  // namespace postern
