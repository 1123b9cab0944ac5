// The WebSocket codec (websocket_codec.hpp): frames, messages and the
// encoder (RFC 6455 §5). The opening handshake, SHA-1 and base64 are in
// websocket_handshake.cpp.
#include "core/websocket_codec.hpp"

#include <algorithm>
#include <cstdint>
#include <stdexcept>

namespace postern::ws {

namespace {

constexpr std::size_t npos = static_cast<std::size_t>(-1);

constexpr bool known_opcode(unsigned op) noexcept {
    return op <= 0x2 || (op >= 0x8 && op <= 0xa);
}

std::string hex_byte(unsigned v) {
    constexpr char digits[] = "0123456789abcdef";
    std::string s = "0x";
    s += digits[(v >> 4) & 0xf];
    s += digits[v & 0xf];
    return s;
}

}  // namespace

// --- Close codes and UTF-8 --------------------------------------------------

bool valid_close_code(int code) noexcept {
    // RFC 6455 §7.4.1/§7.4.2: 1004 is reserved, 1005, 1006 and 1015 MUST
    // NOT be set in a Close frame. 1012-1014 (service restart, try again
    // later, bad gateway) were registered with IANA after the RFC; the
    // clients from Debian (node-ws, python3-websockets) send and accept
    // them, so they are valid here too.
    if (code >= 1000 && code <= 1003)
        return true;
    if (code >= 1007 && code <= 1014)
        return true;
    return code >= 3000 && code <= 4999;
}

std::size_t Utf8Validator::feed(std::string_view s) noexcept {
    // RFC 3629 §4: the second byte's range depends on the first byte; that
    // is where overlong forms (E0 80..9F, F0 80..8F), surrogates (ED A0..BF)
    // and code points above U+10FFFF (F4 90..BF) are refused. C0, C1 and
    // F5..FF never start a sequence.
    for (std::size_t k = 0; k < s.size(); ++k) {
        const unsigned char c = static_cast<unsigned char>(s[k]);
        if (need_ == 0) {
            if (c < 0x80)
                continue;
            lo_ = 0x80;
            hi_ = 0xbf;
            if (c >= 0xc2 && c <= 0xdf) {
                need_ = 1;
            } else if (c == 0xe0) {
                need_ = 2;
                lo_ = 0xa0;
            } else if (c == 0xed) {
                need_ = 2;
                hi_ = 0x9f;
            } else if (c >= 0xe1 && c <= 0xef) {
                need_ = 2;
            } else if (c == 0xf0) {
                need_ = 3;
                lo_ = 0x90;
            } else if (c >= 0xf1 && c <= 0xf3) {
                need_ = 3;
            } else if (c == 0xf4) {
                need_ = 3;
                hi_ = 0x8f;
            } else {
                return k;
            }
        } else {
            if (c < lo_ || c > hi_)
                return k;
            lo_ = 0x80;
            hi_ = 0xbf;
            --need_;
        }
    }
    return npos;
}

bool valid_utf8(std::string_view s) noexcept {
    Utf8Validator v;
    return v.feed(s) == npos && v.complete();
}

// --- Frame header -----------------------------------------------------------

Result decode_frame_header(std::string_view in, FrameHeader& out) {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(in[k]); };
    if (in.empty())
        return {};
    const unsigned b0 = byte(0);
    if ((b0 & 0x70) != 0)
        return decode_error(close_code::protocol_error,
                            "WebSocket frame with RSV bits set (no extension negotiated)", 0);
    const unsigned op = b0 & 0x0f;
    if (!known_opcode(op))
        return decode_error(close_code::protocol_error,
                            "WebSocket frame with reserved opcode " + hex_byte(op), 0);
    const bool fin = (b0 & 0x80) != 0;
    const bool control = (op & 0x8) != 0;
    if (control && !fin)  // RFC 6455 §5.5: control frames MUST NOT be fragmented
        return decode_error(close_code::protocol_error, "fragmented WebSocket control frame", 0);
    if (in.size() < 2)
        return {};
    const unsigned b1 = byte(1);
    if ((b1 & 0x80) == 0)  // RFC 6455 §5.1: a server MUST close on an unmasked frame
        return decode_error(close_code::protocol_error, "unmasked WebSocket frame from a client",
                            1);
    const unsigned len7 = b1 & 0x7f;
    if (control && len7 > max_control_payload)
        return decode_error(close_code::protocol_error,
                            "WebSocket control frame payload over 125 bytes", 1);
    std::uint64_t length = len7;
    std::size_t pos = 2;
    if (len7 == 126) {
        if (in.size() < 4)
            return {};
        length = (std::uint64_t{byte(2)} << 8) | byte(3);
        if (length < 126)
            return decode_error(close_code::protocol_error,
                                "WebSocket frame length not in its minimal encoding", 2);
        pos = 4;
    } else if (len7 == 127) {
        if (in.size() < 3)
            return {};
        if ((byte(2) & 0x80) != 0)  // RFC 6455 §5.2: the most significant bit MUST be 0
            return decode_error(close_code::protocol_error,
                                "WebSocket frame 64-bit length with its top bit set", 2);
        if (in.size() < 10)
            return {};
        length = 0;
        for (std::size_t k = 2; k < 10; ++k)
            length = (length << 8) | byte(k);
        if (length <= 0xffff)
            return decode_error(close_code::protocol_error,
                                "WebSocket frame length not in its minimal encoding", 2);
        pos = 10;
    }
    if (in.size() < pos + 4)
        return {};
    out.fin = fin;
    out.opcode = static_cast<Opcode>(op);
    out.masked = true;
    for (std::size_t k = 0; k < 4; ++k)
        out.mask[k] = byte(pos + k);
    out.payload_length = length;
    Result r;
    r.status = DecodeStatus::done;
    r.consumed = pos + 4;
    return r;
}

void unmask(const char* in, char* out, std::size_t n, const MaskKey& mask,
            std::uint64_t position) noexcept {
    // RFC 6455 §5.3: octet i of the payload is XORed with octet i mod 4 of
    // the key.
    const std::size_t shift = static_cast<std::size_t>(position % 4);
    for (std::size_t k = 0; k < n; ++k)
        out[k] = static_cast<char>(static_cast<unsigned char>(in[k]) ^ mask[(k + shift) % 4]);
}

// --- Decoder ----------------------------------------------------------------

void Decoder::reset() noexcept {
    state_ = State::header;
    header_have_ = 0;
    frame_ = {};
    payload_pos_ = 0;
    in_message_ = false;
    message_opcode_ = Opcode::text;
    message_.clear();
    control_.clear();
    utf8_.reset();
    offset_ = 0;
    frame_start_ = 0;
    failed_code_ = 0;
}

Result Decoder::fail(std::size_t consumed, std::uint64_t at, int code, std::string reason) {
    state_ = State::failed;
    failed_code_ = code;
    Result r = decode_error(code, std::move(reason), static_cast<std::size_t>(at));
    r.consumed = consumed;
    offset_ += consumed;
    failed_offset_ = at;
    return r;
}

Result Decoder::start_frame(std::size_t consumed) {
    // RFC 6455 §5.4: a message is one unfragmented frame, or a text or
    // binary frame with FIN clear, continuation frames, and one with FIN
    // set; control frames may come between them.
    const Opcode op = frame_.opcode;
    if (op == Opcode::text || op == Opcode::binary) {
        if (in_message_)
            return fail(consumed, frame_start_, close_code::protocol_error,
                        "WebSocket data frame while a fragmented message is unfinished");
        in_message_ = true;
        message_opcode_ = op;
        message_.clear();
        utf8_.reset();
    } else if (op == Opcode::continuation && !in_message_) {
        return fail(consumed, frame_start_, close_code::protocol_error,
                    "WebSocket continuation frame with no message started");
    }
    if (is_control(op)) {
        control_.clear();
    } else {
        if (frame_.payload_length > max_message_ - message_.size())
            return fail(consumed, frame_start_ + 1, close_code::too_big,
                        "WebSocket message over " + std::to_string(max_message_) + " bytes");
    }
    payload_pos_ = 0;
    state_ = State::payload;
    return {};
}

Result Decoder::finish_control(std::size_t consumed, Message& out) {
    const std::uint64_t payload_start = frame_start_ + frame_header_size_;
    out.opcode = frame_.opcode;
    out.close_code = 0;
    if (frame_.opcode == Opcode::close) {
        // RFC 6455 §5.5.1: an empty body, or a 2-byte code and a UTF-8 reason.
        if (control_.empty()) {
            out.close_code = close_code::no_status;
        } else if (control_.size() == 1) {
            return fail(consumed, payload_start, close_code::protocol_error,
                        "WebSocket Close frame with a 1-byte payload");
        } else {
            const int code = (static_cast<unsigned char>(control_[0]) << 8) |
                             static_cast<unsigned char>(control_[1]);
            if (!valid_close_code(code))
                return fail(consumed, payload_start, close_code::protocol_error,
                            "WebSocket Close frame with invalid code " + std::to_string(code));
            Utf8Validator reason;
            const std::string_view text = std::string_view(control_).substr(2);
            const std::size_t bad = reason.feed(text);
            if (bad != npos || !reason.complete())
                // An unfinished sequence is told at the frame's last byte.
                return fail(consumed, payload_start + 2 + (bad != npos ? bad : text.size() - 1),
                            close_code::invalid_data,
                            "WebSocket Close frame reason that is not UTF-8");
            out.close_code = code;
            control_.erase(0, 2);
        }
        state_ = State::closed;
    } else {
        state_ = State::header;
    }
    out.data = std::move(control_);
    control_.clear();
    Result r;
    r.status = DecodeStatus::done;
    r.consumed = consumed;
    offset_ += consumed;
    return r;
}

Result Decoder::decode(std::string_view in, Message& out) {
    Result r;
    if (state_ == State::failed)
        return decode_error(failed_code_, "WebSocket stream already refused",
                            static_cast<std::size_t>(failed_offset_));
    if (state_ == State::closed) {  // RFC 6455 §1.4: nothing follows a Close
        r.consumed = in.size();
        offset_ += in.size();
        return r;
    }
    std::size_t i = 0;
    for (;;) {
        if (state_ == State::header) {
            if (i == in.size()) {
                r.consumed = i;
                offset_ += i;
                return r;
            }
            // The header is decoded from `in` when it starts there and is
            // whole, otherwise gathered in header_buf_ (at most 14 bytes).
            const std::uint64_t start = offset_ + i - header_have_;
            const std::size_t had = header_have_;
            std::string_view view = in.substr(i);
            if (had > 0) {
                const std::size_t n = std::min(view.size(), max_frame_header - had);
                std::copy_n(view.data(), n, header_buf_.data() + had);
                view = std::string_view(header_buf_.data(), had + n);
            }
            Result h = decode_frame_header(view, frame_);
            if (h.status == DecodeStatus::error)
                return fail(i, start + h.offset, h.code, std::move(h.reason));
            if (h.status == DecodeStatus::need_more) {
                // All of in[i..] is in `view` (a header is at most 14 bytes).
                if (had == 0)
                    std::copy_n(view.data(), view.size(), header_buf_.data());
                header_have_ = view.size();
                r.consumed = in.size();
                offset_ += in.size();
                return r;
            }
            i += h.consumed - had;
            header_have_ = 0;
            frame_start_ = start;
            frame_header_size_ = h.consumed;
            Result s = start_frame(i);
            if (s.status == DecodeStatus::error)
                return s;
        }

        // Payload: unmasked straight into the message (or control) buffer.
        const bool control = is_control(frame_.opcode);
        std::string& dst = control ? control_ : message_;
        const std::size_t n = static_cast<std::size_t>(
            std::min<std::uint64_t>(frame_.payload_length - payload_pos_, in.size() - i));
        const std::size_t old = dst.size();
        dst.append(in.data() + i, n);
        unmask(dst.data() + old, dst.data() + old, n, frame_.mask, payload_pos_);
        if (!control && message_opcode_ == Opcode::text) {
            // RFC 6455 §8.1: fail as soon as the text is not UTF-8.
            const std::size_t bad = utf8_.feed(std::string_view(dst).substr(old, n));
            if (bad != npos)
                return fail(i + bad, offset_ + i + bad, close_code::invalid_data,
                            "WebSocket text message that is not UTF-8");
        }
        i += n;
        payload_pos_ += n;
        if (payload_pos_ < frame_.payload_length) {  // in is used up
            r.consumed = i;
            offset_ += i;
            return r;
        }

        if (control)
            return finish_control(i, out);
        state_ = State::header;
        if (!frame_.fin)
            continue;
        // An unfinished sequence is told at the frame's last byte (the
        // offset of a byte that was given, even for an empty frame).
        if (message_opcode_ == Opcode::text && !utf8_.complete())
            return fail(i, frame_start_ + frame_header_size_ + frame_.payload_length - 1,
                        close_code::invalid_data,
                        "WebSocket text message ending inside a UTF-8 sequence");
        out.opcode = message_opcode_;
        out.data = std::move(message_);
        out.close_code = 0;
        message_.clear();
        in_message_ = false;
        r.status = DecodeStatus::done;
        r.consumed = i;
        offset_ += i;
        return r;
    }
}

// --- Encoder ----------------------------------------------------------------

void append_frame(std::string& out, Opcode opcode, std::string_view payload, bool fin,
                  const MaskKey* mask) {
    if (is_control(opcode) && (!fin || payload.size() > max_control_payload))
        throw std::invalid_argument(
            "a WebSocket control frame is unfragmented and at most "
            "125 bytes");
    out.push_back(static_cast<char>((fin ? 0x80u : 0u) | static_cast<unsigned>(opcode)));
    const unsigned mask_bit = mask ? 0x80u : 0u;
    const std::uint64_t size = payload.size();
    // RFC 6455 §5.2: the minimal number of bytes MUST be used.
    if (size < 126) {
        out.push_back(static_cast<char>(mask_bit | size));
    } else if (size <= 0xffff) {
        out.push_back(static_cast<char>(mask_bit | 126u));
        out.push_back(static_cast<char>(size >> 8));
        out.push_back(static_cast<char>(size & 0xff));
    } else {
        out.push_back(static_cast<char>(mask_bit | 127u));
        for (int shift = 56; shift >= 0; shift -= 8)
            out.push_back(static_cast<char>((size >> shift) & 0xff));
    }
    if (!mask) {
        out.append(payload);
        return;
    }
    for (std::uint8_t b : *mask)
        out.push_back(static_cast<char>(b));
    const std::size_t old = out.size();
    out.append(payload);
    unmask(out.data() + old, out.data() + old, payload.size(), *mask, 0);
}

std::string encode_frame(Opcode opcode, std::string_view payload, bool fin) {
    std::string out;
    append_frame(out, opcode, payload, fin);
    return out;
}

std::string encode_close(int code, std::string_view reason) {
    if (code == 0)
        return encode_frame(Opcode::close, {});
    if (!valid_close_code(code))
        throw std::invalid_argument("invalid WebSocket close code " + std::to_string(code));
    std::size_t n = std::min(reason.size(), max_control_payload - 2);
    // Cut at a character boundary: never before a continuation byte.
    while (n > 0 && n < reason.size() && (static_cast<unsigned char>(reason[n]) & 0xc0) == 0x80)
        --n;
    std::string payload;
    payload.push_back(static_cast<char>(code >> 8));
    payload.push_back(static_cast<char>(code & 0xff));
    payload.append(reason.substr(0, n));
    return encode_frame(Opcode::close, payload);
}

}  // namespace postern::ws
