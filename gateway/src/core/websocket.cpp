// Postern core: WebSocket (postern/websocket.hpp), a detached response's
// Channel (core/detached.hpp) driven by the RFC 6455 codec
// (core/websocket_codec.hpp). The channel's reader, on the stream thread,
// decodes what the client sends and answers the protocol's own frames;
// send() and close() queue frames from any thread.
//
// Lifetime: the channel holds the reader and its on_close function, which
// hold the State; the State holds the channel. The channel lets go of both
// functions when the connection ends, and the State lets go of the
// program's handlers then, so whatever a handler captures (its own
// WebSocket) is released too.
#include "postern/websocket.hpp"

#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>

#include "core/detached.hpp"
#include "core/log.hpp"
#include "core/log_escape.hpp"
#include "core/websocket_codec.hpp"
#include "postern/request.hpp"
#include "postern/response.hpp"

namespace postern {

namespace {

// RFC 6455 §7.1.1: after its Close frame the server waits for the client's
// before it closes the connection; not for ever.
constexpr auto kCloseWait = std::chrono::seconds(5);
// Failing the connection (§7.1.7), the server reads and drops what the
// client still sends while the Close frame reaches it, this long at most.
constexpr auto kFailLinger = std::chrono::seconds(2);
// The gateway stops: after its Close frame (1001, going away) it waits this
// long for the client's, so that a drain is not held up by a client that
// never answers.
constexpr auto kGoingAwayWait = std::chrono::seconds(1);

// Room in the channel's queue past Options::max_queued for the frames the
// gateway sends itself (pongs, the Close frame): a queue full of messages
// never stops the protocol.
constexpr std::size_t kControlRoom = 4 * (ws::max_control_payload + ws::max_frame_header);

using MessageFn = std::function<void(std::string_view, bool)>;
using PongFn = std::function<void(std::string_view)>;
using CloseFn = std::function<void(int, std::string_view)>;

/// "GET /chat from 127.0.0.1:51234", escaped, for log lines.
std::string describe(const Request& req) {
    std::string who = log_escape(req.method());
    who += ' ';
    who += log_escape(req.request_uri().empty() ? req.path_info() : req.request_uri());
    who += " from ";
    who += log_escape(req.remote_addr());
    if (!req.remote_port().empty()) {
        who += ':';
        who += log_escape(req.remote_port());
    }
    return who;
}

}  // namespace

struct WebSocket::State {
    State(std::shared_ptr<Channel> c, const Options& options, std::string w)
        : decoder(options.max_message),
          channel(std::move(c)),
          max_queued(options.max_queued),
          who(std::move(w)) {}

    /// The channel's reader (the stream thread): decodes, answers pings and
    /// the Close frame, delivers messages. False once reading is over.
    bool read(std::string_view bytes);
    /// The channel's on_close (the stream thread, once).
    void finished();
    void deliver(const ws::Message& m);
    /// Runs a handler on the stream thread; an exception fails the
    /// connection with 1011. `what` names the handler in the log.
    void run_handler(const char* what, const std::function<void()>& call);
    /// Fails the connection (RFC 6455 §7.1.7): our Close frame with `code`
    /// unless one was sent, then the end.
    void fail(int code, std::string why);
    /// The gateway stops (Channel::going_away): our Close frame with 1001
    /// unless one was sent, then the end once the client's arrives.
    void go_away();
    /// Queues a frame the gateway sends itself. Under mutex.
    void control_locked(const std::string& frame) { channel->write_raw(frame); }

    ws::Decoder decoder;  // the stream thread's alone

    mutable std::mutex mutex;
    const std::shared_ptr<Channel> channel;
    const std::size_t max_queued;
    const std::string who;
    // Shared, so a message is delivered without copying the function.
    std::shared_ptr<const MessageFn> on_message;
    std::shared_ptr<const PongFn> on_pong;
    CloseFn on_close;
    bool close_sent = false;              // our Close frame is queued: no frame follows it
    bool close_received = false;          // the client's Close frame arrived
    bool ended = false;                   // the connection ended; on_close ran or runs
    int code = ws::close_code::abnormal;  // what on_close reports
    std::string reason;
};

bool WebSocket::State::read(std::string_view bytes) {
    while (!bytes.empty()) {
        ws::Message m;
        ws::Result r = decoder.decode(bytes, m);
        if (r.status == DecodeStatus::error) {
            log::warn("client broke the WebSocket protocol (" + who + "): " +
                      describe_fault(r.reason, "close code " + std::to_string(r.code), r.offset) +
                      "; closing the connection with " + std::to_string(r.code));
            fail(r.code, std::move(r.reason));
            return false;
        }
        bytes.remove_prefix(r.consumed);
        if (r.status == DecodeStatus::need_more)
            break;
        switch (m.opcode) {
            case ws::Opcode::text:
            case ws::Opcode::binary:
                deliver(m);
                break;
            case ws::Opcode::ping: {
                // RFC 6455 §5.5.2: a pong with the ping's payload, unless
                // our Close frame already went (nothing follows it).
                std::lock_guard lock(mutex);
                if (!close_sent)
                    control_locked(ws::encode_frame(ws::Opcode::pong, m.data));
                break;
            }
            case ws::Opcode::close: {
                // RFC 6455 §5.5.1: answer with a Close frame, echoing the
                // code (none for a Close without one), then close: the
                // server closes the TCP connection first (§7.1.1).
                std::lock_guard lock(mutex);
                close_received = true;
                code = m.close_code;
                reason = std::move(m.data);
                if (!close_sent) {
                    close_sent = true;
                    control_locked(
                        ws::encode_close(code == ws::close_code::no_status ? 0 : code, reason));
                }
                channel->end();
                return false;
            }
            case ws::Opcode::pong: {
                std::shared_ptr<const PongFn> fn;
                {
                    std::lock_guard lock(mutex);
                    if (!close_sent && !ended)
                        fn = on_pong;
                }
                if (fn && *fn)
                    run_handler("on_pong", [&] { (*fn)(m.data); });
                break;
            }
            default:
                break;
        }
    }
    return true;
}

void WebSocket::State::deliver(const ws::Message& m) {
    std::shared_ptr<const MessageFn> fn;
    {
        std::lock_guard lock(mutex);
        if (close_sent || ended)
            return;
        fn = on_message;
    }
    if (!fn || !*fn)
        return;
    run_handler("on_message", [&] { (*fn)(m.data, m.opcode == ws::Opcode::binary); });
}

void WebSocket::State::run_handler(const char* what, const std::function<void()>& call) {
    try {
        call();
        return;
    } catch (const std::exception& e) {
        log::error(std::string("application WebSocket ") + what + " handler threw (" + who +
                   "): " + e.what() + "; closing the connection with 1011");
    } catch (...) {
        log::error(std::string("application WebSocket ") + what +
                   " handler threw a non-standard exception (" + who +
                   "); closing the connection with 1011");
    }
    fail(ws::close_code::internal_error, "internal error");
}

void WebSocket::State::fail(int c, std::string why) {
    std::lock_guard lock(mutex);
    if (ended)
        return;
    if (!close_received) {
        code = c;
        reason = std::move(why);
    }
    if (!close_sent) {
        close_sent = true;
        control_locked(ws::encode_close(c, reason));
    }
    // The client may still be sending (the rest of a frame over the
    // bound): read and drop it while our Close frame reaches the client.
    channel->end_lingering(kFailLinger);
}

void WebSocket::State::go_away() {
    std::lock_guard lock(mutex);
    if (ended)
        return;
    if (!close_sent) {
        close_sent = true;
        control_locked(ws::encode_close(ws::close_code::going_away, "going away"));
    }
    channel->close_by(std::chrono::steady_clock::now() + kGoingAwayWait);
}

void WebSocket::State::finished() {
    CloseFn fn;
    int c;
    std::string r;
    {
        std::lock_guard lock(mutex);
        ended = true;
        fn = std::move(on_close);
        on_close = nullptr;
        on_message.reset();
        on_pong.reset();  // may hold the WebSocket
        c = code;
        r = reason;
    }
    if (c == ws::close_code::abnormal)
        log::debug("WebSocket closed without a Close frame from the client (" + who + ")");
    if (!fn)
        return;
    try {
        fn(c, r);
    } catch (const std::exception& e) {
        log::error("application WebSocket on_close handler threw (" + who + "): " + e.what());
    } catch (...) {
        log::error("application WebSocket on_close handler threw a non-standard exception (" + who +
                   ")");
    }
}

// --- The public face ----------------------------------------------------------

WebSocket::WebSocket(std::shared_ptr<State> state) : state_(std::move(state)) {}

WebSocket::~WebSocket() = default;

std::shared_ptr<WebSocket> WebSocket::accept(Request& req, Response& res) {
    return accept(req, res, Options{});
}

std::shared_ptr<WebSocket> WebSocket::accept(Request& req, Response& res, const Options& options) {
    if (options.max_message == 0 || options.max_queued == 0)
        throw std::invalid_argument("WebSocket::Options: max_message and max_queued must be > 0");
    if (res.detached() || res.headers_sent())
        throw std::logic_error("WebSocket::accept after the response was started or detached");
    const auto refuse = [&](int status, const std::string& why,
                            const HeaderList& headers) -> std::shared_ptr<WebSocket> {
        log::info("refused a WebSocket handshake (" + describe(req) + ") with " +
                  std::to_string(status) + ": " + log_escape(why));
        res.status(status);
        for (const auto& [name, value] : headers)
            res.gateway_header(name, value);
        res.set_header("Content-Type", "text/plain; charset=utf-8");
        res.write(why);
        res.write("\n");
        return nullptr;
    };
    if (req.protocol() != "http")
        return refuse(501,
                      "WebSockets are served over the HTTP listener only; this request came "
                      "over " +
                          std::string(req.protocol()),
                      {});
    ws::Handshake h = ws::check_handshake(req.environ());
    if (!h.ok)
        return refuse(h.status, h.reason, h.headers);

    // RFC 6455 §4.2.2: 101, Upgrade, Connection, Sec-WebSocket-Accept; the
    // callback's own headers (validated when set) go out too.
    HeaderList headers = res.headers();
    headers.emplace_back("Upgrade", "websocket");
    headers.emplace_back("Connection", "Upgrade");
    headers.emplace_back("Sec-WebSocket-Accept", std::move(h.accept));
    std::shared_ptr<Channel> channel =
        res.detach_channel(101, std::move(headers), options.max_queued + kControlRoom);
    auto state = std::make_shared<State>(channel, options, describe(req));
    channel->set_reader([state](std::string_view bytes) { return state->read(bytes); });
    channel->on_close([state] { state->finished(); });
    // The channel owns this function: its pointer is good while it runs.
    channel->on_going_away([weak = std::weak_ptr<State>(state), ch = channel.get()] {
        if (auto s = weak.lock())
            s->go_away();
        else
            ch->cut();
    });
    return std::make_shared<WebSocket>(std::move(state));
}

void WebSocket::on_message(std::function<void(std::string_view data, bool binary)> fn) {
    auto shared = std::make_shared<const MessageFn>(std::move(fn));
    std::lock_guard lock(state_->mutex);
    if (!state_->ended)
        state_->on_message = std::move(shared);
}

void WebSocket::on_close(std::function<void(int code, std::string_view reason)> fn) {
    std::unique_lock lock(state_->mutex);
    if (!state_->ended) {
        state_->on_close = std::move(fn);
        return;
    }
    const int code = state_->code;
    const std::string reason = state_->reason;
    lock.unlock();
    if (fn)
        fn(code, reason);
}

bool WebSocket::send(std::string_view data, bool binary) {
    if (!binary && !ws::valid_utf8(data))
        throw std::invalid_argument("WebSocket::send: a text message that is not UTF-8");
    const std::string frame =
        ws::encode_frame(binary ? ws::Opcode::binary : ws::Opcode::text, data);
    State& s = *state_;
    std::lock_guard lock(s.mutex);
    if (s.close_sent || s.ended)
        return false;
    // The bound is ours; the channel's leaves room for control frames.
    const std::size_t waiting = s.channel->queued();
    if (waiting > 0 && waiting + frame.size() > s.max_queued)
        return false;
    return s.channel->write_raw(frame);
}

bool WebSocket::ping(std::string_view payload) {
    if (payload.size() > ws::max_control_payload)
        throw std::invalid_argument("WebSocket::ping: a payload over 125 bytes");
    const std::string frame = ws::encode_frame(ws::Opcode::ping, payload);
    State& s = *state_;
    std::lock_guard lock(s.mutex);
    if (s.close_sent || s.ended)
        return false;
    if (s.channel->queued() > s.max_queued)
        return false;  // the client takes nothing: a ping would not reach it either
    return s.channel->write_raw(frame);
}

void WebSocket::on_pong(std::function<void(std::string_view payload)> fn) {
    auto shared = std::make_shared<const PongFn>(std::move(fn));
    std::lock_guard lock(state_->mutex);
    if (!state_->ended)
        state_->on_pong = std::move(shared);
}

void WebSocket::close(int code, std::string_view reason) {
    if (!ws::valid_close_code(code))
        throw std::invalid_argument("WebSocket::close: invalid close code " + std::to_string(code));
    State& s = *state_;
    std::lock_guard lock(s.mutex);
    if (s.close_sent || s.ended)
        return;
    s.close_sent = true;
    s.control_locked(ws::encode_close(code, reason));
    s.channel->close_by(std::chrono::steady_clock::now() + kCloseWait);
}

bool WebSocket::open() const {
    std::lock_guard lock(state_->mutex);
    return !state_->close_sent && !state_->ended && state_->channel->open();
}

std::size_t WebSocket::queued() const {
    return state_->channel->queued();
}

}  // namespace postern
