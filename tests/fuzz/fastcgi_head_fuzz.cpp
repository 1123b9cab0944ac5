// libFuzzer driver for adapters/fastcgi/head_validator: the check every
// byte of a FastCGI request head passes before libfcgi parses it
// (CVE-2025-23016), on arbitrary bytes, at the default params limit and a
// small one.
//
// It is resumable, so the verdict must not depend on how the bytes arrive:
// fed whole, byte by byte and in pieces of a size the input picks, it ends in
// the same status, error code, error offset, request id, role and params
// byte count. The params it let through never exceed the limit; once done or
// failed it ignores further bytes; an error names its offset inside the input;
// a head it accepts declares at most the bytes libfcgi will then allocate.
//
// Seed corpus: tests/data/fastcgi/ (connections captured from nginx
// fastcgi_pass and Apache mod_proxy_fcgi: BEGIN_REQUEST, PARAMS, STDIN).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fastcgi/head_validator.hpp"
#include "fuzz_check.hpp"

using postern::fastcgi::HeadValidator;

namespace {

struct Verdict {
    HeadValidator::Status status;
    HeadValidator::ErrorCode code;
    std::uint64_t error_offset;
    std::uint64_t offset;
    std::uint16_t request_id;
    std::uint16_t role;
    std::uint64_t params_bytes;

    bool operator==(const Verdict&) const = default;
};

Verdict feed(std::string_view in, std::uint64_t limit, std::size_t piece) {
    HeadValidator v(limit);
    for (std::size_t at = 0; at < in.size(); at += piece) {
        const HeadValidator::Status s = v.feed(in.substr(at, std::min(piece, in.size() - at)));
        FUZZ_CHECK(s == v.status());
        FUZZ_CHECK(v.params_bytes() <= limit);
        FUZZ_CHECK(v.offset() <= std::min<std::uint64_t>(at + piece, in.size()));
    }
    return {v.status(),     v.error_code(), v.error_offset(), v.offset(),
            v.request_id(), v.role(),       v.params_bytes()};
}

void check(std::string_view in, std::uint64_t limit, std::size_t piece) {
    const Verdict whole = feed(in, limit, in.size() + 1);
    FUZZ_CHECK(feed(in, limit, 1) == whole);
    FUZZ_CHECK(feed(in, limit, piece) == whole);
    FUZZ_CHECK(whole.offset <= in.size());
    switch (whole.status) {
        case HeadValidator::Status::error: {
            FUZZ_CHECK(whole.code != HeadValidator::ErrorCode::none);
            FUZZ_CHECK(whole.error_offset < in.size());
            // Nothing after the error changes it.
            HeadValidator v(limit);
            v.feed(in);
            const std::string_view more("\x01\x04\x00\x01\x00\x00\x00\x00", 8);
            FUZZ_CHECK(v.feed(more) == HeadValidator::Status::error);
            FUZZ_CHECK(v.error_offset() == whole.error_offset && v.error_code() == whole.code);
            break;
        }
        case HeadValidator::Status::done: {
            FUZZ_CHECK(whole.code == HeadValidator::ErrorCode::none);
            FUZZ_CHECK(whole.request_id != 0);
            // Done at the last byte of the empty FCGI_PARAMS header: the
            // bytes before it alone are not a complete head.
            FUZZ_CHECK(whole.offset >= 8 + 8 + 8);
            FUZZ_CHECK(feed(in.substr(0, whole.offset - 1), limit, in.size()).status ==
                       HeadValidator::Status::need_more);
            break;
        }
        case HeadValidator::Status::need_more:
            FUZZ_CHECK(whole.code == HeadValidator::ErrorCode::none);
            FUZZ_CHECK(whole.offset == in.size());
            break;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    const std::size_t piece = 1 + (size > 0 ? data[0] % 31 : 0);
    check(in, 256 * 1024, piece);  // Limits::max_params_bytes
    check(in, 300, piece);
    return 0;
}
