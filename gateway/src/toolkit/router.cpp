// Postern toolkit: the Router (postern/router.hpp). Patterns are split into
// segments once, when a route is added; a request's path under the mount
// is split and decoded once per request, then matched against each route in
// the order they were added.
#include "postern/router.hpp"

#include <Poco/Exception.h>
#include <Poco/URI.h>

#include <stdexcept>
#include <utility>
#include <vector>

#include "postern/request.hpp"
#include "postern/response.hpp"

namespace postern {

namespace {

/// One segment of a pattern: a literal (stored decoded) or a capture.
struct PatternSegment {
    std::string text;  ///< the decoded literal, or the capture's name
    bool capture = false;
};

struct Route {
    std::string method;
    std::string pattern;
    /// The segments after the leading '/'; a trailing '/' is a last empty
    /// literal ("/items/" is {"items", ""}, "/" is {""}).
    std::vector<PatternSegment> segments;
    Handler fn;
};

bool is_capture_name_char(char c) noexcept {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

/// Percent-decodes one segment into `out` (RFC 3986 §2.1; '+' stays '+'
/// in a path). Returns nullptr, or what is wrong with it.
const char* decode_segment(std::string_view in, std::string& out) {
    out.clear();
    if (in.find('%') == std::string_view::npos) {
        out.assign(in);
        return nullptr;
    }
    try {
        Poco::URI::decode(std::string(in), out);
    } catch (const Poco::SyntaxException&) {
        return "malformed percent-escape";
    }
    // A NUL would end the text for any C API the application hands it to;
    // the gateway refuses %00 before routing too.
    if (out.find('\0') != std::string::npos)
        return "encoded NUL (%00)";
    return nullptr;
}

std::vector<PatternSegment> parse_pattern(const std::string& pattern) {
    auto bad = [&pattern](const std::string& why) {
        return std::invalid_argument("route pattern \"" + pattern + "\": " + why);
    };
    if (pattern.empty() || pattern.front() != '/')
        throw bad("does not begin with '/'");
    std::vector<PatternSegment> segments;
    std::string_view rest = std::string_view(pattern).substr(1);
    while (true) {
        const std::size_t slash = rest.find('/');
        const std::string_view raw = rest.substr(0, slash);
        const bool last = slash == std::string_view::npos;
        if (raw.empty() && !last)
            throw bad("has an empty segment (\"//\")");
        PatternSegment segment;
        if (!raw.empty() && raw.front() == '{') {
            if (raw.size() < 3 || raw.back() != '}')
                throw bad("a capture is written {name}, alone in its segment");
            segment.capture = true;
            segment.text = std::string(raw.substr(1, raw.size() - 2));
            for (char c : segment.text)
                if (!is_capture_name_char(c))
                    throw bad("capture names are letters, digits and '_'");
            for (const PatternSegment& other : segments)
                if (other.capture && other.text == segment.text)
                    throw bad("captures \"" + segment.text + "\" twice");
        } else {
            if (raw.find_first_of("{}") != std::string_view::npos)
                throw bad("a capture is written {name}, alone in its segment");
            if (const char* why = decode_segment(raw, segment.text))
                throw bad(why);
        }
        segments.push_back(std::move(segment));
        if (last)
            break;
        rest = rest.substr(slash + 1);
    }
    return segments;
}

/// The path under the mount, as decoded segments: "/items/a%2Fb" is
/// {"items", "a/b"}; a trailing '/' gives a last empty segment; the mount
/// itself ("/api" under "/api") is no segment at all.
using Segments = std::vector<std::string>;

/// Splits `path` on '/' (a '/' only, never an escape), merging repeated
/// slashes and removing dot segments as the gateway's own normalisation
/// does (RFC 3986 §5.2.4), on each segment's decoded text when `decode`
/// (a raw REQUEST_URI) and as it is otherwise (PATH_INFO, already decoded).
/// Throws RequestError(400) for a segment that does not decode, and for a
/// ".." that climbs above "/" (the gateway refuses both before routing:
/// this is for requests that did not come through it).
Segments split_path(std::string_view path, bool decode) {
    Segments out;
    bool trailing = false;  // the path ends with '/' (or a dot segment)
    std::string decoded;
    std::size_t i = 0;
    while (i < path.size()) {
        while (i < path.size() && path[i] == '/')
            ++i;
        if (i == path.size()) {
            trailing = true;
            break;
        }
        const std::size_t end = std::min(path.find('/', i), path.size());
        const std::string_view raw = path.substr(i, end - i);
        i = end;
        if (!decode)
            decoded.assign(raw);
        else if (const char* why = decode_segment(raw, decoded))
            throw RequestError(400, std::string(why) + " in the request path");
        trailing = false;
        if (decoded == ".") {
            trailing = true;
        } else if (decoded == "..") {
            if (out.empty())
                throw RequestError(400, "the request path climbs above /");
            out.pop_back();
            trailing = true;
        } else {
            out.push_back(std::move(decoded));
            decoded = std::string();
        }
    }
    if (trailing)
        out.emplace_back();
    return out;
}

/// The path the router matches: REQUEST_URI's path (raw, so that %2F stays
/// inside its segment) without the segments of SCRIPT_NAME. PATH_INFO when
/// there is no usable REQUEST_URI (a Request built by hand; the gateway
/// always sets one, rebuilt from SCRIPT_NAME and PATH_INFO when the front
/// end sent none), or when its first segments are not SCRIPT_NAME's.
Segments path_under_mount(const Request& req) {
    std::string_view uri = req.request_uri();
    uri = uri.substr(0, uri.find('?'));
    if (!uri.empty() && uri.front() == '/') {
        Segments path = split_path(uri, true);
        // SCRIPT_NAME is the mount prefix ("" for "/"), decoded, without a
        // trailing '/'.
        const Segments mount = split_path(req.script_name(), false);
        std::size_t n = mount.size();
        if (n > 0 && mount.back().empty())
            --n;  // "/api/" as SCRIPT_NAME, from a hand-built request
        if (path.size() >= n) {
            bool same = true;
            for (std::size_t k = 0; k < n && same; ++k)
                same = path[k] == mount[k];
            if (same) {
                path.erase(path.begin(), path.begin() + static_cast<std::ptrdiff_t>(n));
                return path;
            }
        }
    }
    return split_path(req.path_info(), false);
}

/// Whether `path` matches `route`; fills `captures` when it does and they
/// are asked for.
bool matches(const Route& route, const Segments& path, std::vector<Params::value_type>* captures) {
    const auto& pattern = route.segments;
    // "/" is the mount itself, with or without its trailing '/'.
    if (path.empty())
        return pattern.size() == 1 && !pattern[0].capture && pattern[0].text.empty();
    if (pattern.size() != path.size())
        return false;
    for (std::size_t k = 0; k < pattern.size(); ++k) {
        if (pattern[k].capture) {
            if (path[k].empty())
                return false;
        } else if (pattern[k].text != path[k]) {
            return false;
        }
    }
    if (captures != nullptr) {
        captures->clear();
        for (std::size_t k = 0; k < pattern.size(); ++k)
            if (pattern[k].capture)
                captures->emplace_back(pattern[k].text, path[k]);
    }
    return true;
}

void default_error(int, std::string_view reason, Response& res) {
    res.set_header("Content-Type", "text/plain; charset=utf-8");
    res.write(reason);
    res.write("\n");
}

}  // namespace

struct Router::Table {
    std::vector<Route> routes;
    ErrorHandler on_error;
};

Router::Router() : table_(std::make_shared<Table>()) {}

Router& Router::get(std::string pattern, Handler fn) {
    return route("GET", std::move(pattern), std::move(fn));
}
Router& Router::post(std::string pattern, Handler fn) {
    return route("POST", std::move(pattern), std::move(fn));
}
Router& Router::put(std::string pattern, Handler fn) {
    return route("PUT", std::move(pattern), std::move(fn));
}
Router& Router::patch(std::string pattern, Handler fn) {
    return route("PATCH", std::move(pattern), std::move(fn));
}
Router& Router::del(std::string pattern, Handler fn) {
    return route("DELETE", std::move(pattern), std::move(fn));
}

Router& Router::route(std::string method, std::string pattern, Handler fn) {
    if (method.empty())
        throw std::invalid_argument("route method is empty");
    // A method is a token (RFC 9110 §9.1), as a header name is.
    if (!valid_header_name(method))
        throw std::invalid_argument("route method \"" + method + "\" is not a token");
    if (!fn)
        throw std::invalid_argument("route " + method + " " + pattern + " has no handler");
    Route r;
    r.segments = parse_pattern(pattern);
    r.method = std::move(method);
    r.pattern = std::move(pattern);
    r.fn = std::move(fn);
    table_->routes.push_back(std::move(r));
    return *this;
}

Router& Router::on_error(ErrorHandler fn) {
    table_->on_error = std::move(fn);
    return *this;
}

void Router::operator()(Request& req, Response& res) const {
    const Table& table = *table_;
    int status = 0;
    std::string reason;
    std::string allow;
    try {
        const Segments path = path_under_mount(req);
        const std::string_view method = req.method();
        const Route* chosen = nullptr;
        const Route* get_for_head = nullptr;
        std::vector<std::string_view> allowed;
        for (const Route& r : table.routes) {
            if (!matches(r, path, nullptr))
                continue;
            if (r.method == method) {
                chosen = &r;
                break;
            }
            if (method == "HEAD" && r.method == "GET" && get_for_head == nullptr)
                get_for_head = &r;
            bool seen = false;
            for (std::string_view m : allowed)
                seen = seen || m == r.method;
            if (!seen)
                allowed.push_back(r.method);
        }
        if (chosen == nullptr)
            chosen = get_for_head;
        if (chosen != nullptr) {
            std::vector<Params::value_type> captures;
            matches(*chosen, path, &captures);
            req.set_params(Params(std::move(captures)));
            chosen->fn(req, res);
            return;
        }
        if (allowed.empty()) {
            status = 404;
        } else {
            // RFC 9110 §9.3.2: a GET resource answers HEAD too.
            bool head = false;
            for (std::string_view m : allowed)
                head = head || m == "HEAD";
            for (std::string_view m : allowed) {
                if (!allow.empty())
                    allow += ", ";
                allow += m;
                if (m == "GET" && !head)
                    allow += ", HEAD";
            }
            status = 405;
        }
        reason = std::string(reason_phrase(status));
    } catch (const RequestError& e) {
        // Past the head the answer cannot change: the gateway cuts the
        // response off, so the client never takes it for complete.
        if (res.headers_sent())
            throw;
        status = e.status();
        reason = e.what();
        req.log(Level::warn, "refused with " + std::to_string(status) + ": " + reason);
    }
    res.reset();
    res.status(status);
    if (status == 405)
        res.set_header("Allow", allow);
    if (table.on_error)
        table.on_error(status, reason, res);
    else
        default_error(status, reason, res);
}

}  // namespace postern
