#include "ajp_client.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <stdexcept>

#include "ajp/codes.hpp"

namespace postern::test::ajp {

namespace {

// Request header codes 0xA001..0xA00E: the adapter's own table.
using postern::ajp::codes::kRequestHeaders;
using postern::ajp::codes::kStoredMethod;
// Response header codes 0xA001..0xA00B.
constexpr std::array<const char*, 12> kResponseHeaders = {
    "",         "Content-Type", "Content-Language", "Content-Length", "Date",   "Last-Modified",
    "Location", "Set-Cookie",   "Set-Cookie2",      "Servlet-Engine", "Status", "WWW-Authenticate"};
// Method codes 1..7 (the common ones; any other is sent as stored method).
constexpr std::array<std::string_view, 8> kMethods = {"",     "OPTIONS", "GET",    "HEAD",
                                                      "POST", "PUT",     "DELETE", "TRACE"};
constexpr char kQueryString = 0x05;
constexpr char kReqAttribute = 0x0A;
constexpr char kSecret = 0x0C;
constexpr char kStoredMethodAttribute = 0x0D;
constexpr char kAreDone = static_cast<char>(0xFF);

void put_u16(std::string& out, std::size_t n) {
    if (n > 0xffff)
        throw std::length_error("AJP field longer than 65535");
    out += static_cast<char>((n >> 8) & 0xff);
    out += static_cast<char>(n & 0xff);
}

void put_string(std::string& out, std::string_view s) {
    if (s.size() >= 0xffff)
        throw std::length_error("AJP string longer than 65534 bytes");
    put_u16(out, s.size());
    out += s;
    out += '\0';
}

std::string packet(std::string_view payload) {
    std::string out = "\x12\x34";
    put_u16(out, payload.size());
    out += payload;
    return out;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

}  // namespace

ForwardRequest request(std::string_view method, std::string_view target,
                       std::optional<std::string> secret, std::size_t body_size) {
    ForwardRequest r;
    r.method = std::string(method);
    const auto q = target.find('?');
    r.uri = std::string(target.substr(0, q));
    if (q != std::string_view::npos)
        r.query_string = std::string(target.substr(q + 1));
    r.secret = std::move(secret);
    if (body_size > 0 || method == "POST")
        r.headers.emplace_back("content-length", std::to_string(body_size));
    return r;
}

std::string forward_request(const ForwardRequest& r) {
    std::string p;
    p += '\x02';  // JK_AJP13_FORWARD_REQUEST
    std::uint8_t code = kStoredMethod;
    for (std::size_t i = 1; i < kMethods.size(); ++i)
        if (r.method == kMethods[i])
            code = static_cast<std::uint8_t>(i);
    p += static_cast<char>(code);
    put_string(p, r.protocol);
    put_string(p, r.uri);
    put_string(p, r.remote_addr);
    put_u16(p, 0xffff);  // remote_host: null, as both front ends send it
    put_string(p, r.server_name);
    put_u16(p, r.server_port);
    p += static_cast<char>(r.is_ssl ? 1 : 0);
    put_u16(p, r.headers.size());
    for (const auto& [name, value] : r.headers) {
        std::size_t header_code = 0;
        for (std::size_t i = 1; i < kRequestHeaders.size(); ++i)
            if (iequals(name, kRequestHeaders[i]))
                header_code = 0xA000 + i;
        if (header_code != 0)
            put_u16(p, header_code);
        else
            put_string(p, name);
        put_string(p, value);
    }
    if (r.query_string) {
        p += kQueryString;
        put_string(p, *r.query_string);
    }
    if (r.secret) {
        p += kSecret;
        put_string(p, *r.secret);
    }
    if (code == kStoredMethod) {
        p += kStoredMethodAttribute;
        put_string(p, r.method);
    }
    for (const auto& [name, value] : r.attributes) {
        p += kReqAttribute;
        put_string(p, name);
        put_string(p, value);
    }
    p += kAreDone;
    return packet(p);
}

std::string body_packet(std::string_view data) {
    std::string p;
    put_u16(p, data.size());
    p += data;
    return packet(p);
}

std::deque<std::string> body_packets(std::string_view body, bool with_end, const std::string& end) {
    std::deque<std::string> out;
    for (std::size_t at = 0; at < body.size(); at += kMaxBodyChunk)
        out.push_back(body_packet(body.substr(at, kMaxBodyChunk)));
    if (with_end)
        out.push_back(end);
    return out;
}

std::string Exchange::header(const std::string& name) const {
    for (const auto& [k, v] : headers)
        if (k == name)
            return v;
    return {};
}

Exchange read_exchange(SocketClient& c, std::deque<std::string> body_packets, bool until_cpong,
                       std::chrono::milliseconds timeout) {
    Exchange ex;
    std::string buf;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto need = [&](std::size_t n) {
        while (buf.size() < n) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0)
                throw std::runtime_error("timed out waiting for the gateway");
            std::string more = c.recv_some(std::min(left, std::chrono::milliseconds(1000)));
            if (more.empty() && c.closed())
                return false;
            buf += more;
        }
        return true;
    };
    auto u16 = [](const std::string& s, std::size_t at) {
        return (static_cast<unsigned>(static_cast<unsigned char>(s.at(at))) << 8) |
               static_cast<unsigned char>(s.at(at + 1));
    };
    auto str = [&](const std::string& p, std::size_t& at) {
        const unsigned n = u16(p, at);
        std::string s = p.substr(at + 2, n);
        at += 2 + n + 1;
        return s;
    };
    for (;;) {
        if (!need(4)) {
            ex.closed = true;
            return ex;
        }
        if (buf[0] != 'A' || buf[1] != 'B')
            throw std::runtime_error("bad magic from the gateway");
        const std::size_t len = u16(buf, 2);
        if (!need(4 + len)) {
            ex.closed = true;
            return ex;
        }
        const std::string p = buf.substr(4, len);
        buf.erase(0, 4 + len);
        switch (p.at(0)) {
            case 4: {  // SEND_HEADERS
                std::size_t at = 1;
                ex.status = static_cast<int>(u16(p, at));
                at += 2;
                ex.reason = str(p, at);
                const unsigned n = u16(p, at);
                at += 2;
                for (unsigned i = 0; i < n; ++i) {
                    std::string name;
                    if (static_cast<unsigned char>(p.at(at)) == 0xA0) {
                        const unsigned code = static_cast<unsigned char>(p.at(at + 1));
                        if (code == 0 || code >= kResponseHeaders.size())
                            throw std::runtime_error("unknown response header code");
                        name = kResponseHeaders[code];
                        at += 2;
                    } else {
                        name = str(p, at);
                    }
                    ex.headers.emplace_back(name, str(p, at));
                }
                break;
            }
            case 3: {  // SEND_BODY_CHUNK
                std::size_t at = 1;
                std::string data = str(p, at);
                ex.chunks.push_back(data);
                ex.body += data;
                break;
            }
            case 6: {  // GET_BODY_CHUNK
                ++ex.body_requests;
                if (body_packets.empty())
                    throw std::runtime_error("gateway asked for more body than there is");
                c.send(body_packets.front());
                body_packets.pop_front();
                break;
            }
            case 5:  // END_RESPONSE
                ex.ended = true;
                ex.reuse = p.at(1) == 1;
                if (!buf.empty())
                    throw std::runtime_error("bytes after END_RESPONSE");
                return ex;
            case 9:  // CPONG
                ex.cpong = true;
                if (until_cpong)
                    return ex;
                break;
            default:
                throw std::runtime_error("unknown packet type from the gateway");
        }
    }
}

}  // namespace postern::test::ajp
