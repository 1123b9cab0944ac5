// Postern: WebSockets (RFC 6455), served by a callback that hands its
// connection over and returns.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string_view>

namespace postern {

class Request;
class Response;

/// One WebSocket connection, made by WebSocket::accept() in a callback:
///
///     void chat(postern::Request& req, postern::Response& res) {
///         std::shared_ptr<postern::WebSocket> ws = postern::WebSocket::accept(req, res);
///         if (!ws)
///             return;  // not a WebSocket handshake: answered 400/426 in res
///         ws->on_message([ws](std::string_view data, bool binary) { ws->send(data, binary); });
///         ws->on_close([](int code, std::string_view reason) { ... });
///     }
///
/// The callback returns at once; no thread is held between messages. The
/// connection waits in the gateway's reactor with every other detached
/// response, and one stream thread per worker process reads every
/// WebSocket, decodes its frames and calls its handlers.
///
/// What the gateway does by itself (RFC 6455): it answers the handshake
/// (101, Sec-WebSocket-Accept; no subprotocol or extension is negotiated),
/// unmasks and reassembles fragmented messages, checks that text is UTF-8,
/// answers every ping with a pong, and answers the client's Close frame
/// with one (echoing its code) before it closes the connection. A client
/// that breaks the protocol gets a Close frame with the code that says why
/// and the connection is closed: 1002 for an unmasked frame, reserved bits
/// or opcodes, a control frame over 125 bytes or fragmented, a frame out of
/// sequence or a Close frame with an invalid code; 1007 for text that is
/// not UTF-8; 1009 for a message over Options::max_message (told from the
/// frame header, before its payload is read). Each such refusal is logged
/// with the client, the request line and the offending byte.
///
/// Served over the HTTP listener only (`--listen http=...`: directly, or
/// behind nginx's proxy_pass and Apache's mod_proxy_http with the shipped
/// WebSocket snippets). FastCGI, SCGI, uwsgi, AJP and CGI cannot carry an
/// upgraded connection: accept() answers 501 there.
///
/// Threading: send(), close(), open() and queued() may be called from any
/// thread, at once. The handlers run on the gateway's stream thread, one at
/// a time for all of the worker process's connections: they must not block
/// (hand slow work to a thread of your own and send() from there).
///
/// Ownership: shared. The connection stays open until either side closes
/// it, whether or not the program keeps a pointer; the handlers are
/// released once on_close has run, so a handler may hold the pointer to
/// its own WebSocket (as above) without keeping it alive for ever.
class WebSocket {
  public:
    struct Options {
        /// The largest message taken from the client, in bytes, all its
        /// fragments together (1 MiB). A frame that would take a message
        /// past it closes the connection with 1009.
        std::size_t max_message = 1 << 20;
        /// Bytes waiting for a slow client before send() refuses (1 MiB;
        /// one message is always taken into an empty queue, whatever its
        /// size). A client that takes nothing for --write-timeout is
        /// dropped.
        std::size_t max_queued = 1 << 20;
    };

    /// Checks that `req` is a WebSocket opening handshake (RFC 6455 §4.2.1)
    /// and accepts it: the response becomes the 101 answer, with the
    /// headers the callback set on `res` before (Set-Cookie, ...), sent as
    /// soon as the callback returns; the connection then belongs to the
    /// returned WebSocket. Set on_message and on_close before the callback
    /// returns: messages that arrive before a handler is set are dropped.
    ///
    /// Refusals write the answer into `res` and return nullptr (the
    /// callback just returns), with a short text/plain body saying why:
    ///  - 426 Upgrade Required, with `Upgrade: websocket` and
    ///    `Sec-WebSocket-Version: 13`: no `Upgrade: websocket` (announced
    ///    in `Connection: upgrade`), or a Sec-WebSocket-Version other than
    ///    13 (a plain GET of a WebSocket route);
    ///  - 400 Bad Request: a method other than GET, HTTP/1.0, a
    ///    Sec-WebSocket-Key missing, repeated or not the base64 of 16 bytes;
    ///  - 501 Not Implemented: the request came over another protocol than
    ///    HTTP (req.protocol() != "http").
    /// Refusals are logged at info level.
    ///
    /// Throws std::logic_error when the head was already sent (a flush) or
    /// the response detached; std::invalid_argument for an Options bound of
    /// 0. Body bytes written to `res` before an accepted handshake are not
    /// sent (a 101 has no body).
    static std::shared_ptr<WebSocket> accept(Request& req, Response& res);
    static std::shared_ptr<WebSocket> accept(Request& req, Response& res, const Options& options);

    /// `fn(data, binary)` receives each whole message (text is valid UTF-8),
    /// on the stream thread; `data` is valid during the call only. Not
    /// called after close() or once the client's Close frame arrived. An
    /// exception from it closes the connection with 1011 and is logged.
    /// Replaces an earlier function.
    void on_message(std::function<void(std::string_view data, bool binary)> fn);

    /// `fn(code, reason)` is called once, on the stream thread, when the
    /// connection has ended:
    ///  - the client's Close frame: its code and reason (1005 and "" when
    ///    it carried no code), whoever closed first;
    ///  - the client broke the protocol: the code the gateway sent (1002,
    ///    1007, 1009) and why;
    ///  - no Close frame from the client (it vanished, the connection was
    ///    cut, it took nothing for --write-timeout, it did not answer
    ///    close() within 5 s): 1006 and "".
    /// When the gateway stops (SIGTERM, a reload), it sends the client a
    /// Close frame with 1001 ("going away") and waits 1 s for its answer:
    /// then the client's code, or 1006.
    /// Set after the end, it is called at once, on the caller's thread.
    /// Replaces an earlier function.
    void on_close(std::function<void(int code, std::string_view reason)> fn);

    /// Queues one message (a text frame, or binary) and sends what the
    /// socket takes at once. False, queueing nothing, once the connection
    /// is closing or closed, or when max_queued bytes are already waiting
    /// (the client reads too slowly; open() tells the two apart). Text must
    /// be UTF-8: otherwise std::invalid_argument (a client would fail the
    /// connection with 1007).
    bool send(std::string_view data, bool binary = false);

    /// Sends a ping (RFC 6455 §5.5.2) carrying `payload` (at most 125
    /// bytes; more throws std::invalid_argument); the client's pong arrives
    /// at on_pong(). Use it to find a client that vanished without closing
    /// (a network gone, a NAT that forgot the connection): such a client
    /// sends nothing and takes what is sent, so only a missing pong tells;
    /// close() it when none came in the time you allow. False, sending
    /// nothing, once the connection is closing or closed, or when more
    /// than max_queued bytes wait already.
    bool ping(std::string_view payload = {});

    /// `fn(payload)` receives each pong from the client, on the stream
    /// thread: the answer to ping(), or an unsolicited one (RFC 6455
    /// §5.5.3 allows them, as a heartbeat). Not called after close() or
    /// once the client's Close frame arrived. An exception from it closes
    /// the connection with 1011 and is logged. Replaces an earlier function.
    void on_pong(std::function<void(std::string_view payload)> fn);

    /// Starts the closing handshake: a Close frame with `code` and `reason`
    /// (cut at a character boundary to 123 bytes), after what is queued;
    /// from then on send() returns false and no message is delivered. The
    /// connection closes when the client answers with its Close frame, or
    /// after 5 s. `code`: one a Close frame may carry, 1000 (normal), 1001
    /// (going away), 1002, 1003, 1007-1014 or 3000-4999 (RFC 6455 §7.4);
    /// any other throws std::invalid_argument. Idempotent
    /// (a second call, or one after the client's Close, does nothing).
    void close(int code = 1000, std::string_view reason = {});

    /// Neither side has started to close, and the client is still there.
    bool open() const;
    /// Bytes waiting for the client.
    std::size_t queued() const;

    struct State;  // the implementation's
    explicit WebSocket(std::shared_ptr<State> state);
    ~WebSocket();
    WebSocket(const WebSocket&) = delete;
    WebSocket& operator=(const WebSocket&) = delete;

  private:
    std::shared_ptr<State> state_;
};

}  // namespace postern
