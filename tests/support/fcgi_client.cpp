#include "fcgi_client.hpp"

#include <algorithm>
#include <cctype>

namespace postern::test::fcgi {

std::string record(std::uint8_t type, std::uint16_t request_id, std::string_view content,
                   std::uint8_t padding, std::uint8_t version) {
    std::string out;
    out.reserve(8 + content.size() + padding);
    out += static_cast<char>(version);
    out += static_cast<char>(type);
    out += static_cast<char>(request_id >> 8);
    out += static_cast<char>(request_id & 0xff);
    out += static_cast<char>((content.size() >> 8) & 0xff);
    out += static_cast<char>(content.size() & 0xff);
    out += static_cast<char>(padding);
    out += '\0';
    out += content;
    out.append(padding, '\0');
    return out;
}

std::string begin_request(std::uint16_t request_id, bool keep_conn, std::uint16_t role) {
    // FCGI_BeginRequestBody (§5.1): role, flags, 5 reserved bytes.
    const char body[8] = {static_cast<char>(role >> 8),
                          static_cast<char>(role & 0xff),
                          static_cast<char>(keep_conn ? fastcgi::kKeepConn : 0),
                          0,
                          0,
                          0,
                          0,
                          0};
    std::string out;
    fastcgi::append_record(out, kBeginRequest, request_id, std::string_view(body, sizeof(body)));
    return out;
}

namespace {

std::string stream(std::uint8_t type, std::uint16_t request_id, std::string_view data,
                   std::size_t record_size) {
    record_size = std::clamp<std::size_t>(record_size, 1, kMaxContent);
    std::string out;
    out.reserve(data.size() + (data.size() / record_size + 2) * 8);
    while (!data.empty()) {
        const std::size_t n = std::min(record_size, data.size());
        fastcgi::append_record(out, type, request_id, data.substr(0, n));
        data.remove_prefix(n);
    }
    fastcgi::append_record(out, type, request_id, "");
    return out;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

}  // namespace

std::string name_value(std::string_view name, std::string_view value) {
    std::string out;
    fastcgi::append_name_value(out, name, value);
    return out;
}

std::string params_stream(std::uint16_t request_id, const Params& params) {
    std::string pairs;
    for (const auto& [name, value] : params)
        pairs += name_value(name, value);
    return stream(kParams, request_id, pairs, kMaxContent);
}

std::string stdin_stream(std::uint16_t request_id, std::string_view body, std::size_t record_size) {
    return stream(kStdin, request_id, body, record_size);
}

Params cgi_params(std::string_view method, std::string_view uri) {
    const auto q = uri.find('?');
    return {
        {"QUERY_STRING", std::string(q == std::string_view::npos ? "" : uri.substr(q + 1))},
        {"REQUEST_METHOD", std::string(method)},
        {"CONTENT_TYPE", ""},
        {"CONTENT_LENGTH", ""},
        {"SCRIPT_NAME", std::string(uri.substr(0, q))},
        {"REQUEST_URI", std::string(uri)},
        {"DOCUMENT_URI", std::string(uri.substr(0, q))},
        {"SERVER_PROTOCOL", "HTTP/1.1"},
        {"REQUEST_SCHEME", "http"},
        {"GATEWAY_INTERFACE", "CGI/1.1"},
        {"SERVER_SOFTWARE", "nginx/1.22.1"},
        {"REMOTE_ADDR", "192.0.2.7"},
        {"REMOTE_PORT", "50123"},
        {"SERVER_ADDR", "127.0.0.1"},
        {"SERVER_PORT", "80"},
        {"SERVER_NAME", "example.test"},
        {"HTTP_HOST", "example.test"},
    };
}

std::string encode(const Request& request) {
    return begin_request(request.id, request.keep_conn) +
           params_stream(request.id, request.params) + stdin_stream(request.id, request.body);
}

Decoded decode_record(std::string_view bytes) {
    Decoded d;
    if (bytes.size() < fastcgi::kHeaderLength)
        return d;
    const auto* b = reinterpret_cast<const unsigned char*>(bytes.data());
    d.record.version = b[0];
    d.record.type = b[1];
    d.record.request_id = static_cast<std::uint16_t>((b[2] << 8) | b[3]);
    const std::size_t length = (std::size_t{b[4]} << 8) | b[5];
    const std::size_t padding = b[6];
    if (d.record.version != fastcgi::kVersion1) {
        d.status = Decoded::Status::error;
        d.error = "record version " + std::to_string(d.record.version);
        return d;
    }
    if (bytes.size() < fastcgi::kHeaderLength + length + padding)
        return d;
    d.record.content.assign(bytes.substr(fastcgi::kHeaderLength, length));
    d.consumed = fastcgi::kHeaderLength + length + padding;
    d.status = Decoded::Status::done;
    return d;
}

std::optional<std::string> CgiResponse::header(std::string_view name) const {
    for (const auto& [k, v] : headers)
        if (iequals(k, name))
            return v;
    return std::nullopt;
}

CgiResponse parse_cgi(std::string_view out) {
    CgiResponse r;
    const auto end = out.find("\r\n\r\n");
    if (end == std::string_view::npos)
        return r;
    r.complete = true;
    std::string_view head = out.substr(0, end + 2);
    r.body.assign(out.substr(end + 4));
    while (!head.empty()) {
        const auto eol = head.find("\r\n");
        const std::string_view line = head.substr(0, eol);
        head.remove_prefix(eol + 2);
        const auto colon = line.find(':');
        if (colon == std::string_view::npos)
            continue;
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ')
            value.remove_prefix(1);
        r.headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
    }
    if (auto status = r.header("Status"); status && status->size() >= 3)
        r.status = std::stoi(status->substr(0, 3));
    return r;
}

void ResponseReader::take(const Record& r) {
    if (r.request_id != id_) {
        others_.push_back(r);
        return;
    }
    switch (r.type) {
        case kStdout:
            if (r.content.empty())
                response_.out_closed = true;
            else
                response_.out += r.content;
            break;
        case kStderr:
            response_.err += r.content;
            break;
        case kEndRequest:
            response_.ended = true;
            if (r.content.size() >= 5) {
                const auto* b = reinterpret_cast<const unsigned char*>(r.content.data());
                response_.app_status = (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) |
                                       (std::uint32_t{b[2]} << 8) | b[3];
                response_.protocol_status = b[4];
            }
            break;
        default:
            others_.push_back(r);
            break;
    }
}

bool ResponseReader::read_until(const std::function<bool(const Response&)>& done,
                                std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        // Decode what is buffered first.
        for (;;) {
            Decoded d = decode_record(pending_);
            if (d.status == Decoded::Status::error) {
                response_.error = d.error;
                return done(response_);
            }
            if (d.status == Decoded::Status::need_more)
                break;
            pending_.erase(0, d.consumed);
            take(d.record);
        }
        if (done(response_) || response_.ended || !response_.error.empty())
            return done(response_);
        if (client_.closed()) {
            response_.connection_closed = true;
            return done(response_);
        }
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0)
            return done(response_);
        pending_ += client_.recv_some(left);
        if (client_.closed())
            response_.connection_closed = true;
    }
}

const Response& ResponseReader::read_all(std::chrono::milliseconds timeout) {
    read_until([](const Response& r) { return r.ended; }, timeout);
    return response_;
}

Response round_trip(SocketClient& client, const Request& request,
                    std::chrono::milliseconds timeout) {
    if (!client.send(encode(request))) {
        Response r;
        r.connection_closed = true;
        return r;
    }
    ResponseReader reader(client, request.id);
    return reader.read_all(timeout);
}

}  // namespace postern::test::fcgi
