#include "protocol_client.hpp"

#include <cctype>
#include <optional>
#include <stdexcept>

#include "ajp_client.hpp"
#include "fcgi_client.hpp"
#include "http1_client.hpp"
#include "scgi_client.hpp"
#include "uwsgi_client.hpp"

namespace postern::test {

namespace {

using Params = std::vector<std::pair<std::string, std::string>>;

/// "X-Thing" -> "HTTP_X_THING" (RFC 3875 §4.1.18).
std::string cgi_name(std::string_view header) {
    std::string out = "HTTP_";
    for (char c : header)
        out += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return out;
}

Params header_params(const ProtocolRequest& r) {
    Params out;
    for (const auto& [name, value] : r.headers)
        out.emplace_back(cgi_name(name), value);
    return out;
}

/// A CGI response (RFC 3875 §6) ended by the close: "Status: NNN" (SCGI)
/// or a raw HTTP/1.1 status line (uwsgi), headers, the body.
ProtocolReply read_until_close(SocketClient& c, std::chrono::milliseconds timeout,
                               std::string_view status_prefix) {
    ProtocolReply reply;
    const std::string raw = c.recv_until_close(timeout);
    reply.closed = c.closed();
    const auto end = raw.find("\r\n\r\n");
    if (raw.compare(0, status_prefix.size(), status_prefix) == 0 &&
        raw.size() >= status_prefix.size() + 3 && end != std::string::npos) {
        reply.status = std::stoi(raw.substr(status_prefix.size(), 3));
        reply.body = raw.substr(end + 4);
        reply.answered = reply.closed;
    } else if (!raw.empty()) {
        reply.error = "not a response: " + raw.substr(0, 80);
    }
    return reply;
}

}  // namespace

ProtocolClient::ProtocolClient(std::string protocol, std::string ajp_secret)
    : protocol_(std::move(protocol)), ajp_secret_(std::move(ajp_secret)) {
    if (protocol_ != "http" && protocol_ != "fastcgi" && protocol_ != "ajp" &&
        protocol_ != "scgi" && protocol_ != "uwsgi")
        throw std::invalid_argument("ProtocolClient: no such protocol " + protocol_);
}

bool ProtocolClient::keeps_connections() const {
    return protocol_ == "http" || protocol_ == "fastcgi" || protocol_ == "ajp";
}

std::string ProtocolClient::head(const ProtocolRequest& r) const {
    if (protocol_ == "http") {
        std::string text = http1::request(r.method, r.target, r.body, r.headers, r.keep);
        return text.substr(0, text.size() - r.body.size());
    }
    if (protocol_ == "fastcgi") {
        fcgi::Params params = fcgi::cgi_params(r.method, r.target);
        for (auto& [name, value] : params)
            if (name == "CONTENT_LENGTH" && !r.body.empty())
                value = std::to_string(r.body.size());
        for (const auto& p : header_params(r))
            params.push_back(p);
        return fcgi::begin_request(1, r.keep) + fcgi::params_stream(1, params);
    }
    if (protocol_ == "ajp") {
        ajp::ForwardRequest f = ajp::request(r.method, r.target, ajp_secret_, r.body.size());
        f.headers.insert(f.headers.end(), r.headers.begin(), r.headers.end());
        return ajp::forward_request(f);
    }
    if (protocol_ == "scgi")
        return scgi::netstring(
            scgi::cgi_params(r.method, r.target, r.body.size(), header_params(r)));
    return uwsgi::packet(uwsgi::cgi_params(r.method, r.target, r.body.size(), header_params(r)));
}

std::string ProtocolClient::body(const ProtocolRequest& r) const {
    if (protocol_ == "fastcgi")
        return fcgi::stdin_stream(1, r.body);
    if (protocol_ == "ajp") {
        if (r.body.size() > ajp::kMaxBodyChunk)
            throw std::invalid_argument("ProtocolClient: an AJP body of more than one packet");
        return r.body.empty() ? std::string() : ajp::body_packet(r.body);
    }
    return r.body;
}

std::string ProtocolClient::encode(const ProtocolRequest& r) const {
    return head(r) + body(r);
}

ProtocolReply ProtocolClient::read(SocketClient& c, std::chrono::milliseconds timeout) const {
    ProtocolReply reply;
    if (protocol_ == "http") {
        http1::ResponseReader reader(c);
        std::optional<http1::HttpResponse> r = reader.next(false, timeout);
        if (r) {
            reply.status = r->status;
            reply.body = r->body;
            reply.answered = r->complete;
        }
        if (!reply.answered && c.closed())
            reply.closed = true;
        else if (r && r->header("connection") == "close")
            reply.closed = c.wait_closed(timeout);
        return reply;
    }
    if (protocol_ == "fastcgi") {
        fcgi::ResponseReader reader(c);
        const fcgi::Response& r = reader.read_all(timeout);
        const fcgi::CgiResponse cgi = fcgi::parse_cgi(r.out);
        reply.answered = r.ended;
        reply.status = cgi.status;
        reply.body = cgi.body;
        reply.closed = r.connection_closed;
        reply.fcgi_protocol_status = r.ended ? r.protocol_status : -1;
        reply.error = r.error;
        return reply;
    }
    if (protocol_ == "ajp") {
        try {
            const ajp::Exchange ex = ajp::read_exchange(c, {}, false, timeout);
            reply.answered = ex.ended;
            reply.status = ex.status;
            reply.body = ex.body;
            reply.closed = ex.closed;
            reply.ajp_reuse = ex.reuse;
        } catch (const std::exception& e) {
            reply.error = e.what();
            reply.closed = c.closed();
        }
        return reply;
    }
    if (protocol_ == "scgi")
        return read_until_close(c, timeout, "Status: ");
    return read_until_close(c, timeout, "HTTP/1.1 ");
}

ProtocolReply ProtocolClient::exchange(const std::string& address, const ProtocolRequest& r,
                                       std::chrono::milliseconds timeout) const {
    SocketClient c(address);
    if (!c.send(encode(r))) {
        ProtocolReply reply;
        reply.closed = true;
        reply.error = "the gateway closed before the request was sent";
        return reply;
    }
    return read(c, timeout);
}

std::vector<std::string> pieces(std::string_view bytes, std::size_t piece) {
    if (piece == 0)
        piece = 1;
    std::vector<std::string> out;
    for (std::size_t at = 0; at < bytes.size(); at += piece)
        out.emplace_back(bytes.substr(at, piece));
    return out;
}

}  // namespace postern::test
