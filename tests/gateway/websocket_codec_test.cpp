// Tests core/websocket_codec.cpp and websocket_handshake.cpp: the
// RFC 6455 frame decoder, message assembler and encoder, and the opening
// handshake, as a spec: each input with its outcome (the close code and the
// offending byte), every truncation point of valid frames, the same stream
// split every way, and the cases of the Autobahn test suite that a pure
// codec can answer (1.x lengths, 5.x fragmentation, 6.x UTF-8, 7.x close).
#include "core/websocket_codec.hpp"

#include <gtest/gtest.h>

#include "core/environ.hpp"

#include <algorithm>
#include <ostream>
#include <random>
#include <string>
#include <vector>

namespace postern::ws {
namespace {

const MaskKey key = {0x37, 0xfa, 0x21, 0x3d};  // RFC 6455 §5.7's key

/// A client's frame: masked.
std::string client(Opcode op, std::string_view payload, bool fin = true) {
    std::string out;
    append_frame(out, op, payload, fin, &key);
    return out;
}

/// A frame header written by hand (for what the encoder refuses to write):
/// byte 0, the length bytes as given (mask bit added), the key.
std::string raw(unsigned char b0, std::string lengths, std::string_view payload = {}) {
    std::string out(1, static_cast<char>(b0));
    lengths[0] = static_cast<char>(static_cast<unsigned char>(lengths[0]) | 0x80);
    out += lengths;
    for (auto b : key)
        out.push_back(static_cast<char>(b));
    const std::size_t old = out.size();
    out.append(payload);
    unmask(out.data() + old, out.data() + old, payload.size(), key, 0);
    return out;
}

std::string close_payload(int code, std::string_view reason = {}) {
    std::string p;
    p.push_back(static_cast<char>(code >> 8));
    p.push_back(static_cast<char>(code & 0xff));
    p.append(reason);
    return p;
}

/// What a stream decodes to: the messages, then how it ended.
struct Outcome {
    std::vector<Message> messages;
    DecodeStatus status = DecodeStatus::need_more;
    int code = 0;
    std::size_t offset = 0;
};

bool operator==(const Outcome& a, const Outcome& b) {
    return a.messages == b.messages && a.status == b.status && a.code == b.code &&
           a.offset == b.offset;
}

std::ostream& operator<<(std::ostream& os, const Outcome& o) {
    os << o.messages.size() << " messages, status " << static_cast<int>(o.status) << " code "
       << o.code << " at " << o.offset;
    return os;
}

/// Feeds `in` to `d` in pieces of the given sizes (the last piece takes
/// the rest), decoding every message of each piece.
Outcome feed(Decoder& d, std::string_view in, const std::vector<std::size_t>& pieces = {}) {
    Outcome o;
    std::size_t pos = 0;
    std::size_t p = 0;
    while (pos < in.size()) {
        std::size_t n = p < pieces.size() ? std::min(pieces[p], in.size() - pos) : in.size() - pos;
        ++p;
        std::string_view piece = in.substr(pos, n);
        pos += n;
        for (;;) {
            Message m;
            Result r = d.decode(piece, m);
            EXPECT_LE(r.consumed, piece.size());
            if (r.status == DecodeStatus::error) {
                o.status = r.status;
                o.code = r.code;
                o.offset = r.offset;
                return o;
            }
            piece.remove_prefix(r.consumed);
            if (r.status == DecodeStatus::need_more) {
                EXPECT_TRUE(piece.empty());
                break;
            }
            o.messages.push_back(std::move(m));
        }
    }
    return o;
}

Outcome decode(std::string_view in, std::size_t max = Decoder::default_max_message) {
    Decoder d(max);
    return feed(d, in);
}

Outcome byte_by_byte(std::string_view in, std::size_t max = Decoder::default_max_message) {
    Decoder d(max);
    return feed(d, in, std::vector<std::size_t>(in.size(), 1));
}

Message msg(Opcode op, std::string data, int close = 0) {
    Message m;
    m.opcode = op;
    m.data = std::move(data);
    m.close_code = close;
    return m;
}

// --- RFC 6455 §5.7's examples -----------------------------------------------

TEST(WebSocketFrames, DecodesTheRfcMaskedHello) {
    const std::string in = "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
    EXPECT_EQ(client(Opcode::text, "Hello"), in);
    Outcome o = decode(in);
    ASSERT_EQ(o.status, DecodeStatus::need_more);
    ASSERT_EQ(o.messages.size(), 1u);
    EXPECT_EQ(o.messages[0], msg(Opcode::text, "Hello"));
}

TEST(WebSocketFrames, DecodesAHeaderAlone) {
    FrameHeader h;
    Result r = decode_frame_header("\x8a\x85\x37\xfa\x21\x3d\x7f", h);
    ASSERT_EQ(r.status, DecodeStatus::done) << r.reason;
    EXPECT_EQ(r.consumed, 6u);
    EXPECT_TRUE(h.fin);
    EXPECT_EQ(h.opcode, Opcode::pong);
    EXPECT_TRUE(h.masked);
    EXPECT_EQ(h.mask, key);
    EXPECT_EQ(h.payload_length, 5u);
}

TEST(WebSocketFrames, EncodesTheRfcUnmaskedFrames) {
    EXPECT_EQ(encode_frame(Opcode::text, "Hello"), "\x81\x05Hello");
    EXPECT_EQ(encode_frame(Opcode::text, "Hel", false), std::string("\x01\x03Hel", 5));
    EXPECT_EQ(encode_frame(Opcode::continuation, "lo"), "\x80\x02lo");
    EXPECT_EQ(encode_frame(Opcode::ping, "Hello"), "\x89\x05Hello");
    EXPECT_EQ(encode_frame(Opcode::pong, "Hello"), "\x8a\x05Hello");
    EXPECT_EQ(encode_frame(Opcode::binary, std::string(256, 'x')).substr(0, 4),
              std::string("\x82\x7e\x01\x00", 4));
    EXPECT_EQ(encode_frame(Opcode::binary, std::string(65536, 'x')).substr(0, 10),
              std::string("\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10));
}

TEST(WebSocketFrames, EncodesTheMinimalLengthAtEachBoundary) {
    EXPECT_EQ(encode_frame(Opcode::binary, std::string(125, 'x')).size(), 2u + 125);
    EXPECT_EQ(encode_frame(Opcode::binary, std::string(126, 'x')).size(), 4u + 126);
    EXPECT_EQ(encode_frame(Opcode::binary, std::string(65535, 'x')).size(), 4u + 65535);
    EXPECT_EQ(encode_frame(Opcode::binary, std::string(65536, 'x')).size(), 10u + 65536);
    EXPECT_EQ(encode_frame(Opcode::binary, "").size(), 2u);
}

TEST(WebSocketFrames, EncodesCloseFrames) {
    EXPECT_EQ(encode_close(0), std::string("\x88\x00", 2));
    EXPECT_EQ(encode_close(1000), std::string("\x88\x02\x03\xe8", 4));
    EXPECT_EQ(encode_close(1001, "bye"), std::string("\x88\x05\x03\xe9"
                                                     "bye",
                                                     7));
    EXPECT_THROW(encode_close(1005), std::invalid_argument);
    EXPECT_THROW(encode_close(999), std::invalid_argument);
    EXPECT_THROW(encode_frame(Opcode::ping, std::string(126, 'x')), std::invalid_argument);
    EXPECT_THROW(encode_frame(Opcode::ping, "x", false), std::invalid_argument);
}

TEST(WebSocketFrames, CutsALongCloseReasonAtACharacterBoundary) {
    std::string reason;
    for (int i = 0; i < 100; ++i)
        reason += "\xce\xba";  // 2 bytes each: 123 would split one
    const std::string frame = encode_close(1000, reason);
    ASSERT_EQ(static_cast<unsigned char>(frame[1]), 2u + 122);
    const std::string cut = frame.substr(4);
    EXPECT_TRUE(valid_utf8(cut));
    EXPECT_EQ(cut, reason.substr(0, 122));
}

// --- Refusals: each bad input with its close code and offending byte --------

struct Refusal {
    const char* name;
    std::string in;
    int code;
    std::size_t offset;
    std::size_t max = Decoder::default_max_message;
};

std::ostream& operator<<(std::ostream& os, const Refusal& r) {
    return os << r.name;
}

class WebSocketRefusal : public testing::TestWithParam<Refusal> {};

TEST_P(WebSocketRefusal, IsRefusedWithItsCloseCodeHoweverTheBytesArrive) {
    const Refusal& c = GetParam();
    Outcome whole = decode(c.in, c.max);
    EXPECT_EQ(whole.status, DecodeStatus::error);
    EXPECT_EQ(whole.code, c.code);
    EXPECT_EQ(whole.offset, c.offset);
    EXPECT_EQ(byte_by_byte(c.in, c.max), whole);
    // Stuck after the refusal: more bytes change nothing.
    Decoder d(c.max);
    feed(d, c.in);
    Message m;
    Result again = d.decode(client(Opcode::text, "next"), m);
    EXPECT_EQ(again.status, DecodeStatus::error);
    EXPECT_EQ(again.code, c.code);
}

const std::string two_hundred(200, 'x');
const std::string hello_text = client(Opcode::text, "Hello");  // 11 bytes

INSTANTIATE_TEST_SUITE_P(
    Rfc6455, WebSocketRefusal,
    testing::Values(
        // §5.1: a client MUST mask; the mask bit is in byte 1.
        Refusal{"UnmaskedText", "\x81\x05Hello", 1002, 1},
        Refusal{"UnmaskedClose", std::string("\x88\x00", 2), 1002, 1},
        Refusal{"UnmaskedAfterAGoodFrame", hello_text + std::string("\x82\x00", 2), 1002, 12},
        // §5.2: RSV1-3 with no extension negotiated (Autobahn 3.x).
        Refusal{"Rsv1", raw(0xc1, "\x05", "Hello"), 1002, 0},
        Refusal{"Rsv2", raw(0xa1, "\x05", "Hello"), 1002, 0},
        Refusal{"Rsv3", raw(0x91, "\x05", "Hello"), 1002, 0},
        Refusal{"Rsv3OnAPing", raw(0x99, std::string(1, '\0')), 1002, 0},
        // Reserved opcodes (Autobahn 4.x).
        Refusal{"Opcode3", raw(0x83, std::string(1, '\0')), 1002, 0},
        Refusal{"Opcode7", raw(0x87, std::string(1, '\0')), 1002, 0},
        Refusal{"OpcodeB", raw(0x8b, std::string(1, '\0')), 1002, 0},
        Refusal{"OpcodeF", raw(0x8f, std::string(1, '\0')), 1002, 0},
        Refusal{"ReservedOpcodeAfterAGoodFrame", hello_text + raw(0x85, std::string(1, '\0')), 1002,
                11},
        // §5.5: control frames at most 125 bytes, never fragmented (2.5,
        // 5.1, 5.2).
        Refusal{"PingOf126Bytes", raw(0x89, std::string("\x7e\x00\x7e", 3), std::string(126, 'x')),
                1002, 1},
        Refusal{"CloseOf126Bytes", raw(0x88, std::string("\x7e\x00\x7e", 3), std::string(126, 'x')),
                1002, 1},
        Refusal{"PongWithA64BitLength", raw(0x8a, std::string("\x7f\0\0\0\0\0\0\0\x01", 9)), 1002,
                1},
        Refusal{"FragmentedPing", raw(0x09, "\x01", "a") + raw(0x80, "\x01", "b"), 1002, 0},
        Refusal{"FragmentedPong", raw(0x0a, "\x01", "a"), 1002, 0},
        Refusal{"FragmentedClose", raw(0x08, std::string(1, '\0')), 1002, 0},
        // §5.2: lengths.
        Refusal{"NonMinimal16BitLength", raw(0x81, std::string("\x7e\x00\x05", 3), "Hello"), 1002,
                2},
        Refusal{"NonMinimal64BitLength",
                raw(0x82, std::string("\x7f\0\0\0\0\0\0\xff\xff", 9), std::string(65535, 'x')),
                1002, 2},
        Refusal{"TopBitOfThe64BitLength", raw(0x82, std::string("\x7f\x80\0\0\0\0\0\0\x01", 9)),
                1002, 2},
        // §5.4: fragmentation (5.9-5.18).
        Refusal{"ContinuationWithNoMessage", client(Opcode::continuation, "x"), 1002, 0},
        Refusal{"ContinuationAfterAWholeMessage", hello_text + client(Opcode::continuation, "x"),
                1002, 11},
        Refusal{"TextWhileAMessageIsUnfinished",
                client(Opcode::text, "a", false) + client(Opcode::text, "b"), 1002, 7},
        Refusal{"BinaryWhileAMessageIsUnfinished",
                client(Opcode::binary, "a", false) + client(Opcode::ping, "p") +
                    client(Opcode::binary, "b"),
                1002, 14},
        // The bound on a message: from the frame header, before its payload.
        Refusal{"FrameOverTheBound", client(Opcode::binary, std::string(1025, 'x')), 1009, 1, 1024},
        Refusal{"HeaderOfAHugeFrame", raw(0x82, std::string("\x7f\x00\x00\x01\0\0\0\0\0", 9)), 1009,
                1},
        Refusal{"FragmentsOverTheBound",
                client(Opcode::binary, std::string(600, 'x'), false) +
                    client(Opcode::continuation, std::string(600, 'x')),
                1009, 609, 1024},
        Refusal{"FragmentsOverTheDefaultBound",
                client(Opcode::text, std::string(1 << 19, 'x'), false) +
                    client(Opcode::continuation, std::string(1 << 19, 'x'), false) +
                    client(Opcode::continuation, "x"),
                1009, 2 * (14 + (1 << 19)) + 1},
        // §8.1: text that is not UTF-8 (6.3.1: a surrogate inside κόσμε).
        Refusal{"SurrogateInText",
                client(Opcode::text,
                       "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"
                       "edited"),
                1007, 6 + 12},
        Refusal{"InvalidUtf8SplitAcrossFragments",
                client(Opcode::text, "ab\xe0", false) + client(Opcode::continuation, "\x80z"), 1007,
                9 + 6},
        Refusal{"InvalidUtf8InAnUnfinishedMessage", client(Opcode::text, "ok\xff", false), 1007,
                6 + 2},
        Refusal{"TextEndingInsideASequence", client(Opcode::text, "ok\xce"), 1007, 8},
        Refusal{"FragmentsEndingInsideASequence",
                client(Opcode::text, "ok\xf0\x9f", false) + client(Opcode::continuation, "\x98"),
                1007, 10 + 6},
        // Found by websocket_codec_fuzz: told at the last byte of the input,
        // not one past it.
        Refusal{"EmptyFinalFragmentEndingInsideASequence",
                client(Opcode::text, "ok\xce", false) + client(Opcode::continuation, ""), 1007,
                9 + 5},
        // §5.5.1, §7.4: Close payloads (7.3.2, 7.5.1, 7.9.x).
        Refusal{"CloseWithOneByte", client(Opcode::close, "\x03"), 1002, 6},
        Refusal{"CloseCode0", client(Opcode::close, close_payload(0)), 1002, 6},
        Refusal{"CloseCode999", client(Opcode::close, close_payload(999)), 1002, 6},
        Refusal{"CloseCode1004", client(Opcode::close, close_payload(1004)), 1002, 6},
        Refusal{"CloseCode1005", client(Opcode::close, close_payload(1005)), 1002, 6},
        Refusal{"CloseCode1006", client(Opcode::close, close_payload(1006)), 1002, 6},
        Refusal{"CloseCode1015", client(Opcode::close, close_payload(1015)), 1002, 6},
        Refusal{"CloseCode1016", client(Opcode::close, close_payload(1016)), 1002, 6},
        Refusal{"CloseCode1100", client(Opcode::close, close_payload(1100)), 1002, 6},
        Refusal{"CloseCode2000", client(Opcode::close, close_payload(2000)), 1002, 6},
        Refusal{"CloseCode2999", client(Opcode::close, close_payload(2999)), 1002, 6},
        Refusal{"CloseCode5000", client(Opcode::close, close_payload(5000)), 1002, 6},
        Refusal{"CloseCode65535", client(Opcode::close, close_payload(65535)), 1002, 6},
        Refusal{"CloseReasonNotUtf8",
                client(Opcode::close, close_payload(1000,
                                                    "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc"
                                                    "\xce\xb5\xed\xa0\x80")),
                1007, 6 + 2 + 12},
        Refusal{"CloseReasonEndingInsideASequence",
                client(Opcode::close, close_payload(1000, "ab\xce")), 1007, 6 + 4}),
    [](const testing::TestParamInfo<Refusal>& info) { return std::string(info.param.name); });

TEST(WebSocketDecoder, AcceptsEveryValidCloseCode) {
    // Autobahn 7.7.x, and 1012-1014 registered with IANA since.
    for (int code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000,
                     3999, 4000, 4999}) {
        Outcome o = decode(client(Opcode::close, close_payload(code, "why")));
        ASSERT_EQ(o.status, DecodeStatus::need_more) << code;
        ASSERT_EQ(o.messages.size(), 1u) << code;
        EXPECT_EQ(o.messages[0], msg(Opcode::close, "why", code));
    }
}

TEST(WebSocketDecoder, AnEmptyCloseHasNoStatus) {
    Outcome o = decode(client(Opcode::close, ""));
    ASSERT_EQ(o.messages.size(), 1u);
    EXPECT_EQ(o.messages[0], msg(Opcode::close, "", close_code::no_status));
}

TEST(WebSocketDecoder, IgnoresWhatFollowsAClose) {
    Decoder d;
    const std::string in = client(Opcode::close, close_payload(1000)) + "\x81\x05Hello" + "junk";
    Outcome o = feed(d, in);
    EXPECT_EQ(o.status, DecodeStatus::need_more);
    ASSERT_EQ(o.messages.size(), 1u);
    EXPECT_TRUE(d.closed());
}

// --- Valid streams: every truncation point, every split ---------------------

/// Valid streams with what they decode to (Autobahn 1.x, 2.x, 5.x).
struct Valid {
    const char* name;
    std::string in;
    std::vector<Message> out;
};

std::vector<Valid> valid_streams() {
    std::vector<Valid> v;
    for (std::size_t n : {0, 1, 125, 126, 127, 128, 65535, 65536}) {  // 1.1.x, 1.2.x
        std::string text(n, '*');
        std::string bin(n, '\xfe');
        v.push_back({"text", client(Opcode::text, text), {msg(Opcode::text, text)}});
        v.push_back({"binary", client(Opcode::binary, bin), {msg(Opcode::binary, bin)}});
    }
    v.push_back({"ping and pong with payloads",  // 2.2, 2.3, 2.4
                 client(Opcode::ping, "Hello") + client(Opcode::pong, std::string(125, '\x01')) +
                     client(Opcode::ping, ""),
                 {msg(Opcode::ping, "Hello"), msg(Opcode::pong, std::string(125, '\x01')),
                  msg(Opcode::ping, "")}});
    v.push_back(
        {"fragments with pings between them",  // 5.6, 5.19
         client(Opcode::text, "frag", false) + client(Opcode::ping, "p1") +
             client(Opcode::continuation, "ment", false) + client(Opcode::pong, "p2") +
             client(Opcode::continuation, "ed"),
         {msg(Opcode::ping, "p1"), msg(Opcode::pong, "p2"), msg(Opcode::text, "fragmented")}});
    v.push_back({"empty fragments",  // 5.17
                 client(Opcode::binary, "", false) + client(Opcode::continuation, "", false) +
                     client(Opcode::continuation, ""),
                 {msg(Opcode::binary, "")}});
    v.push_back({"kosme one byte per fragment",  // 6.2.4
                 [] {
                     const std::string k = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5";
                     std::string s = client(Opcode::text, k.substr(0, 1), false);
                     for (std::size_t i = 1; i + 1 < k.size(); ++i)
                         s += client(Opcode::continuation, k.substr(i, 1), false);
                     return s + client(Opcode::continuation, k.substr(k.size() - 1));
                 }(),
                 {msg(Opcode::text, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5")}});
    v.push_back(
        {"messages then a close",
         client(Opcode::text, "a") + client(Opcode::binary, "b") +
             client(Opcode::close, close_payload(1000, "done")),
         {msg(Opcode::text, "a"), msg(Opcode::binary, "b"), msg(Opcode::close, "done", 1000)}});
    return v;
}

TEST(WebSocketDecoder, DecodesValidStreamsWholeAndByteByByte) {
    for (const Valid& c : valid_streams()) {
        SCOPED_TRACE(c.name);
        SCOPED_TRACE(c.in.size());
        Outcome whole = decode(c.in);
        EXPECT_EQ(whole.status, DecodeStatus::need_more);
        EXPECT_EQ(whole.messages, c.out);
        if (c.in.size() < 5000) {
            EXPECT_EQ(byte_by_byte(c.in), whole);
        }
    }
}

TEST(WebSocketDecoder, EveryTruncationOfAValidStreamNeedsMore) {
    // A prefix never gives an error nor a wrong message: what it decodes is
    // the start of what the whole stream decodes to, and the rest fed to
    // the same decoder gives the remainder.
    for (const Valid& c : valid_streams()) {
        if (c.in.size() > 2000)
            continue;
        SCOPED_TRACE(c.name);
        for (std::size_t k = 0; k < c.in.size(); ++k) {
            Decoder d;
            Outcome first = feed(d, std::string_view(c.in).substr(0, k));
            ASSERT_EQ(first.status, DecodeStatus::need_more) << "cut at " << k;
            ASSERT_LE(first.messages.size(), c.out.size());
            Outcome rest = feed(d, std::string_view(c.in).substr(k));
            ASSERT_EQ(rest.status, DecodeStatus::need_more) << "cut at " << k;
            std::vector<Message> all = first.messages;
            all.insert(all.end(), rest.messages.begin(), rest.messages.end());
            ASSERT_EQ(all, c.out) << "cut at " << k;
        }
    }
}

TEST(WebSocketDecoder, EveryTruncationOfAFrameHeaderNeedsMore) {
    for (std::size_t n : {5, 300, 70000}) {
        const std::string frame = client(Opcode::binary, std::string(n, 'x'));
        const std::size_t header = n < 126 ? 6 : n <= 0xffff ? 8 : 14;
        for (std::size_t k = 0; k < header; ++k) {
            FrameHeader h;
            EXPECT_EQ(decode_frame_header(std::string_view(frame).substr(0, k), h).status,
                      DecodeStatus::need_more)
                << n << " cut at " << k;
        }
        FrameHeader h;
        Result r = decode_frame_header(frame, h);
        ASSERT_EQ(r.status, DecodeStatus::done);
        EXPECT_EQ(r.consumed, header);
        EXPECT_EQ(h.payload_length, n);
    }
}

TEST(WebSocketDecoder, DecodesTheSameInRandomPieces) {
    std::string in;
    std::vector<Message> expected;
    for (const Valid& c : valid_streams()) {
        if (c.out.back().opcode == Opcode::close || c.in.size() > 70000)
            continue;
        in += c.in;
        expected.insert(expected.end(), c.out.begin(), c.out.end());
    }
    std::mt19937 rng(16);  // fixed seed
    for (int round = 0; round < 20; ++round) {
        std::vector<std::size_t> pieces;
        std::uniform_int_distribution<std::size_t> size(1, round < 10 ? 16 : 4096);
        for (std::size_t total = 0; total < in.size(); total += pieces.back())
            pieces.push_back(size(rng));
        Decoder d;
        Outcome o = feed(d, in, pieces);
        ASSERT_EQ(o.status, DecodeStatus::need_more) << round;
        ASSERT_EQ(o.messages, expected) << round;
    }
}

TEST(WebSocketDecoder, DecodesAMessageOfExactlyTheBound) {
    Outcome o = decode(client(Opcode::binary, std::string(1000, 'x'), false) +
                           client(Opcode::continuation, std::string(24, 'y')),
                       1024);
    ASSERT_EQ(o.status, DecodeStatus::need_more);
    ASSERT_EQ(o.messages.size(), 1u);
    EXPECT_EQ(o.messages[0].data.size(), 1024u);
}

TEST(WebSocketDecoder, RoundTripsEncodedFramesAtEveryLengthBoundary) {
    std::mt19937 rng(6455);
    for (std::size_t n : {0, 1, 2, 3, 4, 5, 124, 125, 126, 127, 65535, 65536, 100000}) {
        std::string payload(n, '\0');
        for (char& c : payload)
            c = static_cast<char>(rng() & 0xff);
        for (Opcode op : {Opcode::binary, Opcode::ping}) {
            if (op == Opcode::ping && n > max_control_payload)
                continue;
            std::string wire;
            const MaskKey mask = {static_cast<std::uint8_t>(rng()),
                                  static_cast<std::uint8_t>(rng()), 0, 0xff};
            append_frame(wire, op, payload, true, &mask);
            Outcome o = decode(wire);
            ASSERT_EQ(o.messages.size(), 1u) << n;
            EXPECT_EQ(o.messages[0], msg(op, payload)) << n;
        }
    }
}

TEST(WebSocketFrames, UnmasksInPiecesFromAnyPosition) {
    const std::string plain = "The quick brown fox";
    std::string masked(plain.size(), '\0');
    unmask(plain.data(), masked.data(), plain.size(), key, 0);
    for (std::size_t cut = 0; cut <= plain.size(); ++cut) {
        std::string back = masked;
        unmask(back.data(), back.data(), cut, key, 0);
        unmask(back.data() + cut, back.data() + cut, back.size() - cut, key, cut);
        EXPECT_EQ(back, plain) << cut;
    }
}

// --- UTF-8 (Autobahn 6.x) ---------------------------------------------------

TEST(WebSocketUtf8, AcceptsKosmeAndTheBoundaryCharacters) {
    for (std::string_view s :
         {std::string_view("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"),  // 6.2.1 κόσμε
          std::string_view("\x00", 1), std::string_view("\x7f"),             // 6.5-6.7
          std::string_view("\xc2\x80"), std::string_view("\xdf\xbf"),
          std::string_view("\xe0\xa0\x80"), std::string_view("\xef\xbf\xbf"),
          std::string_view("\xed\x9f\xbf"), std::string_view("\xee\x80\x80"),
          std::string_view("\xef\xbf\xbd"), std::string_view("\xf0\x90\x80\x80"),
          std::string_view("\xf4\x8f\xbf\xbf"),  // U+10FFFF
          std::string_view("\xef\xbf\xbe"),      // U+FFFE: a noncharacter, still valid
          std::string_view("")}) {
        EXPECT_TRUE(valid_utf8(s)) << testing::PrintToString(std::string(s));
        Outcome o = byte_by_byte(client(Opcode::text, s));
        ASSERT_EQ(o.messages.size(), 1u);
        EXPECT_EQ(o.messages[0].data, s);
    }
}

TEST(WebSocketUtf8, RefusesOverlongsSurrogatesAndCodePointsPastTheEnd) {
    for (std::string_view s : {
             "\xf4\x90\x80\x80",          // 6.8: U+110000
             "\xf7\xbf\xbf\xbf",          // U+1FFFFF
             "\xf8\x88\x80\x80\x80",      // 6.8.1: 5 bytes
             "\xfc\x84\x80\x80\x80\x80",  // 6 bytes
             "\x80",
             "\xbf",
             "\x80\xbf",  // 6.9: lone continuation bytes
             "\xc0 ",
             "\xe0\x80 ",  // 6.10-6.11: starts followed by a space
             "\xfe",
             "\xff",
             "\xfe\xfe\xff\xff",  // 6.12
             "\xc0\xaf",
             "\xe0\x80\xaf",
             "\xf0\x80\x80\xaf",  // 6.16: overlong '/'
             "\xc1\xbf",
             "\xe0\x9f\xbf",
             "\xf0\x8f\xbf\xbf",  // 6.17: maximal overlongs
             "\xc0\x80",
             "\xe0\x80\x80",
             "\xf0\x80\x80\x80",  // 6.18: overlong NUL
             "\xed\xa0\x80",
             "\xed\xad\xbf",
             "\xed\xb0\x80",
             "\xed\xbf\xbf",              // 6.19: surrogates
             "\xed\xa0\x80\xed\xb0\x80",  // 6.20: a surrogate pair
             "\xce",
             "\xe1\xbd",
             "\xf0\x9f\x98",  // cut short
         }) {
        EXPECT_FALSE(valid_utf8(s)) << testing::PrintToString(std::string(s));
        Outcome o = decode(client(Opcode::text, s));
        EXPECT_EQ(o.status, DecodeStatus::error) << testing::PrintToString(std::string(s));
        EXPECT_EQ(o.code, close_code::invalid_data);
        EXPECT_EQ(byte_by_byte(client(Opcode::text, s)), o);
    }
}

TEST(WebSocketUtf8, FailsFastAtTheFirstBadByteOfAnUnfinishedMessage) {
    // 6.4.x: the connection is failed when the bad byte arrives, not when the
    // message ends; the rest of the frame has not been sent yet.
    const std::string frame = client(Opcode::text,
                                     "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80"
                                     "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5");
    Decoder d;
    Outcome o = feed(d, std::string_view(frame).substr(0, 6 + 13));
    EXPECT_EQ(o.status, DecodeStatus::error);
    EXPECT_EQ(o.code, close_code::invalid_data);
    EXPECT_EQ(o.offset, 6u + 12);
}

TEST(WebSocketUtf8, ValidatesASequenceSplitAcrossFragments) {
    Outcome o = byte_by_byte(client(Opcode::text, "\xf0\x9f", false) +
                             client(Opcode::continuation, "\x98\x80", false) +
                             client(Opcode::continuation, "!"));
    ASSERT_EQ(o.messages.size(), 1u);
    EXPECT_EQ(o.messages[0].data, "\xf0\x9f\x98\x80!");
}

TEST(WebSocketUtf8, LeavesBinaryMessagesUnchecked) {
    Outcome o = decode(client(Opcode::binary, "\xff\xfe\xed\xa0\x80"));
    ASSERT_EQ(o.messages.size(), 1u);
    EXPECT_EQ(o.messages[0].data, "\xff\xfe\xed\xa0\x80");
}

// --- SHA-1, base64 and the opening handshake --------------------------------

std::string hex(const std::array<std::uint8_t, 20>& d) {
    static const char digits[] = "0123456789ABCDEF";
    std::string s;
    for (auto b : d) {
        s += digits[b >> 4];
        s += digits[b & 0xf];
    }
    return s;
}

TEST(WebSocketHandshake, Sha1MatchesRfc3174) {
    // RFC 3174 §7.3: TEST1-TEST4.
    EXPECT_EQ(hex(sha1("abc")), "A9993E364706816ABA3E25717850C26C9CD0D89D");
    EXPECT_EQ(hex(sha1("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
              "84983E441C3BD26EBAAE4AA1F95129E5E54670F1");
    EXPECT_EQ(hex(sha1(std::string(1000000, 'a'))), "34AA973CD4C4DAA4F61EEB2BDBAD27316534016F");
    std::string test4;
    for (int i = 0; i < 10; ++i)
        test4 += "0123456701234567012345670123456701234567012345670123456701234567";
    EXPECT_EQ(hex(sha1(test4)), "DEA356A2CDDD90C7A7ECEDC5EBB563934F460452");
    EXPECT_EQ(hex(sha1("")), "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709");
}

TEST(WebSocketHandshake, Base64MatchesRfc4648) {
    // RFC 4648 §10.
    EXPECT_EQ(base64_encode(""), "");
    EXPECT_EQ(base64_encode("f"), "Zg==");
    EXPECT_EQ(base64_encode("fo"), "Zm8=");
    EXPECT_EQ(base64_encode("foo"), "Zm9v");
    EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
    EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
    EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
    EXPECT_EQ(base64_encode("\xff\xfe\xfd"), "//79");
}

TEST(WebSocketHandshake, ComputesTheRfcAcceptKey) {
    // RFC 6455 §1.3.
    EXPECT_EQ(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

/// A header field as the client sent it.
struct Field {
    std::string_view name;
    std::string_view value;
};

std::vector<Field> browser_fields() {
    // RFC 6455 §1.2's request, less Connection (the HTTP adapter consumes
    // it, passing Upgrade on only when it lists the option).
    return {{"Host", "server.example.com"},
            {"Upgrade", "websocket"},
            {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
            {"Origin", "http://example.com"},
            {"Sec-WebSocket-Version", "13"}};
}

/// The variables of a request with these header fields, as the adapters
/// present them (a repeated header joined with ", ").
Environ environ_of(std::vector<Field> fields, std::string_view method = "GET",
                   std::string_view protocol = "HTTP/1.1") {
    Environ env{{"REQUEST_METHOD", std::string(method)},
                {"SERVER_PROTOCOL", std::string(protocol)}};
    for (const Field& f : fields)
        add_header(env, f.name, f.value);
    return env;
}

TEST(WebSocketHandshake, AcceptsTheRfcRequest) {
    Handshake h = check_handshake(environ_of(browser_fields()));
    ASSERT_TRUE(h.ok) << h.reason;
    EXPECT_EQ(h.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WebSocketHandshake, AcceptsTokensInListsAndAnyCase) {
    std::vector<Field> f = {{"upgrade", "h2c"},
                            {"UPGRADE", "WebSocket"},
                            {"sec-websocket-key", "AAAAAAAAAAAAAAAAAAAAAA=="},
                            {"sec-websocket-version", "13"}};
    Handshake h = check_handshake(environ_of(f));
    ASSERT_TRUE(h.ok) << h.reason;
    f[0].value = "h2c ,\tWEBSOCKET";
    f.erase(f.begin() + 1);
    h = check_handshake(environ_of(f));
    ASSERT_TRUE(h.ok) << h.reason;
}

struct BadHandshake {
    const char* name;
    Environ env;
    int status;
};

std::ostream& operator<<(std::ostream& os, const BadHandshake& b) {
    return os << b.name;
}

Environ with(std::string_view name, std::string_view value) {
    std::vector<Field> f;
    for (const Field& x : browser_fields())
        if (x.name != name)
            f.push_back(x);
    if (!value.empty())
        f.push_back({name, value});
    return environ_of(f);
}

Environ with_twice(std::string_view name, std::string_view value) {
    std::vector<Field> f = browser_fields();
    f.push_back({name, value});
    return environ_of(f);
}

class WebSocketBadHandshake : public testing::TestWithParam<BadHandshake> {};

TEST_P(WebSocketBadHandshake, IsRefused) {
    const BadHandshake& c = GetParam();
    Handshake h = check_handshake(c.env);
    EXPECT_FALSE(h.ok);
    EXPECT_EQ(h.status, c.status) << h.reason;
    EXPECT_FALSE(h.reason.empty());
    EXPECT_TRUE(h.accept.empty());
    if (c.status == 426) {
        // RFC 9110 §15.5.22 (Upgrade), RFC 6455 §4.4 (the version spoken).
        ASSERT_EQ(h.headers.size(), 2u);
        EXPECT_EQ(h.headers[0], (std::pair<std::string, std::string>("Upgrade", "websocket")));
        EXPECT_EQ(h.headers[1],
                  (std::pair<std::string, std::string>("Sec-WebSocket-Version", "13")));
    } else {
        EXPECT_TRUE(h.headers.empty());
    }
}

INSTANTIATE_TEST_SUITE_P(
    Rfc6455, WebSocketBadHandshake,
    testing::Values(
        BadHandshake{"Post", environ_of(browser_fields(), "POST"), 400},
        BadHandshake{"Head", environ_of(browser_fields(), "HEAD"), 400},
        BadHandshake{"Http10", environ_of(browser_fields(), "GET", "HTTP/1.0"), 400},
        BadHandshake{"NoProtocol", environ_of(browser_fields(), "GET", ""), 400},
        BadHandshake{"NoUpgrade", with("Upgrade", ""), 426},
        BadHandshake{"UpgradeToH2c", with("Upgrade", "h2c"), 426},
        BadHandshake{"UpgradeWithAVersion", with("Upgrade", "websocket/13"), 426},
        BadHandshake{"UpgradeAsASubstring", with("Upgrade", "websockets"), 426},
        BadHandshake{"NoKey", with("Sec-WebSocket-Key", ""), 400},
        BadHandshake{"KeyWithoutPadding", with("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ"), 400},
        BadHandshake{"KeyOf15Bytes", with("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25j"), 400},
        BadHandshake{"KeyOf18Bytes", with("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQAA"), 400},
        BadHandshake{"KeyNotBase64", with("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25j*Q=="), 400},
        BadHandshake{"KeyRepeated", with_twice("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAA=="),
                     400},
        BadHandshake{"NoVersion", with("Sec-WebSocket-Version", ""), 426},
        BadHandshake{"Version8", with("Sec-WebSocket-Version", "8"), 426},
        BadHandshake{"VersionList", with("Sec-WebSocket-Version", "13, 8"), 426},
        BadHandshake{"VersionRepeated", with_twice("Sec-WebSocket-Version", "13"), 426}),
    [](const testing::TestParamInfo<BadHandshake>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace postern::ws
