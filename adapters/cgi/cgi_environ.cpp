#include "cgi/cgi_environ.hpp"

#include <algorithm>
#include <array>
#include <string_view>

#include "core/environ.hpp"

namespace postern::cgi {

namespace {

bool starts_with(std::string_view s, std::string_view prefix) noexcept {
    return s.substr(0, prefix.size()) == prefix;
}

// Sorted, for binary search. See request_variable() in the header.
constexpr std::array<std::string_view, 32> kRequestVariables = {
    "AUTH_TYPE",      "CONTENT_LENGTH",  "CONTENT_TYPE",      "CONTEXT_DOCUMENT_ROOT",
    "CONTEXT_PREFIX", "DOCUMENT_ROOT",   "GATEWAY_INTERFACE", "HTTPS",
    "PATH_INFO",      "PATH_TRANSLATED", "QUERY_STRING",      "REDIRECT_STATUS",
    "REDIRECT_URL",   "REMOTE_ADDR",     "REMOTE_HOST",       "REMOTE_IDENT",
    "REMOTE_PORT",    "REMOTE_USER",     "REQUEST_METHOD",    "REQUEST_SCHEME",
    "REQUEST_URI",    "SCRIPT_FILENAME", "SCRIPT_NAME",       "SCRIPT_URI",
    "SCRIPT_URL",     "SERVER_ADDR",     "SERVER_ADMIN",      "SERVER_NAME",
    "SERVER_PORT",    "SERVER_PROTOCOL", "SERVER_SIGNATURE",  "SERVER_SOFTWARE",
};
static_assert(std::is_sorted(kRequestVariables.begin(), kRequestVariables.end()));

bool own_variable(std::string_view name) noexcept {
    return std::binary_search(kRequestVariables.begin(), kRequestVariables.end(), name) ||
           (starts_with(name, "HTTP_") && name.size() > 5) ||
           (starts_with(name, "SSL_") && name.size() > 4) || name == "UNIQUE_ID";
}

}  // namespace

bool request_variable(std::string_view name) noexcept {
    if (own_variable(name))
        return true;
    // Apache copies the first request's variables as REDIRECT_* into an
    // internal redirect's: only those of the request itself count (not
    // REDIRECT_DB_PASSWORD from a SetEnv).
    constexpr std::string_view redirect = "REDIRECT_";
    return starts_with(name, redirect) && own_variable(name.substr(redirect.size()));
}

Environ cgi_environ(const char* const* envp) {
    Environ env;
    for (const char* const* p = envp; p != nullptr && *p != nullptr; ++p) {
        const std::string_view entry(*p);
        const auto eq = entry.find('=');
        if (eq == std::string_view::npos)
            continue;
        const std::string_view name = entry.substr(0, eq);
        if (!request_variable(name))
            continue;
        add_param(env, name, entry.substr(eq + 1));
    }
    return env;
}

}  // namespace postern::cgi
