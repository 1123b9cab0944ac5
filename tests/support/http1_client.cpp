#include "http1_client.hpp"

#include <cctype>

namespace postern::test::http1 {

namespace {

std::string lowercase(std::string s) {
    for (char& c : s)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

}  // namespace

std::string request(std::string_view method, std::string_view target, std::string_view body,
                    const Headers& headers, bool keep_alive) {
    std::string out = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\n";
    out += "Host: test.example\r\n";
    for (const auto& [name, value] : headers)
        out += name + ": " + value + "\r\n";
    if (!body.empty() || method == "POST")
        out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    if (!keep_alive)
        out += "Connection: close\r\n";
    out += "\r\n";
    out += body;
    return out;
}

std::optional<std::string> HttpResponse::header(const std::string& name) const {
    auto it = headers.find(name);
    if (it == headers.end())
        return std::nullopt;
    return it->second;
}

std::optional<HttpResponse> ResponseReader::next(bool head_request,
                                                 std::chrono::milliseconds timeout) {
    deadline_ = std::chrono::steady_clock::now() + timeout;
    std::size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos)
        if (!fill())
            return std::nullopt;
    HttpResponse r;
    std::string head = buffer_.substr(0, end);
    buffer_.erase(0, end + 4);
    std::size_t eol = head.find("\r\n");
    r.status_line = head.substr(0, eol);
    if (r.status_line.size() < 12 || r.status_line.compare(0, 9, "HTTP/1.1 ") != 0)
        return std::nullopt;
    r.status = std::stoi(r.status_line.substr(9, 3));
    while (eol != std::string::npos) {
        std::size_t start = eol + 2;
        eol = head.find("\r\n", start);
        std::string line =
            head.substr(start, eol == std::string::npos ? std::string::npos : eol - start);
        std::size_t colon = line.find(':');
        if (colon == std::string::npos)
            return std::nullopt;
        std::string value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(' '));
        std::string name = lowercase(line.substr(0, colon));
        if (r.headers.count(name))
            return std::nullopt;  // the adapter never repeats one here
        r.headers[name] = value;
    }
    if (head_request || r.status < 200 || r.status == 204 || r.status == 304) {
        r.complete = true;
        return r;
    }
    if (auto cl = r.header("content-length")) {
        std::size_t n = std::stoul(*cl);
        while (buffer_.size() < n)
            if (!fill())
                return r;
        r.body = buffer_.substr(0, n);
        buffer_.erase(0, n);
        r.complete = true;
    } else if (r.header("transfer-encoding") == "chunked") {
        for (;;) {
            std::size_t line_end;
            while ((line_end = buffer_.find("\r\n")) == std::string::npos)
                if (!fill())
                    return r;
            std::size_t size = std::stoul(buffer_.substr(0, line_end), nullptr, 16);
            while (buffer_.size() < line_end + 2 + size + 2)
                if (!fill())
                    return r;
            r.body += buffer_.substr(line_end + 2, size);
            if (buffer_.compare(line_end + 2 + size, 2, "\r\n") != 0)
                return r;
            buffer_.erase(0, line_end + 2 + size + 2);
            if (size == 0)
                break;
        }
        r.complete = true;
    } else {
        while (fill()) {
        }
        r.body = std::move(buffer_);
        buffer_.clear();
    }
    return r;
}

bool ResponseReader::fill() {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline_ - std::chrono::steady_clock::now());
    if (left.count() <= 0 || client_.closed())
        return false;
    std::string got = client_.recv_some(left);
    if (got.empty())
        return false;
    buffer_ += got;
    return true;
}

}  // namespace postern::test::http1
