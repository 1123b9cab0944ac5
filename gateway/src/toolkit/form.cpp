// Postern toolkit: Request::query() and Request::form() — the query string
// and an application/x-www-form-urlencoded body, decoded once and cached.
#include <stdexcept>
#include <string>

#include "core/text.hpp"
#include "postern/params.hpp"
#include "postern/request.hpp"

namespace postern {

namespace {

/// `parse_urlencoded`, with the refusal's reason saying what was parsed.
Params parse(std::string_view text, std::string_view what) {
    try {
        return Params::parse_urlencoded(text);
    } catch (const RequestError& e) {
        throw RequestError(e.status(), std::string(what) + ": " + e.what());
    }
}

/// The media type of a Content-Type value, without its parameters and the
/// whitespace around it (RFC 9110 §8.3.1: type "/" subtype *( OWS ";" ...)).
std::string_view media_type(std::string_view content_type) {
    content_type = content_type.substr(0, content_type.find(';'));
    const std::size_t first = content_type.find_first_not_of(" \t");
    if (first == std::string_view::npos)
        return {};
    const std::size_t last = content_type.find_last_not_of(" \t");
    return content_type.substr(first, last - first + 1);
}

}  // namespace

const Params& Request::query() const {
    if (!query_)
        query_ = parse(query_string(), "query string");
    return *query_;
}

const Params& Request::form() {
    if (form_)
        return *form_;
    const std::optional<std::string_view> type = header("Content-Type");
    if (!type) {
        // No Content-Type: no body is an empty form (a GET may call form()
        // to look for optional fields); a body of unknown type is refused.
        char byte;
        if (body_bytes_read() == 0 && read(&byte, 1) == 0) {
            form_.emplace();
            return *form_;
        }
        throw RequestError(415,
                           "form body: a body without a Content-Type (expected "
                           "application/x-www-form-urlencoded)");
    }
    if (!iequals(media_type(*type), "application/x-www-form-urlencoded"))
        throw RequestError(415, "form body: Content-Type is not application/x-www-form-urlencoded");
    if (body_bytes_read() != 0) {
        // A form parsed from the rest of a body would be missing its start.
        throw std::logic_error(
            "Request::form(): the body was read already (by read(), body(), or a form() that "
            "was refused)");
    }
    // Refused before reading when the declared length says so already.
    if (const auto length = content_length(); length && *length > kMaxFormBytes)
        throw RequestError(413,
                           "form body: longer than " + std::to_string(kMaxFormBytes) + " bytes");
    const std::string body = read_all(kMaxFormBytes);
    form_ = parse(body, "form body");
    return *form_;
}

}  // namespace postern
