// libFuzzer driver for adapters/ajp/codec: every decoder on arbitrary bytes,
// as a request packet, as a body packet and as a bare FORWARD_REQUEST
// payload, at the default and the largest packet size; a decoded request is
// encoded again and must decode to the same thing. Seed corpus:
// tests/data/ajp/ (packets captured from mod_jk and mod_proxy_ajp).
// Building and running: tests/fuzz/README.md.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ajp/codec.hpp"

using namespace postern::ajp;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    for (std::size_t packet_size : {kDefaultPacketSize, kMaxPacketSize}) {
        DecodeLimits limits;
        limits.max_payload = std::min<std::size_t>(packet_size - kHeaderSize, 0xFFFF);
        RequestPacket p;
        Result r = decode_request_packet(in, limits, p);
        if (r.status == Status::done && r.consumed > size)
            std::abort();
        if (r.status == Status::error && r.offset > size)
            std::abort();
        if (r.status == Status::done && p.type == Code::forward_request) {
            // Round trip: what decoded encodes to something that decodes the
            // same (stored methods and all).
            const std::string again =
                encode_forward_request(p.request, method_code(p.request.method));
            RequestPacket q;
            DecodeLimits wide = limits;
            wide.max_payload = 0xFFFF;
            Result r2 = decode_request_packet(again, wide, q);
            if (r2.status != Status::done || q.request.method != p.request.method ||
                q.request.req_uri != p.request.req_uri || q.request.headers != p.request.headers ||
                q.request.attributes != p.request.attributes ||
                q.request.secret != p.request.secret)
                std::abort();
        }
        std::string_view chunk;
        Result b = decode_body_packet(in, limits.max_payload, chunk);
        if (b.status == Status::done &&
            (chunk.size() > max_request_chunk(packet_size) + 1 || b.consumed > size))
            std::abort();
        ForwardRequest f;
        Result d = decode_forward_request(in, limits, f);
        if (d.status == Status::need_more)
            std::abort();  // a payload is whole: never need_more
    }
    return 0;
}
