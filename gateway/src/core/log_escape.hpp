// Postern core: escaping request data for a log line, as nginx escapes the
// variables of its access log (ngx_http_log_escape): '"', '\' and every
// byte below 0x20 or above 0x7E become "\xHH". A client can then neither
// end a quoted field early (User-Agent: x" 200 0 "-" "forged) nor split a
// line (a line feed in an AJP stored method): one request, one line, with
// every field where the log format says it is.
#pragma once

#include <string>
#include <string_view>

namespace postern {

/// Appends `in` to `out` escaped as above. Pure; thread-safe.
inline void append_log_escaped(std::string& out, std::string_view in) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (const char ch : in) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c > 0x7E || c == '"' || c == '\\') {
            out += "\\x";
            out += kHex[c >> 4];
            out += kHex[c & 0x0F];
        } else {
            out += ch;
        }
    }
}

/// `in` escaped as above.
inline std::string log_escape(std::string_view in) {
    std::string out;
    out.reserve(in.size());
    append_log_escaped(out, in);
    return out;
}

}  // namespace postern
