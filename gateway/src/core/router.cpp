#include <algorithm>

#include "core/app.hpp"

namespace postern {

namespace {

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

// "/app/" and "/app" are one mount; "/" is the root mount "".
std::string normalise_prefix(std::string prefix) {
    while (!prefix.empty() && prefix.back() == '/')
        prefix.pop_back();
    return prefix;
}

}  // namespace

std::string percent_decode(std::string_view in) {
    std::string out;
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (c != '%') {
            out += c;
            continue;
        }
        // RFC 3986 §2.1: "%" HEXDIG HEXDIG; anything else is malformed.
        if (i + 2 >= in.size()) {
            throw RequestError(400, "malformed percent-escape in request path");
        }
        int hi = hex_value(in[i + 1]);
        int lo = hex_value(in[i + 2]);
        if (hi < 0 || lo < 0)
            throw RequestError(400, "malformed percent-escape in request path");
        char decoded = static_cast<char>(hi * 16 + lo);
        if (decoded == '\0')
            throw RequestError(400, "encoded NUL in request path");
        out += decoded;
        i += 2;
    }
    return out;
}

Router::Router(std::vector<Mount> mounts) : mounts_(std::move(mounts)) {
    for (auto& m : mounts_)
        m.prefix = normalise_prefix(m.prefix);
    std::stable_sort(mounts_.begin(), mounts_.end(), [](const Mount& a, const Mount& b) {
        return a.prefix.size() > b.prefix.size();
    });
}

Router::Match Router::match(std::string_view raw_path) const {
    // Match on the raw path so an encoded "/" (%2F) never splits a segment
    // (RFC 3986 §2.2), then decode the rest for PATH_INFO (RFC 3875 §4.1.5).
    Match result;
    for (const Mount& m : mounts_) {
        std::string_view p = m.prefix;
        if (raw_path.size() < p.size() || raw_path.substr(0, p.size()) != p)
            continue;
        if (raw_path.size() > p.size() && raw_path[p.size()] != '/')
            continue;
        result.mount = &m;
        result.script_name = m.prefix;
        result.path_info = percent_decode(raw_path.substr(p.size()));
        return result;
    }
    return result;
}

}  // namespace postern
