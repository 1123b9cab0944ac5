// Examples: reading a bounded integer from a query string
// ("chunks=3&bytes=10"), shared by the stream and faults examples.
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

#include <postern/request.hpp>

namespace postern_examples {

/// The value of `name` in a query string, or `fallback` when absent. A value
/// that is not a decimal integer within [min, max] refuses the request with
/// 400 (postern::RequestError), so a callback never runs with absurd bounds.
inline std::uint64_t query_int(std::string_view query, std::string_view name,
                               std::uint64_t fallback, std::uint64_t min, std::uint64_t max) {
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        const auto eq = pair.find('=');
        if (pair.substr(0, eq) != name)
            continue;
        const std::string_view text =
            eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
        std::uint64_t value = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || value < min ||
            value > max) {
            throw postern::RequestError(400, "query parameter " + std::string(name) +
                                                 " must be an integer in [" + std::to_string(min) +
                                                 ", " + std::to_string(max) + "]");
        }
        return value;
    }
    return fallback;
}

}  // namespace postern_examples
