#include "scgi/codec.hpp"

#include <algorithm>
#include <cstring>
#include <iterator>
#include <unordered_set>

#include "core/decimal.hpp"
#include "core/log_escape.hpp"

namespace postern::scgi {

namespace {

// A netstring length longer than this many digits is refused before it is
// summed (10 digits hold any length a limit can name).
constexpr std::size_t kMaxLengthDigits = 10;
// CONTENT_LENGTH: at most 19 digits, so that it fits in 64 bits.
constexpr std::size_t kMaxContentLengthDigits = 19;

constexpr auto error = &decode_error<Error>;

}  // namespace

std::string_view error_name(Error e) noexcept {
    // In the order of the enumerators.
    static constexpr std::string_view kNames[] = {
        "none",          "bad_length",     "leading_zero",         "header_too_large",
        "missing_comma", "bad_pair",       "content_length_first", "bad_content_length",
        "scgi_version",  "duplicate_name", "too_many_params",
    };
    static_assert(std::size(kNames) == static_cast<std::size_t>(Error::too_many_params) + 1);
    const auto i = static_cast<std::size_t>(e);
    return i < std::size(kNames) ? kNames[i] : "unknown";
}

Result decode_request(std::string_view in, const DecodeLimits& limits, Request& out) {
    // The netstring length: 1*DIGIT ":" (no leading zero, as netstrings
    // require; "0:" would be a header without CONTENT_LENGTH anyway). Each
    // refusal is the one a digit-by-digit reading meets first, so a length
    // arriving byte by byte is refused as soon as, and as, a whole one.
    const std::size_t i = leading_digits(in.substr(0, kMaxLengthDigits + 1));
    if (i >= 2 && in[0] == '0')
        return error(Error::leading_zero, "SCGI netstring length has a leading zero", 0);
    // The length so far (at most 10 digits: it fits) against the limit.
    if (const auto so_far = parse_length(in.substr(0, std::min(i, kMaxLengthDigits)));
        so_far && *so_far > limits.max_header_bytes)
        return error(Error::header_too_large,
                     "SCGI request header is longer than " +
                         std::to_string(limits.max_header_bytes) + " bytes (--max-params-bytes)",
                     0);
    if (i > kMaxLengthDigits)
        return error(Error::header_too_large, "SCGI netstring length has more than 10 digits",
                     kMaxLengthDigits);
    if (i == in.size())
        return Result{};  // need_more
    if (in[i] != ':')
        return error(Error::bad_length,
                     i == 0 ? "SCGI request does not start with a netstring length"
                            : "SCGI netstring length is not a decimal number",
                     i);
    if (i == 0)
        return error(Error::bad_length, "SCGI netstring length is empty", 0);
    const std::size_t length = static_cast<std::size_t>(*parse_length(in.substr(0, i)));
    const std::size_t start = i + 1;  // the first byte of the pairs
    // Compare lengths, never pointers: the pairs and the comma.
    if (in.size() - start < length + 1)
        return Result{};  // need_more
    if (in[start + length] != ',')
        return error(Error::missing_comma, "SCGI netstring does not end with ','", start + length);

    Request req;
    std::unordered_set<std::string_view> seen;
    const std::string_view block = in.substr(start, length);
    std::size_t at = 0;
    bool scgi_seen = false;
    while (at < block.size()) {
        if (req.params.size() == limits.max_params)
            return error(Error::too_many_params,
                         "SCGI request has more than " + std::to_string(limits.max_params) +
                             " name-value pairs (--max-params)",
                         start + at);
        const std::size_t name_end = block.find('\0', at);
        if (name_end == std::string_view::npos)
            return error(Error::bad_pair, "SCGI header name without its NUL", start + at);
        if (name_end == at)
            return error(Error::bad_pair, "SCGI header has an empty name", start + at);
        const std::size_t value_at = name_end + 1;
        const std::size_t value_end = block.find('\0', value_at);
        if (value_end == std::string_view::npos)
            return error(Error::bad_pair, "SCGI header value without its NUL", start + value_at);
        const std::string_view name = block.substr(at, name_end - at);
        const std::string_view value = block.substr(value_at, value_end - value_at);

        if (req.params.empty()) {
            if (name != "CONTENT_LENGTH")
                return error(Error::content_length_first,
                             "SCGI header does not start with CONTENT_LENGTH", start + at);
            if (value.empty() || value.size() > kMaxContentLengthDigits)
                return error(Error::bad_content_length,
                             "SCGI CONTENT_LENGTH is empty or longer than 19 digits",
                             start + value_at);
            if (const std::size_t k = leading_digits(value); k < value.size())
                return error(Error::bad_content_length,
                             "SCGI CONTENT_LENGTH is not a decimal number", start + value_at + k);
            req.content_length = *parse_length(value);
        }
        if (!seen.insert(name).second) {
            const bool header = name.size() > 5 && name.substr(0, 5) == "HTTP_";
            if (!(header && limits.allow_repeated_headers))
                return error(Error::duplicate_name,
                             "SCGI header sends " + log_escape(name) + " twice", start + at);
        }
        if (name == "SCGI") {
            if (value != "1")
                return error(Error::scgi_version,
                             "SCGI header has SCGI=" + log_escape(value) + ", not 1",
                             start + value_at);
            scgi_seen = true;
        }
        req.params.emplace_back(name, value);
        at = value_end + 1;
    }
    if (req.params.empty())
        return error(Error::content_length_first, "SCGI header is empty (no CONTENT_LENGTH)",
                     start);
    if (!scgi_seen)
        return error(Error::scgi_version, "SCGI header has no SCGI=1", start + length);

    out = std::move(req);
    Result r;
    r.status = Status::done;
    r.consumed = start + length + 1;
    return r;
}

std::string encode_request(const std::vector<std::pair<std::string, std::string>>& params) {
    std::string block;
    for (const auto& [name, value] : params) {
        block += name;
        block += '\0';
        block += value;
        block += '\0';
    }
    return std::to_string(block.size()) + ":" + block + ",";
}

}  // namespace postern::scgi
