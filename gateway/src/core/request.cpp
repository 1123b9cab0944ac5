#include "postern/request.hpp"

#include <algorithm>
#include <cctype>

#include "core/decimal.hpp"
#include "core/environ.hpp"
#include "core/log.hpp"
#include "core/log_escape.hpp"
#include "core/text.hpp"

namespace postern {

Request::Request(std::string_view protocol, Environ environ, BodySource& body)
    : protocol_(protocol), environ_(std::move(environ)), body_(body) {}

std::string_view Request::var(std::string_view name) const noexcept {
    const std::string* v = find_var(environ_, name);
    return v ? std::string_view(*v) : std::string_view();
}

bool Request::https() const noexcept {
    std::string_view v = var("HTTPS");
    return iequals(v, "on") || v == "1";
}

std::optional<std::uint64_t> Request::content_length() const noexcept {
    const std::string* v = find_var(environ_, "CONTENT_LENGTH");
    return v == nullptr ? std::nullopt : parse_length(*v);
}

std::optional<std::string_view> Request::header(std::string_view name) const {
    // Map the header name to its CGI variable (RFC 3875 §4.1.18) and look
    // that up: one representation, whatever the adapter.
    std::string var;
    if (iequals(name, "content-type")) {
        var = "CONTENT_TYPE";
    } else if (iequals(name, "content-length")) {
        var = "CONTENT_LENGTH";
    } else {
        var.reserve(name.size() + 5);
        var = "HTTP_";
        for (char c : name)
            var +=
                (c == '-') ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    const std::string* v = find_var(environ_, var);
    if (v == nullptr)
        return std::nullopt;
    if (var == "CONTENT_TYPE" || var == "CONTENT_LENGTH") {
        if (v->empty())
            return std::nullopt;  // CGI sets them empty when absent
    }
    return std::string_view(*v);
}

std::vector<std::pair<std::string, std::string>> Request::headers() const {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& [k, v] : environ_) {
        std::string name = header_name_of(k);
        if (name.empty())
            continue;
        if ((k == "CONTENT_TYPE" || k == "CONTENT_LENGTH") && v.empty())
            continue;
        out.emplace_back(std::move(name), v);
    }
    return out;
}

std::optional<std::string_view> Request::env(std::string_view name) const noexcept {
    const std::string* v = find_var(environ_, name);
    if (v == nullptr)
        return std::nullopt;
    return std::string_view(*v);
}

std::size_t Request::read(char* buffer, std::size_t size) {
    if (body_done_ || size == 0)
        return 0;
    std::size_t n = body_.read(buffer, size);
    if (n == 0)
        body_done_ = true;
    else
        body_read_ += n;
    return n;
}

std::string Request::read_all(std::size_t limit) {
    std::string out;
    char buf[16384];
    for (;;) {
        std::size_t n = read(buf, sizeof(buf));
        if (n == 0)
            break;
        if (out.size() + n > limit)
            throw RequestError(413, "request body longer than " + std::to_string(limit) + " bytes");
        out.append(buf, n);
    }
    return out;
}

std::string_view Request::param(std::string_view name) const noexcept {
    return params_.get(name, {});
}

void Request::log(Level level, std::string_view message) const {
    const auto lv = static_cast<log::Level>(static_cast<int>(level));
    if (!log::enabled(lv))
        return;
    std::string line = "application: ";
    append_log_escaped(line, message);
    line += " (request \"";
    append_log_escaped(line, method());
    line += ' ';
    append_log_escaped(line, request_uri().empty() ? path_info() : request_uri());
    line += "\" from ";
    append_log_escaped(line, remote_addr());
    line += ')';
    log::write(lv, line);
}

}  // namespace postern
