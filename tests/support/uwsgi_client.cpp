#include "uwsgi_client.hpp"

#include <stdexcept>

namespace postern::test::uwsgi {

namespace {

void put_u16le(std::string& out, std::size_t n) {
    if (n > 0xffff)
        throw std::length_error("uwsgi field longer than 65535 bytes");
    out += static_cast<char>(n & 0xff);
    out += static_cast<char>((n >> 8) & 0xff);
}

}  // namespace

std::string packet(const Params& params, std::uint8_t modifier1, std::uint8_t modifier2) {
    std::string block;
    for (const auto& [key, value] : params) {
        put_u16le(block, key.size());
        block += key;
        put_u16le(block, value.size());
        block += value;
    }
    std::string out;
    out += static_cast<char>(modifier1);
    put_u16le(out, block.size());
    out += static_cast<char>(modifier2);
    return out + block;
}

Params cgi_params(std::string_view method, std::string_view uri, std::size_t body_size,
                  const Params& extra) {
    Params p = {{"REQUEST_METHOD", std::string(method)},
                {"REQUEST_URI", std::string(uri)},
                {"SERVER_PROTOCOL", "HTTP/1.1"},
                {"SERVER_NAME", "example.org"},
                {"SERVER_PORT", "80"},
                {"REMOTE_ADDR", "192.0.2.1"}};
    if (body_size > 0)
        p.emplace_back("CONTENT_LENGTH", std::to_string(body_size));
    p.insert(p.end(), extra.begin(), extra.end());
    return p;
}

std::string request(std::string_view method, std::string_view uri, std::string_view body,
                    const Params& extra) {
    return packet(cgi_params(method, uri, body.size(), extra)) + std::string(body);
}

}  // namespace postern::test::uwsgi
