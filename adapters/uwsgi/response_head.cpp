#include "uwsgi/response_head.hpp"

namespace postern::uwsgi {

namespace {

char lower(char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size())
        return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i]))
            return false;
    return true;
}

}  // namespace

std::string encode_response_head(const ResponseHead& head) {
    std::string out;
    out.reserve(128);
    out += "HTTP/1.1 ";
    out += std::to_string(head.status);
    out += ' ';
    out += reason_phrase(head.status);
    out += "\r\n";
    if (head.headers != nullptr) {
        for (const auto& [name, value] : *head.headers) {
            // Framing is the adapter's alone (the core never passes these).
            if (iequals(name, "content-length") || iequals(name, "transfer-encoding"))
                continue;
            out += name;
            out += ": ";
            out += value;
            out += "\r\n";
        }
    }
    if (head.content_length && status_has_body(head.status)) {
        out += "Content-Length: ";
        out += std::to_string(*head.content_length);
        out += "\r\n";
    }
    out += "\r\n";
    return out;
}

}  // namespace postern::uwsgi
