// Postern: a cookie to set (RFC 6265 §4.1).
#pragma once

#include <optional>
#include <string>

namespace postern {

/// The SameSite attribute (RFC 6265bis §4.1.2.7); `unset` sends none.
enum class SameSite { unset, lax, strict, none };

/// One Set-Cookie header, for Response::set_cookie. The name must be a
/// token and the value cookie-octets (no space, '"', ',', ';' or '\');
/// set_cookie throws std::invalid_argument otherwise, rather than send a
/// header a browser would read differently (Response::set_cookie lists
/// every rule). A plain value: copy it, build it on any thread.
struct Cookie {
    // Every member has a default member initializer, so that designated
    // initializers naming only some (`{.name = "sid", .value = v}`) compile
    // without GCC's -Wmissing-field-initializers.
    std::string name{};
    std::string value{};
    std::string path{};    ///< empty: no Path attribute
    std::string domain{};  ///< empty: no Domain attribute
    /// Seconds; 0 or less deletes the cookie; empty: a session cookie.
    std::optional<long long> max_age{};
    bool secure = false;
    bool http_only = false;
    SameSite same_site = SameSite::unset;
};

}  // namespace postern
