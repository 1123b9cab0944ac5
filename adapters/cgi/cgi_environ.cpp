#include "cgi/cgi_environ.hpp"

#include <string_view>

#include "core/environ.hpp"

namespace postern::cgi {

namespace {

bool starts_with(std::string_view s, std::string_view prefix) noexcept {
    return s.substr(0, prefix.size()) == prefix;
}

bool identifier(std::string_view name) noexcept {
    if (name.empty() || (name[0] >= '0' && name[0] <= '9'))
        return false;
    for (char c : name)
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    return true;
}

}  // namespace

Environ cgi_environ(const char* const* envp) {
    Environ env;
    for (const char* const* p = envp; p != nullptr && *p != nullptr; ++p) {
        const std::string_view entry(*p);
        const auto eq = entry.find('=');
        if (eq == std::string_view::npos)
            continue;
        const std::string_view name = entry.substr(0, eq);
        if (!identifier(name) || name == "PATH" || starts_with(name, "LD_") ||
            starts_with(name, "POSTERN_"))
            continue;
        add_param(env, name, entry.substr(eq + 1));
    }
    return env;
}

}  // namespace postern::cgi
