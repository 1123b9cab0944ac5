#include "core/environ.hpp"

#include "postern/response.hpp"

#include <cctype>
#include <tuple>
#include <utility>

namespace postern {

const std::string* find_var(const Environ& env, std::string_view name) noexcept {
    for (const auto& [k, v] : env)
        if (k == name)
            return &v;
    return nullptr;
}

void set_var(Environ& env, std::string_view name, std::string_view value) {
    for (auto& [k, v] : env) {
        if (k == name) {
            v.assign(value);
            return;
        }
    }
    env.emplace_back(std::string(name), std::string(value));
}

void erase_var(Environ& env, std::string_view name) {
    for (auto it = env.begin(); it != env.end(); ++it) {
        if (it->first == name) {
            env.erase(it);
            return;
        }
    }
}

namespace {

// Hop-by-hop fields (RFC 9110 §7.6.1) describe the connection to whoever
// sent them, which the adapter has already consumed: a callback could only
// misread them (a body announced as chunked that it receives decoded).
bool hop_by_hop(std::string_view var) noexcept {
    return var == "HTTP_CONNECTION" || var == "HTTP_KEEP_ALIVE" || var == "HTTP_TE" ||
           var == "HTTP_TRANSFER_ENCODING" || var == "HTTP_PROXY_CONNECTION";
}

}  // namespace

namespace {

bool dropped_param(std::string_view name) noexcept {
    // httpoxy (CVE-2016-5385): a client's "Proxy:" header must never look
    // like the HTTP_PROXY setting to anything downstream. nginx passes
    // Content-Type and Content-Length as HTTP_* params too; RFC 3875
    // §4.1.18 keeps them in CONTENT_TYPE / CONTENT_LENGTH only, as Apache
    // and the HTTP adapter do.
    return name == "HTTP_PROXY" || name == "HTTP_CONTENT_TYPE" || name == "HTTP_CONTENT_LENGTH" ||
           hop_by_hop(name);
}

/// `v` already holds a value of `name`: a repeated HTTP_* param is a header
/// the client repeated; another variable keeps its last value.
void merge_param(std::string& v, std::string_view name, std::string_view value) {
    if (name.substr(0, 5) == "HTTP_") {
        // RFC 9110 §5.3: repeated fields combine with ", "; Cookie is the
        // exception and combines with "; " (RFC 6265 §5.4).
        v += (name == "HTTP_COOKIE") ? "; " : ", ";
        v += value;
    } else {
        v.assign(value);
    }
}

}  // namespace

void add_param(Environ& env, std::string_view name, std::string_view value) {
    if (dropped_param(name))
        return;
    for (auto& [k, v] : env) {
        if (k == name) {
            merge_param(v, name, value);
            return;
        }
    }
    env.emplace_back(std::string(name), std::string(value));
}

ParamBuilder::ParamBuilder(Environ& env) noexcept : env_(env) {
    for (const auto& entry : env_)
        mark(hash(entry.first));
}

std::uint64_t ParamBuilder::hash(std::string_view name) noexcept {
    // Length and three characters tell CGI variable names apart well
    // (REMOTE_ADDR / REMOTE_PORT / SERVER_ADDR differ in one of them).
    std::uint64_t h = name.size();
    if (!name.empty()) {
        h = h * 131 + static_cast<unsigned char>(name.back());
        h = h * 131 + static_cast<unsigned char>(name[name.size() / 2]);
        h = h * 131 + static_cast<unsigned char>(name[name.size() > 5 ? 5 : 0]);
    }
    return h * 0x9E3779B97F4A7C15ull;
}

bool ParamBuilder::maybe_seen(std::uint64_t h) const noexcept {
    const unsigned a = static_cast<unsigned>(h >> 57);         // 0..127
    const unsigned b = static_cast<unsigned>(h >> 50) & 127u;  // 0..127
    return (seen_[a >> 6] >> (a & 63) & 1u) != 0 && (seen_[b >> 6] >> (b & 63) & 1u) != 0;
}

void ParamBuilder::mark(std::uint64_t h) noexcept {
    const unsigned a = static_cast<unsigned>(h >> 57);
    const unsigned b = static_cast<unsigned>(h >> 50) & 127u;
    seen_[a >> 6] |= std::uint64_t{1} << (a & 63);
    seen_[b >> 6] |= std::uint64_t{1} << (b & 63);
}

bool ParamBuilder::add(std::string_view name, std::string_view value) {
    if (dropped_param(name))
        return true;
    const std::uint64_t h = hash(name);
    if (maybe_seen(h)) {
        for (auto& [k, v] : env_) {
            if (k == name) {
                merge_param(v, name, value);
                return name.starts_with("HTTP_") && name != "HTTP_HOST";
            }
        }
    }
    mark(h);
    // Built in place: no temporary strings to move.
    env_.emplace_back(std::piecewise_construct, std::forward_as_tuple(name),
                      std::forward_as_tuple(value));
    return true;
}

void add_header(Environ& env, std::string_view name, std::string_view value) {
    if (name.empty() || !valid_header_name(name))
        return;
    std::string var;
    var.reserve(name.size() + 5);
    auto upper = [](std::string_view n) {
        std::string s;
        s.reserve(n.size());
        for (char c : n)
            s += (c == '-') ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        return s;
    };
    std::string up = upper(name);
    if (name.find('_') != std::string_view::npos)
        return;  // as nginx and Apache do
    if (up == "CONTENT_TYPE" || up == "CONTENT_LENGTH") {
        var = up;
        if (find_var(env, var) != nullptr) {
            set_var(env, var, value);
            return;
        }
        env.emplace_back(std::move(var), std::string(value));
        return;
    }
    var = "HTTP_";
    var += up;
    add_param(env, var, value);
}

std::string header_name_of(std::string_view var) {
    std::string_view rest;
    if (var == "CONTENT_TYPE" || var == "CONTENT_LENGTH")
        rest = var;
    else if (var.size() > 5 && var.substr(0, 5) == "HTTP_")
        rest = var.substr(5);
    else
        return {};
    // A header's variable is upper case with '_' for '-' (RFC 3875
    // §4.1.18); another spelling names no header Request::header() finds.
    for (char c : rest)
        if ((c >= 'a' && c <= 'z') || c == '-')
            return {};
    std::string out;
    out.reserve(rest.size());
    for (char c : rest)
        out += (c == '_') ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

}  // namespace postern
