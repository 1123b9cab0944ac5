#include "core/router.hpp"
#include "core/text.hpp"

#include <algorithm>

#include "postern/request.hpp"

namespace postern {

namespace {

// "/app/" and "/app" are one mount; "/" is the root mount "".
std::string normalise_prefix(std::string prefix) {
    while (!prefix.empty() && prefix.back() == '/')
        prefix.pop_back();
    return prefix;
}

enum class Input {
    raw,      // a request path as received: decode, refuse hostile bytes
    decoded,  // a normalised path with %2F read as '/': segments only
};

NormalisedPath normalise(std::string_view in, Input kind) {
    NormalisedPath r;
    auto fail = [&r](const char* why, std::size_t at) {
        r.path.clear();
        r.reason = why;
        r.offset = at;
        return r;
    };
    if (in.empty() || in.front() != '/')
        return fail("request path does not begin with '/'", 0);
    std::string& out = r.path;
    out.reserve(in.size());
    out.push_back('/');
    // Invariant between segments: `out` ends with '/' or holds a segment
    // that the raw path did not follow with a '/'.
    const std::size_t n = in.size();
    std::size_t i = 0;
    while (i < n) {
        while (i < n && in[i] == '/')  // merge_slashes
            ++i;
        if (i == n)
            break;  // a trailing '/': `out` ends with one
        const std::size_t segment_at = i;
        const std::size_t mark = out.size();  // `out` ends with '/' here
        while (i < n && in[i] != '/') {
            const auto c = static_cast<unsigned char>(in[i]);
            if (kind == Input::raw) {
                if (c == '%') {
                    // RFC 3986 §2.1: "%" HEXDIG HEXDIG.
                    if (n - i < 3)
                        return fail("malformed percent-escape in request path", i);
                    const int hi = hex_value(in[i + 1]);
                    const int lo = hex_value(in[i + 2]);
                    if (hi < 0 || lo < 0)
                        return fail("malformed percent-escape in request path", i);
                    const int v = hi * 16 + lo;
                    if (v == 0)
                        return fail("encoded NUL (%00) in request path", i);
                    if (v == '/')
                        out += "%2F";
                    else if (v == '%')
                        out += "%25";
                    else
                        out.push_back(static_cast<char>(v));
                    i += 3;
                    continue;
                }
                if (c == 0)
                    return fail("NUL in request path", i);
                if (c < 0x20 || c == 0x7F)
                    return fail("control character in request path", i);
                if (c == '#')
                    return fail("'#' in request path", i);
            }
            out.push_back(static_cast<char>(c));
            ++i;
        }
        // RFC 3986 §5.2.4, on the decoded segment ("%2e" is a dot).
        const std::string_view segment = std::string_view(out).substr(mark);
        if (segment == ".") {
            out.resize(mark);
        } else if (segment == "..") {
            out.resize(mark);
            if (out.size() == 1)
                return fail("request path climbs above /", segment_at);
            out.pop_back();
            out.resize(out.rfind('/') + 1);
        } else if (i < n) {
            out.push_back('/');
        }
    }
    return r;
}

/// `%2F` as '/' and, with `percent`, `%25` as '%'; every other byte as it is.
std::string decode_escapes(std::string_view in, bool percent) {
    std::string out;
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in.compare(i, 3, "%2F") == 0) {
            out.push_back('/');
            i += 2;
        } else if (percent && in.compare(i, 3, "%25") == 0) {
            out.push_back('%');
            i += 2;
        } else {
            out.push_back(in[i]);
        }
    }
    return out;
}

std::string replace_encoded_slashes(std::string_view path) {
    return decode_escapes(path, false);
}

}  // namespace

NormalisedPath normalise_path(std::string_view raw) {
    return normalise(raw, Input::raw);
}

std::string decode_kept_escapes(std::string_view normalised) {
    return decode_escapes(normalised, true);
}

MountRouter::MountRouter(std::vector<Mount> mounts, std::string status_path)
    : mounts_(std::move(mounts)), status_path_(std::move(status_path)) {
    for (auto& m : mounts_)
        m.prefix = normalise_prefix(m.prefix);
    std::stable_sort(mounts_.begin(), mounts_.end(), [](const Mount& a, const Mount& b) {
        return a.prefix.size() > b.prefix.size();
    });
}

MountRouter::Match MountRouter::match(std::string_view path) const {
    Match result;
    if (!status_path_.empty() && path == status_path_) {
        result.status_page = true;
        return result;
    }
    for (const Mount& m : mounts_) {
        std::string_view p = m.prefix;
        if (path.size() < p.size() || path.substr(0, p.size()) != p)
            continue;
        // A segment boundary: a real '/', never an encoded one.
        if (path.size() > p.size() && path[p.size()] != '/')
            continue;
        result.mount = &m;
        result.script_name = m.prefix;
        result.path_info = decode_kept_escapes(path.substr(p.size()));
        return result;
    }
    return result;
}

MountRouter::Match MountRouter::route(std::string_view raw_path) const {
    // OPTIONS * (RFC 9112 §3.2.4) names no resource: no mount serves it.
    if (raw_path == "*")
        return {};
    const NormalisedPath path = normalise_path(raw_path);
    if (!path.ok())
        throw RequestError(
            400, std::string(path.reason) + " (byte " + std::to_string(path.offset) + ")");
    Match result = match(path.path);
    if (path.path.find("%2F") == std::string::npos)
        return result;
    // nginx decodes %2F before it routes, and then takes it for a '/';
    // Apache with AllowEncodedSlashes NoDecode (the shipped snippets) does
    // not. A path the two read differently is refused rather than routed
    // on either reading, since a front end's rule may have used the other.
    const std::string slashed = replace_encoded_slashes(path.path);
    const NormalisedPath as_nginx = normalise(slashed, Input::decoded);
    if (!as_nginx.ok() || as_nginx.path != slashed)
        throw RequestError(400, "an encoded slash (%2F) next to a dot segment or another slash");
    const Match other = match(as_nginx.path);
    if (other.mount != result.mount || other.status_page != result.status_page)
        throw RequestError(400, "an encoded slash (%2F) where a mount prefix ends");
    return result;
}

}  // namespace postern
