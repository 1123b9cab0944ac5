// Postern toolkit: the common responses — JSON and redirects.
#include <stdexcept>
#include <string>

#include "postern/response.hpp"

namespace postern {

std::string html_escape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&#39;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

void Response::json(std::string_view text, int status) {
    this->status(status);
    // RFC 8259 §11: application/json has no charset parameter (it is UTF-8).
    set_header("Content-Type", "application/json");
    write(text);
}

void Response::redirect(std::string_view location, int status) {
    // Everything is checked before the response changes, so a refused
    // redirect leaves it as it was.
    switch (status) {
        case 301:
        case 302:
        case 303:
        case 307:
        case 308:
            break;
        default:
            throw std::invalid_argument("redirect status " + std::to_string(status) +
                                        " is not 301, 302, 303, 307 or 308");
    }
    if (location.empty())
        throw std::invalid_argument("redirect to an empty location");
    for (unsigned char c : location)
        if (c < 0x20 || c == 0x7F)
            throw std::invalid_argument(
                "redirect location has a control character (CR, LF, NUL, ...)");
    this->status(status);
    set_header("Location", location);
    set_header("Content-Type", "text/html; charset=utf-8");
    // RFC 9110 §15.4: the body is "a short hypertext note with a hyperlink
    // to the different URI(s)", for a client that does not follow it.
    std::string body = "<!DOCTYPE html>\n<html><head><title>";
    body += reason_phrase(status);
    body += "</title></head><body><p>Redirecting to <a href=\"";
    body += html_escape(location);
    body += "\">";
    body += html_escape(location);
    body += "</a>.</p></body></html>\n";
    write(body);
}

}  // namespace postern
