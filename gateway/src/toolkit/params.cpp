// Postern toolkit: Params — application/x-www-form-urlencoded decoding (the
// WHATWG URL Standard §5.1, which HTML forms and query strings use) and
// typed access.
#include <Poco/Exception.h>
#include <Poco/URI.h>

#include <charconv>
#include <string>
#include <system_error>

#include "core/text.hpp"
#include "postern/params.hpp"
#include "postern/request.hpp"

namespace postern {

namespace {

/// Why the escape at `at` (a '%') in `text` is malformed, for the reason of
/// the refusal. Only called once Poco has refused the piece: Poco decodes,
/// this names the byte (Poco's message quotes the whole input, which is the
/// client's and may be megabytes long).
std::string malformed_escape(std::string_view text, std::size_t offset) {
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '%')
            continue;
        if (i + 2 >= text.size())
            return "a '%' without two hex digits after it at byte " + std::to_string(offset + i);
        if (hex_value(static_cast<unsigned char>(text[i + 1])) < 0 ||
            hex_value(static_cast<unsigned char>(text[i + 2])) < 0)
            return "a malformed percent-escape (not two hex digits after '%') at byte " +
                   std::to_string(offset + i);
        i += 2;
    }
    return "a malformed percent-escape";
}

/// Decodes one name or value: '+' is a space (the form encoding, not RFC
/// 3986), %XX a byte. Poco::URI::decode does the %XX part and refuses a
/// '%' not followed by two hex digits; its plusAsSpace flag only applies
/// after a '?' (it decodes whole URIs), so '+' is replaced here first,
/// which is safe: an encoded plus ("%2B") is not a '+' until decoded.
/// `offset` is where `piece` starts in the whole input, for the reason.
std::string decode(std::string_view piece, std::size_t offset) {
    const bool plus = piece.find('+') != std::string_view::npos;
    if (!plus && piece.find('%') == std::string_view::npos)
        return std::string(piece);  // the common case: nothing to decode
    std::string in(piece);
    if (plus)
        for (char& c : in)
            if (c == '+')
                c = ' ';
    std::string out;
    out.reserve(in.size());
    try {
        Poco::URI::decode(in, out);
    } catch (const Poco::SyntaxException&) {
        throw RequestError(400, malformed_escape(piece, offset));
    }
    return out;
}

}  // namespace

Params Params::parse_urlencoded(std::string_view text, std::size_t max_pairs) {
    std::vector<value_type> pairs;
    std::size_t at = 0;
    while (at < text.size()) {
        std::size_t end = text.find('&', at);
        if (end == std::string_view::npos)
            end = text.size();
        const std::string_view piece = text.substr(at, end - at);
        if (!piece.empty()) {
            // Refused before decoding the pair past the bound: a flood of
            // pairs costs one scan, not a vector of strings.
            if (pairs.size() == max_pairs)
                throw RequestError(400,
                                   "more than " + std::to_string(max_pairs) + " name-value pairs");
            const std::size_t eq = piece.find('=');
            if (eq == std::string_view::npos)
                pairs.emplace_back(decode(piece, at), std::string());
            else
                pairs.emplace_back(decode(piece.substr(0, eq), at),
                                   decode(piece.substr(eq + 1), at + eq + 1));
        }
        at = end + 1;
    }
    return Params(std::move(pairs));
}

long long Params::get_int(std::string_view name, long long fallback, long long min,
                          long long max) const {
    const std::optional<std::string_view> text = get(name);
    if (!text)
        return fallback;
    // Decimal digits with an optional '-': what std::from_chars takes, less
    // the prefixes it would stop at ("12abc" parses 12 and stops; the whole
    // value must be the number). No '+', no spaces, no "0x".
    long long value = 0;
    const char* first = text->data();
    const char* last = first + text->size();
    const auto [ptr, ec] = std::from_chars(first, last, value, 10);
    if (ec == std::errc::result_out_of_range)
        throw RequestError(
            400, "parameter \"" + std::string(name) + "\" is out of range (not a 64-bit integer)");
    if (ec != std::errc() || ptr != last)
        throw RequestError(400, "parameter \"" + std::string(name) + "\" is not a decimal integer");
    if (value < min || value > max)
        throw RequestError(400, "parameter \"" + std::string(name) + "\" is outside [" +
                                    std::to_string(min) + ", " + std::to_string(max) + "]");
    return value;
}

}  // namespace postern
