// Tests the query, form and cookie parts of the toolkit through a real
// gateway on port 0 (tests/support/in_process_gateway.hpp): over HTTP/1.1
// and FastCGI (and the Set-Cookie headers over AJP, SCGI and uwsgi too), a
// callback reads req.query(), req.form() and req.cookie() and
// sets two cookies; both Set-Cookie headers must arrive, and a refused
// request must leave the gateway serving the next one.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ajp_client.hpp"
#include "fcgi_client.hpp"
#include "in_process_gateway.hpp"
#include "postern/postern.hpp"
#include "scgi_client.hpp"
#include "socket_client.hpp"
#include "uwsgi_client.hpp"

namespace postern {
namespace {

using namespace std::chrono_literals;
using test::SocketClient;
namespace wire = test::fcgi;

/// The callback under test, at /app/kit: one line per query pair ("q"),
/// form pair ("f", on POST) and the cookies "sid" and "last"; it sets two
/// cookies.
bool kit(Request& req, Response& res) {
    if (req.path_info() != "/kit")
        return false;
    std::string out;
    for (const auto& [k, v] : req.query())
        out += "q " + k + "=" + v + "\n";
    if (req.method() == "POST")
        for (const auto& [k, v] : req.form())
            out += "f " + k + "=" + v + "\n";
    for (const char* name : {"sid", "last"})
        if (auto value = req.cookie(name))
            out += "c " + std::string(name) + "=" + std::string(*value) + "\n";
    res.set_cookie({.name = "sid",
                    .value = "new",
                    .path = "/",
                    .http_only = true,
                    .same_site = SameSite::lax});
    res.set_cookie({.name = "theme", .value = "dark", .max_age = 60});
    res.header("Content-Type", "text/plain");
    res.write(out);
    return true;
}

/// One HTTP/1.1 response with its headers in order, repeats kept (the
/// shared http1::ResponseReader refuses a repeated header, and two
/// Set-Cookie headers are the point here). Content-Length framing only.
struct RawResponse {
    int status = 0;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;

    std::vector<std::string> all(std::string_view name) const {
        std::vector<std::string> out;
        for (const auto& [k, v] : headers)
            if (k.size() == name.size() &&
                std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) {
                    return std::tolower(static_cast<unsigned char>(a)) ==
                           std::tolower(static_cast<unsigned char>(b));
                }))
                out.push_back(v);
        return out;
    }
};

class RawReader {
  public:
    explicit RawReader(SocketClient& client) : client_(client) {}

    std::optional<RawResponse> next() {
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        std::size_t end;
        while ((end = buffer_.find("\r\n\r\n")) == std::string::npos)
            if (!fill(deadline))
                return std::nullopt;
        RawResponse r;
        const std::string head = buffer_.substr(0, end);
        buffer_.erase(0, end + 4);
        if (head.compare(0, 9, "HTTP/1.1 ") != 0)
            return std::nullopt;
        r.status = std::stoi(head.substr(9, 3));
        for (std::size_t at = head.find("\r\n"); at != std::string::npos;) {
            const std::size_t next = head.find("\r\n", at + 2);
            const std::string line =
                head.substr(at + 2, next == std::string::npos ? std::string::npos : next - at - 2);
            const std::size_t colon = line.find(':');
            if (colon == std::string::npos)
                return std::nullopt;
            std::string value = line.substr(colon + 1);
            value.erase(0, value.find_first_not_of(' '));
            r.headers.emplace_back(line.substr(0, colon), value);
            at = next;
        }
        const auto cl = r.all("Content-Length");
        if (cl.size() != 1)
            return std::nullopt;
        const std::size_t n = std::stoul(cl[0]);
        while (buffer_.size() < n)
            if (!fill(deadline))
                return std::nullopt;
        r.body = buffer_.substr(0, n);
        buffer_.erase(0, n);
        return r;
    }

  private:
    bool fill(std::chrono::steady_clock::time_point deadline) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0 || client_.closed())
            return false;
        const std::string got = client_.recv_some(left);
        buffer_ += got;
        return !got.empty();
    }

    SocketClient& client_;
    std::string buffer_;
};

std::string http_request(std::string_view method, std::string_view target,
                         std::vector<std::string> headers = {}, std::string_view body = {}) {
    std::string out =
        std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: test.example\r\n";
    for (const auto& h : headers)
        out += h + "\r\n";
    if (!body.empty() || method == "POST")
        out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    out += "\r\n";
    out += body;
    return out;
}

std::vector<std::string> set_cookies_of(const std::vector<std::pair<std::string, std::string>>& h) {
    std::vector<std::string> out;
    for (const auto& [name, value] : h)
        if (name == "Set-Cookie")
            out.push_back(value);
    return out;
}

const std::vector<std::string> kTwoCookies = {"sid=new; Path=/; HttpOnly; SameSite=Lax",
                                              "theme=dark; Max-Age=60"};

class ToolkitThroughAGateway : public testing::Test {
  protected:
    void SetUp() override {
        gateway_.app().extra = kit;
        gateway_.start();
    }

    /// A good request on `client` is answered in full.
    void expect_good(SocketClient& client, RawReader& reader) {
        ASSERT_TRUE(client.send(http_request("GET", "/app/kit?ok=1")));
        const auto r = reader.next();
        ASSERT_TRUE(r.has_value());
        EXPECT_EQ(r->status, 200);
        EXPECT_EQ(r->body, "q ok=1\n");
    }

    test::InProcessGateway gateway_{{"http", "fastcgi", "ajp", "scgi", "uwsgi"}};
};

TEST_F(ToolkitThroughAGateway, QueryFormAndCookiesReachTheCallbackAndBothCookiesComeBack) {
    SocketClient client = gateway_.connect("http");
    RawReader reader(client);
    ASSERT_TRUE(
        client.send(http_request("POST", "/app/kit?a=1&b=x+y&a=%C3%A9",
                                 {"Content-Type: application/x-www-form-urlencoded; charset=UTF-8",
                                  "Cookie: sid=abc; theme=\"light\"", "Cookie: last=\"quoted\""},
                                 "name=J%C3%B6rg&empty=&tag=a&tag=b")));
    const auto r = reader.next();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body,
              "q a=1\nq b=x y\nq a=\xc3\xa9\n"
              "f name=J\xc3\xb6rg\nf empty=\nf tag=a\nf tag=b\n"
              "c sid=abc\nc last=quoted\n");
    EXPECT_EQ(r->all("Set-Cookie"), kTwoCookies);
    expect_good(client, reader);
}

TEST_F(ToolkitThroughAGateway, BadQueriesAndFormsAreRefusedAndTheNextRequestIsServed) {
    // 10,000 pairs in 40 KB: under the gateway's 64 KiB request line.
    std::string many;
    for (int i = 0; i < 10'000; ++i)
        many += "k=1&";
    struct Case {
        std::string request;
        int status;
    };
    const std::vector<Case> cases = {
        {http_request("GET", "/app/kit?a=%zz"), 400},
        {http_request("GET", "/app/kit?a=%4"), 400},
        {http_request("GET", "/app/kit?a=1&b=%"), 400},
        {http_request("GET", "/app/kit?" + many), 400},
        {http_request("POST", "/app/kit", {"Content-Type: text/plain"}, "a=1"), 415},
        {http_request("POST", "/app/kit", {"Content-Type: application/x-www-form-urlencoded"},
                      "a=%zz"),
         400},
        {http_request("POST", "/app/kit", {"Content-Type: application/x-www-form-urlencoded"},
                      "a=" + std::string(Request::kMaxFormBytes, 'x')),
         413},
    };
    // On one connection: each refusal leaves it in step for the next, except
    // a 413 refused before the body was read, which the HTTP adapter ends
    // with "Connection: close" (it will not read the rest); the next
    // request then goes on a new connection to the same gateway.
    auto client = std::make_unique<SocketClient>(gateway_.connect("http"));
    auto reader = std::make_unique<RawReader>(*client);
    for (const Case& c : cases) {
        ASSERT_TRUE(client->send(c.request)) << c.request.substr(0, 60);
        const auto r = reader->next();
        ASSERT_TRUE(r.has_value()) << c.request.substr(0, 60);
        EXPECT_EQ(r->status, c.status) << c.request.substr(0, 60);
        EXPECT_TRUE(r->all("Set-Cookie").empty()) << "an error page carries no cookie";
        if (r->all("Connection") == std::vector<std::string>{"close"}) {
            EXPECT_EQ(c.status, 413) << "only the unread body ends the connection";
            EXPECT_TRUE(client->wait_closed());
            reader.reset();
            client = std::make_unique<SocketClient>(gateway_.connect("http"));
            reader = std::make_unique<RawReader>(*client);
        }
        expect_good(*client, *reader);
    }
}

TEST_F(ToolkitThroughAGateway, AnEightKibCookieHeaderIsRead) {
    std::string cookies;
    for (int i = 0; cookies.size() < 8 * 1024; ++i)
        cookies += "c" + std::to_string(i) + "=" + std::string(40, 'v') + "; junk; ";
    cookies += "last=found";
    SocketClient client = gateway_.connect("http");
    RawReader reader(client);
    ASSERT_TRUE(client.send(http_request("GET", "/app/kit", {"Cookie: " + cookies})));
    const auto r = reader.next();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "c last=found\n");
    expect_good(client, reader);
}

TEST_F(ToolkitThroughAGateway, TwoSetCookieHeadersSurviveFastCgi) {
    wire::Request request;
    request.params = wire::cgi_params("POST", "/app/kit?a=1");
    for (auto& [name, value] : request.params) {
        if (name == "CONTENT_TYPE")
            value = "application/x-www-form-urlencoded";
        if (name == "CONTENT_LENGTH")
            value = "3";
    }
    request.params.emplace_back("HTTP_COOKIE", "sid=abc; last=1");
    request.body = "f=2";
    SocketClient client = gateway_.connect("fastcgi");
    const wire::Response out = wire::round_trip(client, request);
    ASSERT_TRUE(out.ended) << out.error;
    const wire::CgiResponse cgi = wire::parse_cgi(out.out);
    ASSERT_TRUE(cgi.complete);
    EXPECT_EQ(cgi.status, 200);
    EXPECT_EQ(cgi.body, "q a=1\nf f=2\nc sid=abc\nc last=1\n");
    EXPECT_EQ(set_cookies_of(cgi.headers), kTwoCookies) << "none merged by the CGI head";

    // A malformed query over FastCGI: 400, and the gateway serves the next.
    wire::Request bad;
    bad.params = wire::cgi_params("GET", "/app/kit?a=%zz");
    SocketClient c2 = gateway_.connect("fastcgi");
    const wire::Response refused = wire::round_trip(c2, bad);
    EXPECT_EQ(wire::parse_cgi(refused.out).status, 400);
    wire::Request good;
    good.params = wire::cgi_params("GET", "/app/kit?ok=1");
    SocketClient c3 = gateway_.connect("fastcgi");
    EXPECT_EQ(wire::parse_cgi(wire::round_trip(c3, good).out).body, "q ok=1\n");
}

TEST_F(ToolkitThroughAGateway, TwoSetCookieHeadersSurviveScgiAndUwsgi) {
    const std::vector<std::pair<std::string, std::string>> cookie = {{"HTTP_COOKIE", "sid=abc"}};
    {
        // SCGI answers with a CGI response ended by the close (RFC 3875 §6).
        SocketClient client = gateway_.connect("scgi");
        ASSERT_TRUE(client.send(test::scgi::request("GET", "/app/kit?a=1", {}, cookie)));
        const wire::CgiResponse cgi = wire::parse_cgi(client.recv_until_close());
        ASSERT_TRUE(cgi.complete);
        EXPECT_EQ(cgi.status, 200);
        EXPECT_EQ(cgi.body, "q a=1\nc sid=abc\n");
        EXPECT_EQ(set_cookies_of(cgi.headers), kTwoCookies);
    }
    {
        // uwsgi answers with an HTTP/1.1 response, as nginx's module expects.
        SocketClient client = gateway_.connect("uwsgi");
        ASSERT_TRUE(client.send(test::uwsgi::request("GET", "/app/kit?a=1", {}, cookie)));
        RawReader reader(client);
        const auto r = reader.next();
        ASSERT_TRUE(r.has_value());
        EXPECT_EQ(r->status, 200);
        EXPECT_EQ(r->body, "q a=1\nc sid=abc\n");
        EXPECT_EQ(r->all("Set-Cookie"), kTwoCookies);
    }
}

TEST_F(ToolkitThroughAGateway, TwoSetCookieHeadersSurviveAjp) {
    test::ajp::ForwardRequest request = test::ajp::request("GET", "/app/kit?a=1", "s3cret");
    request.headers.emplace_back("cookie", "sid=abc");
    SocketClient client = gateway_.connect("ajp");
    ASSERT_TRUE(client.send(test::ajp::forward_request(request)));
    const test::ajp::Exchange ex = test::ajp::read_exchange(client);
    ASSERT_TRUE(ex.ended);
    EXPECT_EQ(ex.status, 200);
    EXPECT_EQ(ex.body, "q a=1\nc sid=abc\n");
    EXPECT_EQ(set_cookies_of(ex.headers), kTwoCookies);
}

}  // namespace
}  // namespace postern
