#include "scgi_client.hpp"

namespace postern::test::scgi {

std::string netstring(const Params& params) {
    std::string block;
    for (const auto& [name, value] : params) {
        block += name;
        block += '\0';
        block += value;
        block += '\0';
    }
    return std::to_string(block.size()) + ":" + block + ",";
}

Params cgi_params(std::string_view method, std::string_view uri, std::size_t body_size,
                  const Params& extra) {
    Params p = {{"CONTENT_LENGTH", std::to_string(body_size)},
                {"SCGI", "1"},
                {"REQUEST_METHOD", std::string(method)},
                {"REQUEST_URI", std::string(uri)},
                {"SERVER_PROTOCOL", "HTTP/1.1"},
                {"SERVER_NAME", "example.org"},
                {"SERVER_PORT", "80"},
                {"REMOTE_ADDR", "192.0.2.1"},
                {"REMOTE_PORT", "51234"}};
    p.insert(p.end(), extra.begin(), extra.end());
    return p;
}

std::string request(std::string_view method, std::string_view uri, std::string_view body,
                    const Params& extra) {
    return netstring(cgi_params(method, uri, body.size(), extra)) + std::string(body);
}

}  // namespace postern::test::scgi
