// Test support: the client side of Server-Sent Events, written from the
// WHATWG HTML standard (§9.2.5 parsing an event stream, §9.2.6
// interpreting it), independent of postern::EventStream's encoder: an
// incremental parser, and a subscriber over a raw socket that decodes the
// response's chunked framing. Header-only.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "socket_client.hpp"

namespace postern::test {

struct SseEvent {
    std::string type;  ///< "message" when the stream named none
    std::string data;
    std::string last_id;  ///< the last event ID after this event
};

/// Bytes in, events out (§9.2.5-9.2.6): lines end with CRLF, LF or CR; one
/// space after a field's colon is dropped; a blank line dispatches unless
/// the data buffer is empty; the last LF of the data is removed; an id with
/// NUL is ignored; comments are counted.
class SseParser {
  public:
    std::vector<SseEvent> feed(std::string_view bytes) {
        pending_.append(bytes);
        std::vector<SseEvent> out;
        std::size_t i = 0;
        for (;;) {
            const std::size_t end = pending_.find_first_of("\r\n", i);
            if (end == std::string::npos)
                break;
            // A CR at the end of what arrived may be the first half of CRLF.
            if (pending_[end] == '\r' && end + 1 == pending_.size())
                break;
            const std::string line = pending_.substr(i, end - i);
            i = end + (pending_[end] == '\r' && pending_[end + 1] == '\n' ? 2 : 1);
            line_(line, out);
        }
        pending_.erase(0, i);
        return out;
    }
    /// Comment lines seen so far.
    int comments() const noexcept { return comments_; }
    /// The last `retry:` value seen, -1 before one.
    long long retry() const noexcept { return retry_; }

  private:
    void line_(std::string_view line, std::vector<SseEvent>& out) {
        if (line.empty()) {
            if (has_data_) {
                if (!data_.empty() && data_.back() == '\n')
                    data_.pop_back();
                out.push_back({type_.empty() ? "message" : type_, data_, last_id_});
            }
            data_.clear();
            type_.clear();
            has_data_ = false;
            return;
        }
        if (line[0] == ':') {
            ++comments_;
            return;
        }
        std::string_view field = line, value;
        if (const auto colon = line.find(':'); colon != std::string_view::npos) {
            field = line.substr(0, colon);
            value = line.substr(colon + 1);
            if (!value.empty() && value[0] == ' ')
                value.remove_prefix(1);
        }
        if (field == "data") {
            data_.append(value).append("\n");
            has_data_ = true;
        } else if (field == "event") {
            type_ = value;
        } else if (field == "id" && value.find('\0') == std::string_view::npos) {
            last_id_ = value;
        } else if (field == "retry" && !value.empty() &&
                   value.find_first_not_of("0123456789") == std::string_view::npos) {
            retry_ = std::stoll(std::string(value));
        }
    }

    std::string pending_;
    std::string data_, type_, last_id_;
    bool has_data_ = false;
    int comments_ = 0;
    long long retry_ = -1;
};

/// The events of a whole stream.
inline std::vector<SseEvent> parse_sse(std::string_view stream) {
    SseParser parser;
    return parser.feed(stream);
}

/// One EventSource-like subscription over HTTP/1.1 on a raw socket: sends
/// `GET target` (with Last-Event-ID when given), reads the head, then
/// decodes the chunked body into events. Every wait has a deadline.
class SseSubscriber {
  public:
    SseSubscriber(const std::string& address, const std::string& target,
                  const std::string& last_event_id = {})
        : socket_(address) {
        std::string req =
            "GET " + target + " HTTP/1.1\r\nHost: " + address + "\r\nAccept: text/event-stream\r\n";
        if (!last_event_id.empty())
            req += "Last-Event-ID: " + last_event_id + "\r\n";
        if (!socket_.send(req + "\r\n"))
            throw std::runtime_error("cannot send the subscription");
    }

    /// Waits for the response head; returns it ("" on timeout).
    std::string head(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (head_.empty()) {
            const auto end = raw_.find("\r\n\r\n");
            if (end != std::string::npos) {
                head_ = raw_.substr(0, end + 4);
                raw_.erase(0, end + 4);
                break;
            }
            if (!fill(deadline))
                return {};
        }
        return head_;
    }

    /// The next event, or nullopt on timeout or close.
    std::optional<SseEvent> next(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        if (head(timeout).empty())
            return std::nullopt;
        while (events_.empty()) {
            decode();
            if (!events_.empty())
                break;
            if (!fill(deadline))
                return std::nullopt;
        }
        SseEvent e = events_.front();
        events_.pop_front();
        return e;
    }

    /// Waits until `n` comments arrived in all; false on timeout.
    bool wait_comments(int n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        if (head(timeout).empty())
            return false;
        for (;;) {
            decode();
            if (parser_.comments() >= n)
                return true;
            if (!fill(deadline))
                return false;
        }
    }

    /// The chunked body ended (the server closed the stream).
    bool ended() const noexcept { return ended_; }
    const SseParser& parser() const noexcept { return parser_; }
    SocketClient& socket() noexcept { return socket_; }

  private:
    bool fill(std::chrono::steady_clock::time_point deadline) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0 || ended_)
            return false;
        const std::string got = socket_.recv_some(left);
        if (got.empty())
            return false;
        raw_ += got;
        return true;
    }

    /// Takes whole chunks from raw_ into the parser.
    void decode() {
        for (;;) {
            const auto eol = raw_.find("\r\n");
            if (eol == std::string::npos)
                return;
            const std::size_t size = std::stoul(raw_.substr(0, eol), nullptr, 16);
            if (size == 0) {
                ended_ = true;
                raw_.clear();
                return;
            }
            if (raw_.size() < eol + 2 + size + 2)
                return;
            for (auto& e : parser_.feed(std::string_view(raw_).substr(eol + 2, size)))
                events_.push_back(std::move(e));
            raw_.erase(0, eol + 2 + size + 2);
        }
    }

    SocketClient socket_;
    std::string raw_;
    std::string head_;
    bool ended_ = false;
    SseParser parser_;
    std::deque<SseEvent> events_;
};

}  // namespace postern::test
