// Postern core: the WebSocket codec (RFC 6455). Pure functions of bytes, no
// sockets: the opening handshake check (on the request's CGI variables, as
// every adapter presents them), the frame decoder for
// client-to-server frames, the message assembler over it (fragmentation,
// UTF-8 of text messages, Close payloads, a maximum message size) and the
// encoder of server-to-client frames.
//
// Strict, like the HTTP codec: whatever RFC 6455 says an endpoint MUST NOT
// send is refused, and a refusal carries the close code to send before the
// connection is closed (1002 protocol error, 1007 invalid data, 1009 a
// message over the bound). No extension is ever negotiated, so RSV1-3 are
// always refused.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/decode.hpp"
#include "postern/request.hpp"

namespace postern::ws {

// --- Close codes (RFC 6455 §7.4.1) ------------------------------------------

namespace close_code {
constexpr int normal = 1000;          ///< the purpose was fulfilled
constexpr int going_away = 1001;      ///< the server goes down
constexpr int protocol_error = 1002;  ///< a frame breaks RFC 6455
constexpr int unsupported = 1003;     ///< a data type the endpoint cannot take
constexpr int no_status = 1005;       ///< never sent: a Close without a code
constexpr int abnormal = 1006;        ///< never sent: closed without a Close
constexpr int invalid_data = 1007;    ///< text that is not UTF-8
constexpr int policy = 1008;          ///< a policy was violated
constexpr int too_big = 1009;         ///< a message over the bound
constexpr int internal_error = 1011;  ///< the server failed
constexpr int tls_failed = 1015;      ///< never sent: the TLS handshake failed
}  // namespace close_code

/// True when `code` may appear in a Close frame on the wire (RFC 6455
/// §7.4.1, §7.4.2 and the IANA registry): 1000-1003, 1007-1014 (1012-1014
/// registered after the RFC) and the ranges for libraries and
/// applications, 3000-4999. 1004 (reserved) and 1005, 1006, 1015 (never
/// sent) are refused, as is anything else.
bool valid_close_code(int code) noexcept;

/// True when `s` is well-formed UTF-8 (RFC 3629: no overlong form, no
/// surrogate, nothing above U+10FFFF).
bool valid_utf8(std::string_view s) noexcept;

/// Incremental UTF-8 check, for text that arrives in pieces (a sequence may
/// be split between two frames, RFC 6455 §5.6). Fails at the first byte
/// that cannot continue well-formed UTF-8 (Autobahn's "fail fast").
class Utf8Validator {
  public:
    /// Checks the next bytes. Returns SIZE_MAX when they may continue
    /// well-formed text, otherwise the index in `s` of the first bad byte
    /// (what follows is not checked until reset()).
    std::size_t feed(std::string_view s) noexcept;
    /// True when the text so far ends on a character boundary.
    bool complete() const noexcept { return need_ == 0; }
    void reset() noexcept {
        need_ = 0;
        lo_ = 0x80;
        hi_ = 0xbf;
    }

  private:
    unsigned need_ = 0;                    // continuation bytes still expected
    unsigned char lo_ = 0x80, hi_ = 0xbf;  // bounds of the next continuation byte
};

// --- Frames (RFC 6455 §5.2) -------------------------------------------------

enum class Opcode : std::uint8_t {
    continuation = 0x0,
    text = 0x1,
    binary = 0x2,
    close = 0x8,
    ping = 0x9,
    pong = 0xa,
};

constexpr bool is_control(Opcode op) noexcept {
    return (static_cast<unsigned>(op) & 0x8) != 0;
}

/// A control frame's payload bound (RFC 6455 §5.5).
constexpr std::size_t max_control_payload = 125;
/// A frame header's largest size: 2 + 8 (length) + 4 (masking key).
constexpr std::size_t max_frame_header = 14;

using MaskKey = std::array<std::uint8_t, 4>;

struct FrameHeader {
    bool fin = true;
    Opcode opcode = Opcode::continuation;
    bool masked = false;
    MaskKey mask{};
    std::uint64_t payload_length = 0;
};

/// The outcome of a WebSocket decode (core/decode.hpp); `code`, error: the
/// close code to send (1002, 1007 or 1009).
using Result = DecodeResult<int>;

/// Decodes a client-to-server frame header from the start of `in`: done,
/// `consumed` is the header's size (2 to 14 bytes) and `out` is filled;
/// need_more until the header is whole; error with 1002 and the offset of
/// the offending byte.
///
/// Checks are made byte by byte in wire order, so a fault is found as soon
/// as its byte is in `in`, however the bytes were split. Refused: RSV1-3
/// set (no extension is negotiated, §5.2), a reserved opcode (0x3-0x7,
/// 0xB-0xF), a fragmented control frame or one whose payload is over 125
/// bytes (§5.5), an unmasked frame (a client MUST mask, §5.1), a 64-bit
/// length with its top bit set, and a length not in its minimal encoding
/// (§5.2 says "the minimal number of bytes MUST be used": a 16-bit length
/// under 126 or a 64-bit one under 65536 is refused, not guessed at).
Result decode_frame_header(std::string_view in, FrameHeader& out);

/// XORs `n` payload bytes with the masking key (RFC 6455 §5.3) from `in`
/// to `out` (which may be `in`: unmasking in place). `position` is the
/// offset of in[0] in the frame's payload, so a payload can be unmasked in
/// pieces.
void unmask(const char* in, char* out, std::size_t n, const MaskKey& mask,
            std::uint64_t position) noexcept;

// --- Messages ---------------------------------------------------------------

/// One unit the decoder hands up: a whole data message (its fragments
/// joined) or a control frame.
struct Message {
    Opcode opcode = Opcode::text;  ///< text, binary, close, ping or pong
    /// The payload; for close, the reason (valid UTF-8).
    std::string data;
    /// close: the status code, or 1005 (no_status) when the Close frame
    /// had an empty payload.
    int close_code = 0;

    bool operator==(const Message&) const = default;
};

/// Decodes the client-to-server stream of one connection, resumable: feed
/// it the bytes as they arrive, in pieces of any size; the outcome does not
/// depend on how they were split. Single-threaded.
///
/// Memory: a data message is gathered whole, up to `max_message` bytes; a
/// frame that would take the message over is refused (1009) from its
/// header, before its payload is read or any memory is taken for it.
///
/// Refused, beside the frame header faults (1002): a continuation frame
/// with no message started, a new text or binary frame while a message is
/// unfinished (1002, §5.4); text that is not UTF-8, found at the first bad
/// byte even when the message is unfinished (1007, §8.1); a Close payload
/// of one byte, or with a code valid_close_code() refuses (1002), or a
/// reason that is not UTF-8 (1007) (§5.5.1, §7.1.6). Control frames
/// between the fragments of a message are delivered in order (§5.4).
class Decoder {
  public:
    static constexpr std::size_t default_max_message = 1024 * 1024;

    explicit Decoder(std::size_t max_message = default_max_message) : max_message_(max_message) {}

    /// Decodes from `in` until one message or control frame is whole.
    /// done: `out` holds it, `consumed` bytes of `in` were used (call again
    /// with the rest); need_more: all of `in` was used; error: `code` is
    /// the close code to send, `offset` counts from the first byte this
    /// decoder was ever given, and the decoder is stuck (the connection is
    /// to be closed). After a Close frame, what follows is not data (§1.4):
    /// it is used up and ignored (need_more).
    Result decode(std::string_view in, Message& out);

    /// A Close frame was decoded.
    bool closed() const noexcept { return state_ == State::closed; }
    /// Part of a data message has been received.
    bool in_message() const noexcept { return in_message_; }
    std::size_t max_message() const noexcept { return max_message_; }
    /// Restarts for a new connection.
    void reset() noexcept;

  private:
    enum class State { header, payload, closed, failed };

    Result fail(std::size_t consumed, std::uint64_t at, int code, std::string reason);
    Result start_frame(std::size_t consumed);
    Result finish_control(std::size_t consumed, Message& out);

    std::size_t max_message_;
    State state_ = State::header;
    std::array<char, max_frame_header> header_buf_{};
    std::size_t header_have_ = 0;  // bytes of an unfinished header in header_buf_
    FrameHeader frame_{};
    std::size_t frame_header_size_ = 0;
    std::uint64_t payload_pos_ = 0;  // payload bytes of the frame read so far
    bool in_message_ = false;        // a data message is unfinished
    Opcode message_opcode_ = Opcode::text;
    std::string message_;  // the data message so far, unmasked
    std::string control_;  // the control frame's payload so far, unmasked
    Utf8Validator utf8_;
    std::uint64_t offset_ = 0;       // bytes consumed before this call
    std::uint64_t frame_start_ = 0;  // offset of the frame's first byte
    int failed_code_ = 0;
    std::uint64_t failed_offset_ = 0;
};

// --- Encoder (server to client: unmasked, RFC 6455 §5.1) --------------------

/// Appends one frame to `out` with the minimal length encoding: unmasked
/// (the server's frames), or masked with `mask` when it is given (a
/// client's frames: tests and fuzzers). A control frame must have fin set
/// and at most 125 bytes of payload (std::invalid_argument otherwise).
void append_frame(std::string& out, Opcode opcode, std::string_view payload, bool fin = true,
                  const MaskKey* mask = nullptr);

/// One unmasked frame.
std::string encode_frame(Opcode opcode, std::string_view payload, bool fin = true);

/// An unmasked Close frame: the code and the reason, cut at a character
/// boundary to fit the 125-byte bound (123 bytes after the code). Code 0
/// gives an empty payload (no status); any other code must pass
/// valid_close_code() (std::invalid_argument otherwise).
std::string encode_close(int code, std::string_view reason = {});

// --- Opening handshake (RFC 6455 §4.2) --------------------------------------

/// The verdict on an upgrade request.
struct Handshake {
    /// The request is a valid WebSocket opening handshake: answer 101 with
    /// Upgrade: websocket, Connection: Upgrade and Sec-WebSocket-Accept:
    /// `accept`.
    bool ok = false;
    /// Refused: the status to answer with (400 or 426) and why, for the log.
    int status = 0;
    std::string reason;
    /// Refused: header fields the refusal must carry (426: Upgrade and
    /// Sec-WebSocket-Version, RFC 9110 §15.5.22, RFC 6455 §4.4).
    std::vector<std::pair<std::string, std::string>> headers;
    /// Accepted: the Sec-WebSocket-Accept value.
    std::string accept;
};

/// Checks an opening handshake (RFC 6455 §4.2.1) from the request's CGI
/// variables: REQUEST_METHOD, SERVER_PROTOCOL, HTTP_UPGRADE,
/// HTTP_SEC_WEBSOCKET_KEY and HTTP_SEC_WEBSOCKET_VERSION. A header the
/// client repeated arrives as one variable, its copies joined with ", "
/// (postern/request.hpp), so a list token may be in any copy and a key
/// sent twice is no key. Connection is not among them: the HTTP adapter
/// consumes it, and passes Upgrade on only when Connection lists the
/// "upgrade" option (RFC 9110 §7.8), so HTTP_UPGRADE stands for both.
///
/// Refused with 426 (and Upgrade: websocket, Sec-WebSocket-Version: 13):
/// no "websocket" token in Upgrade (or no Upgrade announced in Connection),
/// or a Sec-WebSocket-Version other than exactly one "13". With 400: a
/// method other than GET, a protocol other than HTTP/1.1, a
/// Sec-WebSocket-Key missing, repeated or not the base64 of 16 bytes.
/// Subprotocols and extensions are not negotiated (none is answered,
/// §4.2.2).
Handshake check_handshake(const Environ& env);

/// Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 §4.2.2): the
/// base64 of the SHA-1 of the key followed by the protocol's GUID.
std::string accept_key(std::string_view key);

/// SHA-1 (RFC 3174) of `data`.
std::array<std::uint8_t, 20> sha1(std::string_view data);

/// Base64 (RFC 4648 §4, with padding) of `data`.
std::string base64_encode(std::string_view data);

}  // namespace postern::ws
