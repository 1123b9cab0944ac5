#include "http_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <charconv>
#include <stdexcept>

namespace postern::test {

namespace {

bool iequals(std::string_view a, std::string_view b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
        return std::tolower(static_cast<unsigned char>(x)) ==
               std::tolower(static_cast<unsigned char>(y));
    });
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

std::string hex(std::size_t n) {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), n, 16);
    return std::string(buf, end);
}

}  // namespace

std::optional<std::string> HttpResponse::header(std::string_view name) const {
    for (const auto& [n, v] : headers) {
        if (iequals(n, name))
            return v;
    }
    return std::nullopt;
}

HttpConnection::HttpConnection(const std::string& address, std::string host)
    : socket_(address), host_(std::move(host)) {
    // Sending is bounded too: a server that stops reading a large body
    // without closing makes send() fail after this long, not hang.
    timeval limit{};
    limit.tv_sec = 60;
    ::setsockopt(socket_.fd(), SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
}

int HttpConnection::local_port() const {
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    if (::getsockname(socket_.fd(), reinterpret_cast<sockaddr*>(&ss), &len) != 0)
        return 0;
    if (ss.ss_family == AF_INET)
        return ntohs(reinterpret_cast<const sockaddr_in&>(ss).sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(reinterpret_cast<const sockaddr_in6&>(ss).sin6_port);
    return 0;
}

bool HttpConnection::fill(Clock::time_point deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0)
        throw std::runtime_error("HTTP client: timed out");
    const std::string got = socket_.recv_some(left);
    if (got.empty()) {
        if (socket_.closed())
            return false;
        throw std::runtime_error("HTTP client: timed out waiting for the server");
    }
    buffer_ += got;
    return true;
}

std::string HttpConnection::take_line(Clock::time_point deadline) {
    for (;;) {
        const auto eol = buffer_.find("\r\n");
        if (eol != std::string::npos) {
            std::string line = buffer_.substr(0, eol);
            buffer_.erase(0, eol + 2);
            return line;
        }
        if (!fill(deadline))
            throw std::runtime_error("HTTP client: connection closed mid-line");
    }
}

std::string HttpConnection::take(std::size_t n, Clock::time_point deadline) {
    while (buffer_.size() < n) {
        if (!fill(deadline)) {
            throw std::runtime_error("HTTP client: connection closed after " +
                                     std::to_string(buffer_.size()) + " of " + std::to_string(n) +
                                     " body bytes");
        }
    }
    std::string out = buffer_.substr(0, n);
    buffer_.erase(0, n);
    return out;
}

HttpResponse HttpConnection::request(const HttpRequest& req, std::chrono::milliseconds timeout) {
    const auto start = Clock::now();
    const auto deadline = start + timeout;
    auto since_start = [&] {
        return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    };

    const std::string_view body = req.body_ref != nullptr ? *req.body_ref : req.body;
    std::string head = req.method + " " + req.target + " HTTP/1.1\r\nHost: " + host_ + "\r\n";
    for (const auto& [name, value] : req.headers)
        head += name + ": " + value + "\r\n";
    const bool chunked = req.chunk_size != 0;
    if (chunked) {
        head += "Transfer-Encoding: chunked\r\n";
    } else if (!body.empty() || (req.method != "GET" && req.method != "HEAD")) {
        head += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    }
    head += "\r\n";
    // A small request leaves in one write, so that it arrives whole: a
    // front end that looks at what has arrived (mod_proxy_http prefetching
    // a chunked body to give it a length) sees the same thing on every run.
    // A large body is written piece by piece, never copied whole.
    constexpr std::size_t kOneWrite = 64 * 1024;
    std::string out = std::move(head);
    bool sent = true;
    auto put = [&](std::string_view bytes) {
        if (out.size() + bytes.size() <= kOneWrite) {
            out.append(bytes);
            return;
        }
        sent = sent && socket_.send(out) && socket_.send(bytes);
        out.clear();
    };
    if (chunked) {
        for (std::size_t at = 0; sent && at < body.size(); at += req.chunk_size) {
            const std::string_view piece = body.substr(at, req.chunk_size);
            put(hex(piece.size()) + "\r\n");
            put(piece);
            put("\r\n");
        }
        put("0\r\n\r\n");
    } else {
        put(body);
    }
    sent = sent && socket_.send(out);
    // A server may answer and close before taking the whole body (413):
    // read what it said even when sending failed.

    HttpResponse res;
    for (;;) {  // skip 1xx interim responses
        const std::string status_line = take_line(deadline);
        const auto sp1 = status_line.find(' ');
        if (sp1 == std::string::npos || status_line.compare(0, 5, "HTTP/") != 0) {
            throw std::runtime_error("HTTP client: bad status line \"" + status_line + "\"");
        }
        res.version = status_line.substr(0, sp1);
        res.status = std::atoi(status_line.c_str() + sp1 + 1);
        res.headers.clear();
        for (;;) {
            const std::string line = take_line(deadline);
            if (line.empty())
                break;
            const auto colon = line.find(':');
            if (colon == std::string::npos) {
                throw std::runtime_error("HTTP client: bad header line \"" + line + "\"");
            }
            res.headers.emplace_back(std::string(trim(std::string_view(line).substr(0, colon))),
                                     std::string(trim(std::string_view(line).substr(colon + 1))));
        }
        if (res.status >= 200)
            break;
    }

    auto note_body_arrival = [&] {
        if (res.first_body_byte.count() < 0 && !buffer_.empty())
            res.first_body_byte = since_start();
    };
    const bool no_body = req.method == "HEAD" || res.status == 204 || res.status == 304;
    const auto te = res.header("Transfer-Encoding");
    const auto cl = res.header("Content-Length");
    if (no_body) {
        // nothing follows the head
    } else if (te && iequals(trim(*te), "chunked")) {
        res.chunked = true;
        for (;;) {
            if (buffer_.empty() && !fill(deadline)) {
                throw std::runtime_error("HTTP client: connection closed in a chunked body");
            }
            note_body_arrival();
            const std::string size_line = take_line(deadline);
            std::size_t size = 0;
            const auto digits = size_line.substr(0, size_line.find(';'));
            auto [end, ec] =
                std::from_chars(digits.data(), digits.data() + digits.size(), size, 16);
            if (ec != std::errc{} || digits.empty()) {
                throw std::runtime_error("HTTP client: bad chunk size line \"" + size_line + "\"");
            }
            if (size == 0) {
                while (!take_line(deadline).empty()) {
                }  // trailers
                break;
            }
            res.body += take(size, deadline);
            if (take_line(deadline) != "")
                throw std::runtime_error("HTTP client: chunk without CRLF");
        }
    } else if (cl) {
        const std::size_t n = std::stoull(*cl);
        while (n != 0 && buffer_.empty()) {
            if (!fill(deadline))
                throw std::runtime_error("HTTP client: connection closed before the body");
        }
        note_body_arrival();
        res.body = take(n, deadline);
    } else {
        // Delimited by the end of the connection (RFC 9112 §6.3, rule 8).
        while (fill(deadline))
            note_body_arrival();
        note_body_arrival();
        res.body = std::move(buffer_);
        buffer_.clear();
    }
    res.complete = since_start();
    if (!sent && res.status < 400) {
        throw std::runtime_error("HTTP client: the request could not be sent, yet the status was " +
                                 std::to_string(res.status));
    }
    return res;
}

HttpResponse http_request(const std::string& address, const std::string& host,
                          const HttpRequest& req, std::chrono::milliseconds timeout) {
    HttpConnection conn(address, host);
    return conn.request(req, timeout);
}

}  // namespace postern::test
