#include "http/http_codec.hpp"

#include <algorithm>
#include <cstring>
#include <optional>

#include "core/decimal.hpp"
#include "core/text.hpp"
#include "http/http_chars.hpp"

namespace postern::http {

using chars::hex_value;
using chars::is_field_char;
using chars::is_ows;
using chars::is_tchar;

namespace {

bool istarts_with(std::string_view s, std::string_view prefix) noexcept {
    return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

std::string_view trim_ows(std::string_view s) noexcept {
    while (!s.empty() && is_ows(s.front()))
        s.remove_prefix(1);
    while (!s.empty() && is_ows(s.back()))
        s.remove_suffix(1);
    return s;
}

// Position of the first CRLF in in[from, to), or npos.
std::size_t find_crlf(std::string_view in, std::size_t from, std::size_t to) noexcept {
    while (from + 1 < to) {
        const void* p = std::memchr(in.data() + from, '\r', to - from - 1);
        if (p == nullptr)
            return std::string_view::npos;
        std::size_t at = static_cast<std::size_t>(static_cast<const char*>(p) - in.data());
        if (in[at + 1] == '\n')
            return at;
        from = at + 1;
    }
    return std::string_view::npos;
}

// Position of the first LF in in[from, to) that does not follow a CR, or
// npos. RFC 9112 §2.2 lets a recipient accept a bare LF as a line end;
// Postern does not, and says so at once rather than when the head times out.
std::size_t find_bare_lf(std::string_view in, std::size_t from, std::size_t to) noexcept {
    while (from < to) {
        const void* p = std::memchr(in.data() + from, '\n', to - from);
        if (p == nullptr)
            return std::string_view::npos;
        std::size_t at = static_cast<std::size_t>(static_cast<const char*>(p) - in.data());
        if (at == 0 || in[at - 1] != '\r')
            return at;
        from = at + 1;
    }
    return std::string_view::npos;
}

constexpr auto error = &decode_error<int>;

// RFC 9112 §6.3 rule 5 and RFC 9110 §8.6: Content-Length = 1*DIGIT. No
// sign, no inner whitespace, no list ("5, 5"): a lenient reading is what
// made the gunicorn request smuggling possible.
bool parse_length(std::string_view s, std::uint64_t& out) noexcept {
    const std::optional<std::uint64_t> n = postern::parse_length(s);
    if (n)
        out = *n;
    return n.has_value();
}

// RFC 3986 §3.2.2: reg-name = *( unreserved / pct-encoded / sub-delims ).
constexpr bool is_reg_name_char(unsigned char c) noexcept {
    // unreserved (ALPHA DIGIT "-" "." "_" "~"), "%" of pct-encoded, sub-delims.
    constexpr std::string_view kMarks = "-._~%!$&'()*+,;=";
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           kMarks.find(static_cast<char>(c)) != std::string_view::npos;
}

}  // namespace

bool valid_host(std::string_view host) noexcept {
    std::string_view name = host;
    std::string_view port;
    if (!host.empty() && host.front() == '[') {
        // IP-literal: an IPv6 address (or IPvFuture) in brackets.
        std::size_t close = host.find(']');
        if (close == std::string_view::npos || close < 3)
            return false;
        for (char c : host.substr(1, close - 1))
            if (hex_value(static_cast<unsigned char>(c)) < 0 && c != ':' && c != '.')
                return false;
        std::string_view rest = host.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':')
                return false;
            port = rest.substr(1);
        }
        name = {};
    } else if (std::size_t colon = host.rfind(':'); colon != std::string_view::npos) {
        name = host.substr(0, colon);
        port = host.substr(colon + 1);
    }
    for (char c : name)
        if (!is_reg_name_char(static_cast<unsigned char>(c)))
            return false;
    if (port.size() > 5)
        return false;
    for (char c : port)
        if (c < '0' || c > '9')
            return false;
    return true;
}

std::string host_without_port(std::string_view authority) {
    std::string_view host = authority;
    if (!host.empty() && host.front() == '[') {
        if (std::size_t close = host.find(']'); close != std::string_view::npos)
            host = host.substr(0, close + 1);
    } else if (std::size_t colon = host.rfind(':'); colon != std::string_view::npos) {
        host = host.substr(0, colon);
    }
    std::string out(host);
    for (char& c : out)
        c = ascii_lower(c);
    return out;
}

namespace {

// A head stops short of done (an error, or need more input with what may be
// dropped) or goes on to its next section: each section below returns
// nullopt to go on.
using Stop = std::optional<HeadResult>;

HeadResult need_more(std::size_t droppable) {
    HeadResult r;
    r.consumed = droppable;
    return r;
}

// `what` does not fit in max_header_bytes: refused with `code`.
HeadResult too_long(int code, const char* what, const HeadLimits& limits, std::size_t start) {
    return error(
        code,
        std::string(what) + " longer than " + std::to_string(limits.max_header_bytes) + " bytes",
        start);
}

// What the header fields say about framing, Host and persistence.
struct FieldSummary {
    std::size_t lengths = 0;
    std::size_t encodings = 0;
    std::size_t hosts = 0;
    std::string_view length_value;
    std::string_view encoding_value;
    std::string_view host_value;
    bool close = false;
    bool keep_alive_token = false;
    bool upgrade_token = false;
};

// --- Request line (RFC 9112 §3): method SP request-target SP version.
// Fills out.method, out.target and out.minor; `line_end` is set to the
// line's CR.
Stop parse_request_line(std::string_view in, std::size_t start, std::size_t budget_end,
                        const HeadLimits& limits, RequestHead& out, std::size_t& line_end) {
    line_end = find_crlf(in, start, budget_end);
    if (line_end == std::string_view::npos) {
        // Refuse a client that is not speaking HTTP (a TLS handshake on the
        // plain port, random bytes) now, not once the limit is reached.
        for (std::size_t i = start; i < in.size() && in[i] != ' '; ++i) {
            if (!is_tchar(static_cast<unsigned char>(in[i])) && in[i] != '\r')
                return error(400,
                             static_cast<unsigned char>(in[start]) == 0x16
                                 ? "TLS handshake on a plain HTTP port"
                                 : "request line does not start with a method",
                             i);
        }
        if (std::size_t lf = find_bare_lf(in, start, budget_end); lf != std::string_view::npos)
            return error(400, "request line ended by a bare LF", lf);
        if (in.size() - start >= limits.max_header_bytes)
            return too_long(414, "request line", limits, start);
        return need_more(start);
    }
    std::string_view line = in.substr(start, line_end - start);
    std::size_t sp1 = line.find(' ');
    if (sp1 == std::string_view::npos || sp1 == 0)
        return error(400, "malformed request line", start);
    for (std::size_t i = 0; i < sp1; ++i)
        if (!is_tchar(static_cast<unsigned char>(line[i])))
            return error(400, "invalid character in the method", start + i);
    std::size_t sp2 = line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || sp2 == sp1 + 1)
        return error(400, "malformed request line", start + sp1);
    for (std::size_t i = sp1 + 1; i < sp2; ++i) {
        unsigned char c = static_cast<unsigned char>(line[i]);
        if (c <= 0x20 || c == 0x7f)
            return error(400, "invalid character in the request target", start + i);
    }
    out.method = line.substr(0, sp1);
    out.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    // RFC 9112 §2.3: HTTP-version = "HTTP" "/" DIGIT "." DIGIT, case-sensitive.
    std::string_view version = line.substr(sp2 + 1);
    if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[5] < '0' ||
        version[5] > '9' || version[6] != '.' || version[7] < '0' || version[7] > '9')
        return error(400, "malformed HTTP version", start + sp2 + 1);
    if (version[5] != '1')
        return error(505, "HTTP version other than 1.x", start + sp2 + 1);
    out.minor = version[7] == '0' ? 0 : 1;
    return std::nullopt;
}

// --- Header section (RFC 9112 §5): field lines up to an empty line.
// Sets `head_end` one past the final CRLF.
Stop find_head_end(std::string_view in, std::size_t start, std::size_t line_end,
                   std::size_t budget_end, const HeadLimits& limits, std::size_t& head_end) {
    const std::size_t fields_start = line_end + 2;
    if (in.size() >= fields_start + 2 && in[fields_start] == '\r' && in[fields_start + 1] == '\n') {
        head_end = fields_start + 2;
        if (head_end > budget_end)
            return too_long(431, "request head", limits, start);
        return std::nullopt;
    }
    std::size_t at = std::string_view::npos;
    for (std::size_t from = line_end;;) {
        std::size_t crlf = find_crlf(in, from, budget_end);
        if (crlf == std::string_view::npos || crlf + 4 > budget_end)
            break;
        if (in[crlf + 2] == '\r' && in[crlf + 3] == '\n') {
            at = crlf;
            break;
        }
        from = crlf + 2;
    }
    if (at == std::string_view::npos) {
        if (std::size_t lf = find_bare_lf(in, fields_start, budget_end);
            lf != std::string_view::npos)
            return error(400, "header field line ended by a bare LF", lf);
        if (in.size() - start >= limits.max_header_bytes)
            return too_long(431, "request head", limits, start);
        return need_more(0);
    }
    head_end = at + 4;
    return std::nullopt;
}

// The field lines in in[fields_start, head_end): each checked and added to
// out.fields, the ones that frame the body or name the host summed up.
Stop parse_field_lines(std::string_view in, std::size_t fields_start, std::size_t head_end,
                       const HeadLimits& limits, RequestHead& out, FieldSummary& sum) {
    for (std::size_t pos = fields_start; pos + 2 < head_end;) {
        const std::size_t eol = find_crlf(in, pos, head_end);
        std::string_view fl = in.substr(pos, eol - pos);
        // RFC 9112 §5.2: obs-fold is refused with 400.
        if (is_ows(fl.front()))
            return error(400, "obsolete line folding in the header section", pos);
        std::size_t colon = 0;
        while (colon < fl.size() && is_tchar(static_cast<unsigned char>(fl[colon])))
            ++colon;
        if (colon == fl.size() || fl[colon] != ':') {
            // RFC 9112 §5.1: whitespace between a field name and the colon
            // MUST be refused with 400 ("Transfer-Encoding : chunked").
            return error(400,
                         colon < fl.size() && is_ows(fl[colon])
                             ? "whitespace between a header field name and its colon"
                             : "invalid header field name",
                         pos + colon);
        }
        if (colon == 0)
            return error(400, "empty header field name", pos);
        std::string_view raw_value = fl.substr(colon + 1);
        for (std::size_t i = 0; i < raw_value.size(); ++i)
            if (!is_field_char(static_cast<unsigned char>(raw_value[i])))
                return error(400, "control character in a header field value", pos + colon + 1 + i);
        if (out.fields.size() == limits.max_headers)
            return error(431, "more than " + std::to_string(limits.max_headers) + " header fields",
                         pos);
        Field f{fl.substr(0, colon), trim_ows(raw_value)};
        out.fields.push_back(f);
        pos = eol + 2;

        if (iequals(f.name, "content-length")) {
            ++sum.lengths;
            sum.length_value = f.value;
        } else if (iequals(f.name, "transfer-encoding")) {
            ++sum.encodings;
            sum.encoding_value = f.value;
        } else if (iequals(f.name, "host")) {
            ++sum.hosts;
            sum.host_value = f.value;
        } else if (iequals(f.name, "connection")) {
            // RFC 9110 §7.6.1: a list of connection options.
            std::string_view rest = f.value;
            while (!rest.empty()) {
                std::size_t comma = rest.find(',');
                std::string_view token = trim_ows(rest.substr(0, comma));
                if (iequals(token, "close"))
                    sum.close = true;
                if (iequals(token, "keep-alive"))
                    sum.keep_alive_token = true;
                if (iequals(token, "upgrade"))
                    sum.upgrade_token = true;
                rest =
                    comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
            }
        } else if (iequals(f.name, "expect")) {
            // RFC 9110 §10.1.1: 100-continue is the only expectation. An
            // HTTP/1.0 client cannot have one, so Expect is ignored there.
            if (out.minor >= 1) {
                if (!iequals(f.value, "100-continue"))
                    return error(417, "unsupported expectation", pos);
                out.expect_continue = true;
            }
        }
    }
    return std::nullopt;
}

// --- Message body framing (RFC 9112 §6), strictly.
Stop decide_framing(const FieldSummary& sum, std::size_t start, RequestHead& out) {
    if (sum.encodings > 0) {
        // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means faulty framing.
        if (out.minor == 0)
            return error(400, "Transfer-Encoding in an HTTP/1.0 request", start);
        // RFC 9112 §6.1: both is a smuggling attempt or a broken proxy;
        // refusing is the safe choice (a server MAY process it as chunked).
        if (sum.lengths > 0)
            return error(400, "both Content-Length and Transfer-Encoding", start);
        // Only "chunked" alone: any other coding would be answered 501 by
        // a server that decodes codings; Postern decodes none, and a list
        // ("chunked, chunked", "gzip, chunked") or a second field is where
        // parsers disagree.
        if (sum.encodings > 1)
            return error(400, "more than one Transfer-Encoding field", start);
        if (!iequals(sum.encoding_value, "chunked"))
            return error(400, "Transfer-Encoding other than chunked", start);
        out.framing = Framing::chunked;
    } else if (sum.lengths > 0) {
        // RFC 9112 §6.3 rule 5: differing lengths are unrecoverable; equal
        // repeated ones are refused too, as no honest client sends them.
        if (sum.lengths > 1)
            return error(400, "more than one Content-Length field", start);
        if (!parse_length(sum.length_value, out.content_length))
            return error(400, "Content-Length is not a decimal number", start);
        out.framing = out.content_length > 0 ? Framing::length : Framing::none;
    }
    if (out.framing == Framing::none)
        out.expect_continue = false;
    return std::nullopt;
}

// --- Target and Host (RFC 9112 §3.2, §3.2.2).
Stop resolve_target(const FieldSummary& sum, std::size_t start, RequestHead& out) {
    // The request-target follows the method and one SP.
    const std::size_t target_at = start + out.method.size() + 1;
    if (sum.hosts > 1)
        return error(400, "more than one Host field", start);
    if (sum.hosts == 0 && out.minor >= 1)
        return error(400, "HTTP/1.1 request without Host", start);
    if (sum.hosts == 1 && !valid_host(sum.host_value))
        return error(400, "invalid Host", start);
    out.authority = sum.host_value;
    if (out.target.front() == '/') {
        out.path = out.target;
    } else if (istarts_with(out.target, "http://") || istarts_with(out.target, "https://")) {
        std::string_view rest = out.target.substr(out.target.find(':') + 3);
        std::size_t end = rest.find_first_of("/?");
        std::string_view authority = rest.substr(0, end);
        if (authority.empty() || authority.find('@') != std::string_view::npos ||
            !valid_host(authority))
            return error(400, "invalid authority in an absolute-form request target", target_at);
        out.authority = authority;
        out.path = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
    } else if (out.target == "*" && out.method == "OPTIONS") {
        out.path = out.target;
    } else {
        return error(400, "request target is neither origin-form nor absolute-form", target_at);
    }
    return std::nullopt;
}

}  // namespace

HeadResult parse_request_head(std::string_view in, const HeadLimits& limits, RequestHead& out) {
    {
        // Reset, keeping the capacity of `fields` for the next request.
        std::vector<Field> fields = std::move(out.fields);
        fields.clear();
        out = RequestHead{};
        out.fields = std::move(fields);
    }
    // RFC 9112 §2.2: a server SHOULD ignore at least one empty line (CRLF)
    // received before the request-line (some clients send one after a
    // POST body).
    std::size_t start = 0;
    while (in.size() - start >= 2 && in[start] == '\r' && in[start + 1] == '\n')
        start += 2;
    const std::size_t budget_end = std::min(in.size(), start + limits.max_header_bytes);
    if (start == in.size() || (in.size() - start == 1 && in[start] == '\r'))
        return need_more(start);

    std::size_t line_end = 0;
    if (Stop stop = parse_request_line(in, start, budget_end, limits, out, line_end))
        return std::move(*stop);
    std::size_t head_end = 0;
    if (Stop stop = find_head_end(in, start, line_end, budget_end, limits, head_end))
        return std::move(*stop);
    FieldSummary sum;
    if (Stop stop = parse_field_lines(in, line_end + 2, head_end, limits, out, sum))
        return std::move(*stop);
    if (Stop stop = decide_framing(sum, start, out))
        return std::move(*stop);
    if (Stop stop = resolve_target(sum, start, out))
        return std::move(*stop);

    // RFC 9112 §9.3: HTTP/1.1 persists unless "close"; HTTP/1.0 only with
    // "keep-alive".
    out.keep_alive = !sum.close && (out.minor >= 1 || sum.keep_alive_token);
    out.upgrade = sum.upgrade_token;

    HeadResult r;
    r.status = Status::done;
    r.consumed = head_end;
    return r;
}

}  // namespace postern::http
