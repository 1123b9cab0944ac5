// libFuzzer driver for adapters/fastcgi/record_validator: the check every
// byte libfcgi reads of a FastCGI request passes first (CVE-2025-23016, and
// libfcgi's unbounded FCGI_GET_VALUES handling), on arbitrary bytes, at the
// default params limit and a small one.
//
// It is resumable, so the verdict must not depend on how the bytes arrive:
// fed whole, byte by byte and in pieces of a size the input picks, filtered
// in place as the read guard does, it ends in the same status, error code
// and offset, request id, role, params counts, management answers and
// passed-on bytes (up to an error). The params it let through never exceed the limit; once
// failed it ignores further bytes; an error names its offset inside the
// input; what it passes on holds no management record and is itself a
// valid stream with the same verdict. A whole head it passed splits
// (take_params) into pairs that decode to the counts it gave, and the same
// request without them.
//
// Seed corpus: tests/data/fastcgi/ (connections captured from nginx
// fastcgi_pass and Apache mod_proxy_fcgi: BEGIN_REQUEST, PARAMS, STDIN).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fastcgi/record.hpp"
#include "fastcgi/record_validator.hpp"
#include "fuzz_check.hpp"

using postern::fastcgi::RecordValidator;

namespace {

struct Verdict {
    RecordValidator::Status status;
    RecordValidator::ErrorCode code;
    std::uint64_t error_offset;
    std::uint64_t offset;
    std::uint16_t request_id;
    std::uint16_t role;
    std::uint64_t params_bytes;
    std::uint64_t params_count;
    std::uint64_t request_bytes;
    bool body_complete;
    std::size_t management_records;
    std::string answers;
    std::string passed;

    bool operator==(const Verdict&) const = default;
};

Verdict feed(std::string_view in, std::uint64_t limit, std::size_t piece) {
    RecordValidator v(limit, {100, 4});
    std::string passed;
    std::uint64_t examined = 0;
    for (std::size_t at = 0; at < in.size(); at += piece) {
        const std::string_view p = in.substr(at, std::min(piece, in.size() - at));
        // In place behind 8 bytes of head room, as ReadGuard::read does.
        std::string buffer(8 + p.size(), '\0');
        std::copy(p.begin(), p.end(), buffer.begin() + 8);
        const std::size_t held = v.held_back();
        FUZZ_CHECK(held < 8);
        const std::size_t kept = v.filter(buffer.data() + 8, p.size(), buffer.data() + 8 - held);
        FUZZ_CHECK(kept <= held + p.size());
        passed.append(buffer.data() + 8 - held, kept);
        FUZZ_CHECK(v.params_bytes() <= limit);
        FUZZ_CHECK(v.offset() <= std::min<std::uint64_t>(at + piece, in.size()));
        FUZZ_CHECK(v.request_bytes() == passed.size());
        // Every byte given is examined until the request ends (or fails):
        // the adapter keeps the rest for the next request.
        examined += v.taken();
        if (v.status() != RecordValidator::Status::error) {
            FUZZ_CHECK(v.taken() == p.size() || v.ended());
            FUZZ_CHECK(v.offset() == examined);
        }
    }
    if (v.status() == RecordValidator::Status::error) {
        // What was passed on before an error depends on where the reads
        // were cut; the read guard fails the read, so none of it is used.
        return {v.status(),
                v.error_code(),
                v.error_offset(),
                v.offset(),
                v.request_id(),
                v.role(),
                v.params_bytes(),
                v.params_count(),
                0,
                false,
                v.management_records(),
                v.answers(),
                {}};
    }
    return {v.status(),
            v.error_code(),
            v.error_offset(),
            v.offset(),
            v.request_id(),
            v.role(),
            v.params_bytes(),
            v.params_count(),
            v.request_bytes(),
            v.body_complete(),
            v.management_records(),
            v.answers(),
            passed};
}

void check(std::string_view in, std::uint64_t limit, std::size_t piece) {
    const Verdict whole = feed(in, limit, in.size() + 1);
    FUZZ_CHECK(feed(in, limit, 1) == whole);
    FUZZ_CHECK(feed(in, limit, piece) == whole);
    FUZZ_CHECK(whole.offset <= in.size());
    FUZZ_CHECK(whole.answers.size() <= whole.management_records * (8 + 64));
    if (whole.status == RecordValidator::Status::error) {
        FUZZ_CHECK(whole.code != RecordValidator::ErrorCode::none);
        FUZZ_CHECK(whole.error_offset < in.size());
        // Nothing after the error changes it.
        RecordValidator v(limit);
        v.feed(in);
        std::string more;
        postern::fastcgi::append_record(more, postern::fastcgi::kParams, 1, "");
        FUZZ_CHECK(v.feed(more) == RecordValidator::Status::error);
        FUZZ_CHECK(v.error_offset() == whole.error_offset && v.error_code() == whole.code);
        return;
    }
    FUZZ_CHECK(whole.code == RecordValidator::ErrorCode::none);
    if (whole.status == RecordValidator::Status::done) {
        FUZZ_CHECK(whole.request_id != 0);
        FUZZ_CHECK(whole.request_bytes >= 8 + 8 + 8);
    }
    // What was passed on is the request alone: fed again, it has no
    // management record and the same verdict.
    RecordValidator again(limit, {100, 4});
    again.feed(whole.passed);
    FUZZ_CHECK(again.management_records() == 0 && again.answers().empty());
    FUZZ_CHECK(again.status() == whole.status);
    FUZZ_CHECK(again.params_bytes() == whole.params_bytes &&
               again.params_count() == whole.params_count);
    FUZZ_CHECK(again.body_complete() == whole.body_complete);
    // The adapter's split of what was passed on (take_params): only a whole
    // head splits; its pairs decode to exactly what the validator counted,
    // and what is left is the same request with no params.
    std::string rest = whole.passed;
    std::string pairs;
    const bool split = postern::fastcgi::take_params(rest, pairs);
    // The validator is done at the empty FCGI_PARAMS record's header; the
    // split needs its padding too, which is there once the body is (the
    // adapter splits a head only then).
    if (whole.body_complete)
        FUZZ_CHECK(split);
    if (whole.status != RecordValidator::Status::done)
        FUZZ_CHECK(!split);
    if (!split) {
        FUZZ_CHECK(rest == whole.passed);
        return;
    }
    std::string_view left = pairs;
    std::string_view name;
    std::string_view value;
    std::uint64_t count = 0;
    std::uint64_t bytes = 0;
    while (postern::fastcgi::take_name_value(left, name, value)) {
        ++count;
        bytes += postern::fastcgi::name_value_size(name.size(), value.size());
    }
    FUZZ_CHECK(left.empty());
    FUZZ_CHECK(count == whole.params_count && bytes == whole.params_bytes);
    FUZZ_CHECK(rest.size() + pairs.size() <= whole.passed.size());
    RecordValidator after(limit, {100, 4});
    after.feed(rest);
    FUZZ_CHECK(after.status() == RecordValidator::Status::done);
    FUZZ_CHECK(after.params_count() == 0 && after.params_bytes() == 0);
    FUZZ_CHECK(after.request_id() == whole.request_id && after.role() == whole.role);
    FUZZ_CHECK(after.body_complete() == whole.body_complete);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    const std::size_t piece = 1 + (size > 0 ? data[0] % 31 : 0);
    check(in, 256 * 1024, piece);  // Limits::max_params_bytes
    check(in, 300, piece);
    return 0;
}
