// libFuzzer driver for core/websocket_codec (RFC 6455).
//
// Input: byte 0 picks the message bound (16 bytes, 300 bytes or the default
// 1 MiB), byte 1 seeds the split into random pieces; the rest is what a
// client sends after the handshake. The promises checked (FUZZ_CHECK):
//   - fed whole, byte by byte and in random pieces, the stream decodes to
//     the same messages and ends the same way (need_more, or the same close
//     code at the same byte);
//   - a refusal is 1002, 1007 or 1009, at a byte that was given;
//   - what is delivered keeps the rules: data messages within the bound,
//     text and Close reasons valid UTF-8, control payloads within 125
//     bytes, Close codes valid (or 1005 for none);
//   - the messages, encoded again as a client would (masked, data split in
//     two fragments with a ping between them), decode to themselves;
//   - a frame header that decodes is 6 to 14 bytes and every cut of it
//     needs more.
// The same bytes, read as header lines "name: value" (turned into CGI
// variables as the adapters do, repeats joined), go through the handshake
// check: accepted means a 28-character Sec-WebSocket-Accept, refused means
// 400 or 426 with a reason.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/environ.hpp"
#include "core/websocket_codec.hpp"
#include "fuzz_check.hpp"

namespace ws = postern::ws;
using postern::DecodeStatus;

namespace {

struct Outcome {
    std::vector<ws::Message> messages;
    DecodeStatus status = DecodeStatus::need_more;
    int code = 0;
    std::size_t offset = 0;

    bool operator==(const Outcome&) const = default;
};

/// Feeds `in` in pieces of `sizes` (cycled; 0 means all that is left).
Outcome feed(std::string_view in, std::size_t max, const std::vector<std::size_t>& sizes) {
    ws::Decoder d(max);
    Outcome o;
    std::size_t pos = 0, p = 0;
    while (pos < in.size()) {
        std::size_t n = sizes.empty() ? 0 : sizes[p++ % sizes.size()];
        if (n == 0 || n > in.size() - pos)
            n = in.size() - pos;
        std::string_view piece = in.substr(pos, n);
        pos += n;
        for (;;) {
            ws::Message m;
            ws::Result r = d.decode(piece, m);
            FUZZ_CHECK(r.consumed <= piece.size());
            if (r.status == DecodeStatus::error) {
                o.status = r.status;
                o.code = r.code;
                o.offset = r.offset;
                return o;
            }
            piece.remove_prefix(r.consumed);
            if (r.status == DecodeStatus::need_more) {
                FUZZ_CHECK(piece.empty());
                break;
            }
            o.messages.push_back(std::move(m));
        }
    }
    return o;
}

void check_messages(const Outcome& o, std::size_t max, std::size_t size) {
    if (o.status == DecodeStatus::error) {
        FUZZ_CHECK(o.code == ws::close_code::protocol_error ||
                   o.code == ws::close_code::invalid_data || o.code == ws::close_code::too_big);
        FUZZ_CHECK(o.offset < size);
    }
    for (std::size_t k = 0; k < o.messages.size(); ++k) {
        const ws::Message& m = o.messages[k];
        switch (m.opcode) {
            case ws::Opcode::text:
                FUZZ_CHECK(ws::valid_utf8(m.data));
                [[fallthrough]];
            case ws::Opcode::binary:
                FUZZ_CHECK(m.data.size() <= max);
                break;
            case ws::Opcode::close:
                FUZZ_CHECK(k + 1 == o.messages.size());  // nothing after a Close
                FUZZ_CHECK(m.close_code == ws::close_code::no_status
                               ? m.data.empty()
                               : ws::valid_close_code(m.close_code));
                FUZZ_CHECK(ws::valid_utf8(m.data));
                FUZZ_CHECK(m.data.size() <= ws::max_control_payload - 2);
                break;
            case ws::Opcode::ping:
            case ws::Opcode::pong:
                FUZZ_CHECK(m.data.size() <= ws::max_control_payload);
                break;
            default:
                FUZZ_CHECK(!"a continuation delivered as a message");
        }
    }
}

/// The messages as a client would send them again.
std::string reencode(const std::vector<ws::Message>& messages) {
    const ws::MaskKey mask = {0x12, 0x34, 0x56, 0x78};
    std::string out;
    for (const ws::Message& m : messages) {
        if (m.opcode == ws::Opcode::close) {
            std::string payload;
            if (m.close_code != ws::close_code::no_status) {
                payload.push_back(static_cast<char>(m.close_code >> 8));
                payload.push_back(static_cast<char>(m.close_code & 0xff));
                payload += m.data;
            }
            ws::append_frame(out, ws::Opcode::close, payload, true, &mask);
        } else if (ws::is_control(m.opcode) || m.data.size() < 2) {
            ws::append_frame(out, m.opcode, m.data, true, &mask);
        } else {
            const std::size_t half = m.data.size() / 2;  // may split a character
            ws::append_frame(out, m.opcode, std::string_view(m.data).substr(0, half), false, &mask);
            ws::append_frame(out, ws::Opcode::ping, "between", true, &mask);
            ws::append_frame(out, ws::Opcode::continuation, std::string_view(m.data).substr(half),
                             true, &mask);
        }
    }
    return out;
}

void check_handshake(std::string_view in) {
    postern::Environ env{{"REQUEST_METHOD", "GET"}, {"SERVER_PROTOCOL", "HTTP/1.1"}};
    while (!in.empty()) {
        const std::size_t nl = in.find('\n');
        std::string_view line = in.substr(0, nl);
        const std::size_t colon = line.find(':');
        if (colon != std::string_view::npos) {
            std::string_view value = line.substr(colon + 1);
            if (!value.empty() && value.front() == ' ')
                value.remove_prefix(1);
            postern::add_header(env, line.substr(0, colon), value);
        }
        if (nl == std::string_view::npos)
            break;
        in.remove_prefix(nl + 1);
    }
    ws::Handshake h = ws::check_handshake(env);
    if (h.ok)
        FUZZ_CHECK(h.accept.size() == 28 && h.status == 0);
    else
        FUZZ_CHECK((h.status == 400 || h.status == 426) && !h.reason.empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2)
        return 0;
    static constexpr std::size_t bounds[] = {16, 300, ws::Decoder::default_max_message};
    const std::size_t max = bounds[data[0] % 3];
    std::uint32_t seed = data[1];
    const std::string_view in(reinterpret_cast<const char*>(data) + 2, size - 2);

    const Outcome whole = feed(in, max, {});
    check_messages(whole, max, in.size());
    FUZZ_CHECK(feed(in, max, {1}) == whole);
    std::vector<std::size_t> pieces;
    for (int k = 0; k < 16; ++k) {
        seed = seed * 1103515245u + 12345u;
        pieces.push_back(1 + (seed >> 16) % 23);
    }
    FUZZ_CHECK(feed(in, max, pieces) == whole);

    // Encoded again (the payloads keep their sizes, so the bound holds):
    // the same messages, each split one after the ping put between its
    // fragments.
    const std::string again = reencode(whole.messages);
    std::vector<ws::Message> expected;
    for (const ws::Message& m : whole.messages) {
        if (!ws::is_control(m.opcode) && m.data.size() >= 2)
            expected.push_back({ws::Opcode::ping, "between", 0});
        expected.push_back(m);
    }
    const Outcome round = feed(again, max, {});
    FUZZ_CHECK(round.status == DecodeStatus::need_more);
    FUZZ_CHECK(round.messages == expected);

    ws::FrameHeader h;
    ws::Result r = ws::decode_frame_header(in, h);
    if (r.status == DecodeStatus::done) {
        FUZZ_CHECK(r.consumed >= 6 && r.consumed <= ws::max_frame_header);
        for (std::size_t k = 0; k < r.consumed; ++k)
            FUZZ_CHECK(ws::decode_frame_header(in.substr(0, k), h).status ==
                       DecodeStatus::need_more);
    }

    check_handshake(in);
    return 0;
}
