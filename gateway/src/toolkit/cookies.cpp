// Postern toolkit: cookies — Request::cookie() reads the Cookie header (RFC
// 6265 §5.4, as a user agent writes it), Response::set_cookie() writes one
// Set-Cookie header (RFC 6265 §4.1).
//
// Set-Cookie is formatted here rather than by Poco::Net::HTTPCookie: in
// Poco 1.11 a version-0 cookie carries its lifetime as an Expires date
// computed from the clock (no Max-Age) and takes a max age of -1 to mean a
// session cookie, and a version-1 cookie quotes Max-Age and Path (RFC 2109
// syntax, which RFC 6265 user agents do not read); neither checks the name
// or value. The format below is RFC 6265 §4.1.1's, attribute by attribute.
#include <stdexcept>
#include <string>

#include "core/text.hpp"
#include "postern/request.hpp"
#include "postern/response.hpp"

namespace postern {

namespace {

constexpr std::string_view kSpace = " \t";

std::string_view trim(std::string_view s) {
    const std::size_t first = s.find_first_not_of(kSpace);
    if (first == std::string_view::npos)
        return {};
    const std::size_t last = s.find_last_not_of(kSpace);
    return s.substr(first, last - first + 1);
}

/// RFC 6265 §4.1.1: cookie-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B /
/// %x5D-7E (US-ASCII without CTLs, whitespace, DQUOTE, comma, semicolon and
/// backslash).
constexpr bool is_cookie_octet(unsigned char c) noexcept {
    return c == 0x21 || (c >= 0x23 && c <= 0x2B) || (c >= 0x2D && c <= 0x3A) ||
           (c >= 0x3C && c <= 0x5B) || (c >= 0x5D && c <= 0x7E);
}

/// cookie-value = *cookie-octet / ( DQUOTE *cookie-octet DQUOTE ).
bool valid_cookie_value(std::string_view value) noexcept {
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
        value = value.substr(1, value.size() - 2);
    for (unsigned char c : value)
        if (!is_cookie_octet(c))
            return false;
    return true;
}

/// RFC 6265 §4.1.1 path-value: any CHAR except CTLs or ';'. CHAR is
/// US-ASCII: a path with other bytes must be percent-encoded by the caller.
bool valid_path(std::string_view path) noexcept {
    for (unsigned char c : path)
        if (c < 0x20 || c >= 0x7F || c == ';')
            return false;
    return true;
}

/// RFC 6265 §4.1.2.3 / RFC 1034 §3.5: letters, digits, '-' and '.' (a
/// leading '.' is allowed and ignored by user agents). An internationalised
/// name must be given in its A-label form (xn--...).
bool valid_domain(std::string_view domain) noexcept {
    if (domain.empty())
        return false;
    for (unsigned char c : domain)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.'))
            return false;
    return true;
}

[[noreturn]] void refuse(const Cookie& cookie, const std::string& why) {
    // The name is a token by the time any other check runs, so it is safe
    // to quote; the value is not quoted (it may hold anything).
    throw std::invalid_argument("cookie \"" + cookie.name + "\": " + why);
}

}  // namespace

std::optional<std::string_view> Request::cookie(std::string_view name) const {
    // The gateway joins repeated Cookie headers with "; " (request.hpp), so
    // this is one list. RFC 6265 §4.2.1 writes it as `name=value; ...`;
    // §5.4 is what user agents send, and they are not all that tidy, so
    // each pair is trimmed, a piece without '=' is skipped, and the first
    // pair of the name wins (§5.4 sends longer paths first).
    if (name.empty())
        return std::nullopt;
    std::string_view list = var("HTTP_COOKIE");
    while (!list.empty()) {
        const std::size_t end = list.find(';');
        const std::string_view piece = list.substr(0, end);
        list = end == std::string_view::npos ? std::string_view() : list.substr(end + 1);
        const std::size_t eq = piece.find('=');
        if (eq == std::string_view::npos || trim(piece.substr(0, eq)) != name)
            continue;
        std::string_view value = trim(piece.substr(eq + 1));
        // A quoted value (§4.1.1) is given without its quotes: a view into
        // the header, so nothing is copied and nothing outlives the Request.
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
            value = value.substr(1, value.size() - 2);
        return value;
    }
    return std::nullopt;
}

void Response::set_cookie(const Cookie& cookie) {
    if (!valid_header_name(cookie.name))
        throw std::invalid_argument("cookie name \"" + cookie.name +
                                    "\" is not a token (RFC 6265 §4.1.1)");
    if (!valid_cookie_value(cookie.value))
        refuse(cookie,
               "the value has a byte outside cookie-octet (space, '\"', ',', ';', '\\', "
               "a control or non-ASCII byte; RFC 6265 §4.1.1): encode it first");
    if (!cookie.path.empty() && (cookie.path.front() != '/' || !valid_path(cookie.path)))
        refuse(cookie,
               "the path must start with '/' and hold only ASCII without controls or "
               "';' (RFC 6265 §4.1.2.4)");
    if (!cookie.domain.empty() && !valid_domain(cookie.domain))
        refuse(cookie,
               "the domain must be a host name of letters, digits, '-' and '.' "
               "(RFC 6265 §4.1.2.3)");
    // Rules user agents enforce by dropping the cookie without a word
    // (RFC 6265bis §4.1.2.7, §4.1.3): refused here instead.
    if (cookie.same_site == SameSite::none && !cookie.secure)
        refuse(cookie, "SameSite=None requires secure (browsers drop it otherwise)");
    if (cookie.name.starts_with("__Secure-") && !cookie.secure)
        refuse(cookie, "a __Secure- cookie requires secure");
    if (cookie.name.starts_with("__Host-") &&
        (!cookie.secure || cookie.path != "/" || !cookie.domain.empty()))
        refuse(cookie, "a __Host- cookie requires secure, path \"/\" and no domain");

    std::string line;
    line.reserve(cookie.name.size() + cookie.value.size() + cookie.path.size() +
                 cookie.domain.size() + 64);
    line += cookie.name;
    line += '=';
    line += cookie.value;
    if (cookie.max_age) {
        // §4.1.2.2; §5.2.2: zero or less expires it at once. Sent as 0 so
        // that no user agent meets a negative number.
        line += "; Max-Age=";
        line += std::to_string(*cookie.max_age > 0 ? *cookie.max_age : 0);
    }
    if (!cookie.domain.empty()) {
        line += "; Domain=";
        line += cookie.domain;
    }
    if (!cookie.path.empty()) {
        line += "; Path=";
        line += cookie.path;
    }
    if (cookie.secure)
        line += "; Secure";
    if (cookie.http_only)
        line += "; HttpOnly";
    switch (cookie.same_site) {
        case SameSite::unset:
            break;
        case SameSite::lax:
            line += "; SameSite=Lax";
            break;
        case SameSite::strict:
            line += "; SameSite=Strict";
            break;
        case SameSite::none:
            line += "; SameSite=None";
            break;
    }
    header("Set-Cookie", line);
}

}  // namespace postern
