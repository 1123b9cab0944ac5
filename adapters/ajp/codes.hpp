// Postern AJP adapter, internal: the AJPv13 code tables shared by the
// decoders (codec.cpp) and the encoders (codec_encode.cpp).
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace postern::ajp::codes {

// AJPv13 "Request Packet Structure": method codes 1..27, in order.
inline constexpr std::array<std::string_view, 28> kMethods = {
    "",          "OPTIONS",     "GET",
    "HEAD",      "POST",        "PUT",
    "DELETE",    "TRACE",       "PROPFIND",
    "PROPPATCH", "MKCOL",       "COPY",
    "MOVE",      "LOCK",        "UNLOCK",
    "ACL",       "REPORT",      "VERSION-CONTROL",
    "CHECKIN",   "CHECKOUT",    "UNCHECKOUT",
    "SEARCH",    "MKWORKSPACE", "UPDATE",
    "LABEL",     "MERGE",       "BASELINE-CONTROL",
    "MKACTIVITY"};
inline constexpr std::uint8_t kStoredMethod = 0xFF;

// Request header codes 0xA001..0xA00E.
inline constexpr std::array<std::string_view, 15> kRequestHeaders = {"",
                                                                     "accept",
                                                                     "accept-charset",
                                                                     "accept-encoding",
                                                                     "accept-language",
                                                                     "authorization",
                                                                     "connection",
                                                                     "content-type",
                                                                     "content-length",
                                                                     "cookie",
                                                                     "cookie2",
                                                                     "host",
                                                                     "pragma",
                                                                     "referer",
                                                                     "user-agent"};

// Response header codes 0xA001..0xA00B.
inline constexpr std::array<std::string_view, 12> kResponseHeaders = {
    "",         "content-type", "content-language", "content-length", "date",   "last-modified",
    "location", "set-cookie",   "set-cookie2",      "servlet-engine", "status", "www-authenticate"};

// Attribute codes.
enum : std::uint8_t {
    kContext = 0x01,
    kServletPath = 0x02,
    kRemoteUser = 0x03,
    kAuthType = 0x04,
    kQueryString = 0x05,
    kRoute = 0x06,
    kSslCert = 0x07,
    kSslCipher = 0x08,
    kSslSession = 0x09,
    kReqAttribute = 0x0A,
    kSslKeySize = 0x0B,
    kSecret = 0x0C,
    kStoredMethodAttr = 0x0D,
    kAreDone = 0xFF,
};

inline constexpr std::uint16_t kNullString = 0xFFFF;

}  // namespace postern::ajp::codes
