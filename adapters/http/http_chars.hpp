// Postern HTTP adapter, internal: the byte classes of the HTTP/1.1 grammar,
// shared by the head parser (http_codec.cpp) and the chunked decoder
// (http_chunked.cpp).
#pragma once

namespace postern::http::chars {

// RFC 9110 §5.6.2: tchar.
constexpr bool is_tchar(unsigned char c) noexcept {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    switch (c) {
        case '!':
        case '#':
        case '$':
        case '%':
        case '&':
        case '\'':
        case '*':
        case '+':
        case '-':
        case '.':
        case '^':
        case '_':
        case '`':
        case '|':
        case '~':
            return true;
        default:
            return false;
    }
}

// RFC 9110 §5.5: field-vchar = VCHAR / obs-text, plus SP and HTAB inside a
// value. Every other control byte (NUL, bare CR or LF, DEL) is refused.
constexpr bool is_field_char(unsigned char c) noexcept {
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

constexpr bool is_ows(char c) noexcept {
    return c == ' ' || c == '\t';
}

constexpr int hex_value(unsigned char c) noexcept {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

}  // namespace postern::http::chars
