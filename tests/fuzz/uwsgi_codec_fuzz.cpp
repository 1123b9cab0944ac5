// libFuzzer driver for adapters/uwsgi/codec: the decoder on arbitrary bytes
// with small and default limits; a decoded packet is encoded again and must
// decode to the same variables, consuming what it did.
//
// Seed corpus: tests/data/uwsgi/ (headers captured from nginx and Apache).
// Building and running: tests/fuzz/README.md.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "uwsgi/codec.hpp"

using namespace postern::uwsgi;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    for (const std::size_t max : {std::size_t{64}, std::size_t{256} * 1024}) {
        DecodeLimits limits;
        limits.max_header_bytes = max;
        limits.max_params = 16;
        Request req;
        const Result r = decode_request(in, limits, req);
        if (r.status == Status::done && r.consumed > size)
            std::abort();
        if (r.status == Status::error && r.offset > size)
            std::abort();
        if (r.status == Status::done) {
            const std::string again = encode_request(req.params);
            Request back;
            const Result r2 = decode_request(again, limits, back);
            if (r2.status != Status::done || back.params != req.params ||
                r2.consumed != r.consumed || back.content_length != req.content_length)
                std::abort();
        }
    }
    return 0;
}
