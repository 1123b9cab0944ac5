// Postern core: reading a length from the wire, one way for every adapter.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace postern {

/// How many decimal digits `text` starts with: where a decoder that reads
/// a length digit by digit would stop, so that it can name the offset of
/// the first byte that is not one.
constexpr std::size_t leading_digits(std::string_view text) noexcept {
    std::size_t n = 0;
    while (n < text.size() && text[n] >= '0' && text[n] <= '9')
        ++n;
    return n;
}

/// A length as RFC 9110 §8.6 writes Content-Length: 1*DIGIT and nothing
/// else (no sign, no whitespace, no list such as "5, 5": a lenient reading
/// is what made the gunicorn request smuggling of 2024 possible). At most 19
/// digits, so it always fits in 64 bits. Empty for anything else.
constexpr std::optional<std::uint64_t> parse_length(std::string_view text) noexcept {
    if (text.empty() || text.size() > 19)
        return std::nullopt;
    std::uint64_t n = 0;
    for (char c : text) {
        if (c < '0' || c > '9')
            return std::nullopt;
        n = n * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return n;
}

}  // namespace postern
