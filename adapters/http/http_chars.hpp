// Postern HTTP adapter, internal: the byte classes of the HTTP/1.1 grammar,
// shared by the head parser (http_codec.cpp) and the chunked decoder
// (http_chunked.cpp).
#pragma once

#include "core/text.hpp"

namespace postern::http::chars {

// RFC 9110 §5.6.2: tchar, and hex digits (core/text.hpp).
using postern::hex_value;
using postern::is_tchar;

// RFC 9110 §5.5: field-vchar = VCHAR / obs-text, plus SP and HTAB inside a
// value. Every other control byte (NUL, bare CR or LF, DEL) is refused.
constexpr bool is_field_char(unsigned char c) noexcept {
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

constexpr bool is_ows(char c) noexcept {
    return c == ' ' || c == '\t';
}

}  // namespace postern::http::chars
