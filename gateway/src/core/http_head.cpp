#include "core/http_head.hpp"

#include <charconv>
#include <cstdio>
#include <ctime>
#include <string_view>

#include "core/text.hpp"

namespace postern {

namespace {

void append_number(std::string& out, std::uint64_t n) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof(buf), n);
    out.append(buf, r.ptr);
}

// RFC 9110 §6.6.1: an origin server with a clock MUST send Date. Formatting
// it is the costly part of a small response head, so each thread formats it
// once a second (IMF-fixdate, RFC 9110 §5.6.7; not strftime, whose day and
// month names follow the locale).
void append_date(std::string& out) {
    static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    thread_local std::time_t cached = -1;
    thread_local char text[64];
    thread_local std::size_t length = 0;
    std::time_t now = std::time(nullptr);
    if (now != cached) {
        std::tm tm{};
        ::gmtime_r(&now, &tm);
        int n = std::snprintf(text, sizeof(text), "Date: %s, %02d %s %04d %02d:%02d:%02d GMT\r\n",
                              kDays[tm.tm_wday % 7], tm.tm_mday, kMonths[tm.tm_mon % 12],
                              tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
        length = n > 0 ? static_cast<std::size_t>(n) : 0;
        cached = now;
    }
    out.append(text, length);
}

}  // namespace

void append_http_head(std::string& out, int status, const HeaderList* headers,
                      const HttpFraming& framing) {
    out += "HTTP/1.1 ";  // RFC 9110 §6.2: our version, whatever the client's
    append_number(out, static_cast<std::uint64_t>(status));
    out += ' ';
    out += reason_phrase(status);
    out += "\r\n";
    bool has_date = false;
    if (headers != nullptr) {
        for (const auto& [name, value] : *headers) {
            if (iequals(name, "content-length") || iequals(name, "transfer-encoding"))
                continue;
            if (iequals(name, "date"))
                has_date = true;
            out += name;
            out += ": ";
            out += value;
            out += "\r\n";
        }
    }
    if (framing.date && !has_date)
        append_date(out);
    if (framing.content_length) {
        out += "Content-Length: ";
        append_number(out, *framing.content_length);
        out += "\r\n";
    } else if (framing.chunked) {
        out += "Transfer-Encoding: chunked\r\n";
    }
    switch (framing.connection) {
        case HttpFraming::Connection::unsaid:
            break;
        case HttpFraming::Connection::close:
            out += "Connection: close\r\n";
            break;
        case HttpFraming::Connection::keep_alive:
            out += "Connection: keep-alive\r\n";
            break;
    }
    out += "\r\n";
}

}  // namespace postern
