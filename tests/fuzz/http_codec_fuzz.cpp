// libFuzzer driver for adapters/http/http_codec: the request head parser and
// the chunked body decoder on arbitrary bytes.
//
// Head parser, at the default limits and at small ones: an outcome that
// stays inside the input; a done head ends with CRLF CRLF, every view points
// into it, its framing agrees with its length, it parses the same alone and
// with more bytes after it, and every shorter prefix of it needs more.
// Chunked decoder: the same body, status and bytes consumed whether fed
// whole, in small pieces into a small buffer, or with chunk data taken
// straight into the caller's buffer (data_left/consume_data, as
// HttpConnection receives large bodies); never a step without progress.
//
// Seed corpus: tests/data/http/ (requests captured from nginx proxy_pass
// and Apache mod_proxy_http, with fixed-length and chunked bodies).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "http/http_codec.hpp"

using namespace postern::http;

namespace {

bool inside(std::string_view part, std::string_view whole) {
    if (part.empty())
        return true;
    return part.data() >= whole.data() &&
           static_cast<std::size_t>(part.data() - whole.data()) <= whole.size() &&
           part.size() <= whole.size() - static_cast<std::size_t>(part.data() - whole.data());
}

void check_head(std::string_view in, const HeadLimits& limits) {
    RequestHead h;
    const HeadResult r = parse_request_head(in, limits, h);
    FUZZ_CHECK(r.consumed <= in.size());
    if (r.status == Status::error) {
        FUZZ_CHECK(r.offset <= in.size());
        FUZZ_CHECK(r.code == 400 || r.code == 414 || r.code == 417 || r.code == 431 ||
                   r.code == 505);
        FUZZ_CHECK(!r.reason.empty());
        return;
    }
    if (r.status == Status::need_more) {
        // Only empty lines before a request may be dropped.
        for (std::size_t i = 0; i < r.consumed; ++i)
            FUZZ_CHECK(in[i] == (i % 2 == 0 ? '\r' : '\n'));
        return;
    }
    const std::string_view head = in.substr(0, r.consumed);
    FUZZ_CHECK(head.size() >= 4 && head.substr(head.size() - 4) == "\r\n\r\n");
    FUZZ_CHECK(!h.method.empty() && inside(h.method, head));
    FUZZ_CHECK(!h.target.empty() && inside(h.target, head));
    FUZZ_CHECK(inside(h.path, head) && inside(h.authority, head));
    FUZZ_CHECK(h.fields.size() <= limits.max_headers);
    for (const Field& f : h.fields) {
        FUZZ_CHECK(!f.name.empty() && inside(f.name, head) && inside(f.value, head));
        FUZZ_CHECK(f.value.find_first_of("\r\n") == std::string_view::npos);
    }
    FUZZ_CHECK(h.minor == 0 || h.minor == 1);
    FUZZ_CHECK((h.framing == Framing::length) == (h.content_length > 0));
    FUZZ_CHECK(h.framing != Framing::chunked || h.minor == 1);

    // The head alone, and the head with more bytes after it, parse the same.
    for (const std::string& again : {std::string(head), std::string(head) + "GET / HTTP/1.1\r\n"}) {
        RequestHead h2;
        const HeadResult r2 = parse_request_head(again, limits, h2);
        FUZZ_CHECK(r2.status == Status::done && r2.consumed == r.consumed);
        FUZZ_CHECK(h2.method == h.method && h2.target == h.target && h2.path == h.path &&
                   h2.authority == h.authority && h2.minor == h.minor);
        FUZZ_CHECK(h2.fields.size() == h.fields.size() && h2.framing == h.framing &&
                   h2.content_length == h.content_length && h2.keep_alive == h.keep_alive &&
                   h2.expect_continue == h.expect_continue);
    }
    // A head cut short is incomplete, never an error nor done (a few cut
    // points: all of them would make a large head quadratic).
    for (const std::size_t cut : {r.consumed - 1, r.consumed - 2, r.consumed / 2}) {
        RequestHead h3;
        const HeadResult r3 = parse_request_head(head.substr(0, cut), limits, h3);
        FUZZ_CHECK(r3.status == Status::need_more);
    }
}

struct Decoded {
    Status status = Status::need_more;
    int code = 0;
    std::string body;
    std::size_t consumed = 0;
};

// Feeds `in` in pieces of `piece` bytes through an output buffer of
// `out_size`; `direct`: chunk data goes through data_left/consume_data.
Decoded decode(std::string_view in, std::size_t piece, std::size_t out_size, bool direct) {
    ChunkedDecoder d(64, 256);
    Decoded r;
    std::string out(out_size, '\0');
    std::size_t fed = 0;  // bytes of `in` handed over so far
    while (true) {
        if (r.consumed == fed && fed < in.size())
            fed += std::min(piece, in.size() - fed);
        const std::string_view pending = in.substr(r.consumed, fed - r.consumed);
        if (direct && d.data_left() > 0 && !pending.empty()) {
            const auto n =
                static_cast<std::size_t>(std::min<std::uint64_t>(d.data_left(), pending.size()));
            r.body.append(pending.substr(0, n));
            d.consume_data(n);
            r.consumed += n;
            continue;
        }
        const ChunkedDecoder::Step s = d.decode(pending, out.data(), out.size());
        FUZZ_CHECK(s.consumed <= pending.size() && s.produced <= out.size());
        r.consumed += s.consumed;
        r.body.append(out.data(), s.produced);
        if (s.status == Status::error) {
            FUZZ_CHECK(s.code == 400 || s.code == 431);
            FUZZ_CHECK(!s.reason.empty() && s.offset <= in.size());
            FUZZ_CHECK(!d.done());
            r.status = Status::error;
            r.code = s.code;
            return r;
        }
        if (s.status == Status::done) {
            FUZZ_CHECK(d.done());
            r.status = Status::done;
            return r;
        }
        // need_more: the input was used up or the output filled.
        FUZZ_CHECK(s.consumed == pending.size() || s.produced == out.size());
        FUZZ_CHECK(s.consumed > 0 || s.produced > 0 || pending.empty());
        if (r.consumed == in.size())
            return r;
    }
}

void check_chunked(std::string_view in, std::uint8_t shape) {
    const Decoded whole = decode(in, in.size() + 1, in.size() + 1, false);
    const Decoded pieces = decode(in, 1 + shape % 7, 1 + (shape >> 3) % 5, false);
    const Decoded direct = decode(in, 1 + shape % 13, 3, true);
    for (const Decoded* other : {&pieces, &direct}) {
        FUZZ_CHECK(other->status == whole.status);
        FUZZ_CHECK(other->code == whole.code);
        if (whole.status != Status::error) {
            FUZZ_CHECK(other->body == whole.body);
            FUZZ_CHECK(other->consumed == whole.consumed);
        }
    }
    FUZZ_CHECK(whole.body.size() <= in.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    check_head(in, HeadLimits{});
    check_head(in, HeadLimits{128, 6});

    // The body after a captured head is a chunked body when the head says
    // so; any input is also tried as a body from its first byte.
    RequestHead h;
    const HeadResult r = parse_request_head(in, HeadLimits{}, h);
    const std::uint8_t shape = size > 0 ? data[size - 1] : 0;
    if (r.status == Status::done && h.framing == Framing::chunked)
        check_chunked(in.substr(r.consumed), shape);
    check_chunked(in, shape);
    return 0;
}
