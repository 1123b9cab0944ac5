// Integration tests of the SCGI and uwsgi adapters: the example modules served
// by the real `postern` executable behind the real nginx (scgi_pass,
// uwsgi_pass; TCP and unix sockets) and Apache httpd (mod_proxy_scgi,
// mod_proxy_uwsgi), each configured by the snippet from nginx-conf/ or
// apache-conf/ rendered as shipped; plus what reaches the ports without a
// front end (bad headers, another modifier1, bytes after the body).
//
// The gateway, nginx and Apache are a Stack (stack_suite.hpp) of the
// topologies these tests need: TCP and unix sockets, a CGI site per module,
// a FastCGI site of each front end to compare with.
#include <gtest/gtest.h>

#include <Poco/JSON/Parser.h>

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "echo_reply.hpp"
#include "example_checks.hpp"
#include "http_client.hpp"
#include "process.hpp"
#include "scgi/codec.hpp"
#include "socket_client.hpp"
#include "stack.hpp"
#include "stack_suite.hpp"
#include "uwsgi/codec.hpp"

namespace postern::test {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;

/// The topologies under test: nginx and Apache over SCGI and uwsgi, TCP and
/// unix sockets.
const std::vector<Topology>& scgi_uwsgi_topologies() {
    static const std::vector<Topology> list{
        {"nginx_scgi_tcp", FrontEnd::nginx, "scgi", false, "postern-scgi.conf"},
        {"nginx_scgi_unix", FrontEnd::nginx, "scgi", true, "postern-scgi.conf"},
        {"nginx_uwsgi_tcp", FrontEnd::nginx, "uwsgi", false, "postern-uwsgi.conf"},
        {"nginx_uwsgi_unix", FrontEnd::nginx, "uwsgi", true, "postern-uwsgi.conf"},
        {"apache_scgi_tcp", FrontEnd::apache, "scgi", false, "postern-proxy-scgi.conf"},
        {"apache_scgi_unix", FrontEnd::apache, "scgi", true, "postern-proxy-scgi.conf"},
        {"apache_uwsgi_tcp", FrontEnd::apache, "uwsgi", false, "postern-proxy-uwsgi.conf"},
        {"apache_uwsgi_unix", FrontEnd::apache, "uwsgi", true, "postern-proxy-uwsgi.conf"},
    };
    return list;
}

/// The FastCGI snippets, to compare with.
const Topology kNginxFastCgi{"nginx_fastcgi", FrontEnd::nginx, "fastcgi", false,
                             "postern-fastcgi.conf"};
const Topology kApacheFastCgi{"apache_fastcgi", FrontEnd::apache, "fastcgi", false,
                              "postern-proxy-fcgi.conf"};

class ScgiUwsgiFrontEnds : public StackSuite<ScgiUwsgiFrontEnds> {
  public:
    static std::unique_ptr<Stack> make_stack() {
        std::vector<Topology> list = scgi_uwsgi_topologies();
        list.push_back(kNginxFastCgi);
        list.push_back(kApacheFastCgi);
        return std::make_unique<Stack>(std::move(list));
    }

  protected:
    bool apache() const { return GetParam().front_end == FrontEnd::apache; }
    /// The FastCGI topology of the same front end, for comparisons.
    std::string fastcgi_address() const {
        return endpoint_of(apache() ? kApacheFastCgi.name : kNginxFastCgi.name).address;
    }
};

TEST_P(ScgiUwsgiFrontEnds, Hello) {
    examples::expect_hello(endpoint_.address, 5);
}

TEST_P(ScgiUwsgiFrontEnds, Doc) {
    examples::expect_doc(endpoint_.address);
}

TEST_P(ScgiUwsgiFrontEnds, Head) {
    examples::expect_head_then_get(endpoint_.address);
}

TEST_P(ScgiUwsgiFrontEnds, EchoIsTheSameAsThroughFastCgi) {
    HttpRequest req;
    req.target = "/app/x/a%20b?a=1&b=%20two";
    req.headers = {{"X-Custom", "hello there"}, {"Accept", "text/plain"}, {"Proxy", "evil:1"}};
    const EchoReply r = echo(req);
    const EchoReply f(http_request(fastcgi_address(), fastcgi_address(), req).body);
    EXPECT_EQ(r.str("protocol"), GetParam().protocol);
    for (const char* key : examples::kSameEverywhere)
        EXPECT_EQ(r.str(key), f.str(key)) << key;
    EXPECT_EQ(r.str("path_info"), "/x/a b");
    EXPECT_EQ(r.env("REQUEST_URI").value_or(""), "/app/x/a%20b?a=1&b=%20two");
    EXPECT_EQ(r.str("server_port"), std::to_string(endpoint_.port));
    EXPECT_EQ(r.header("x-custom").value_or(""), "hello there");
    EXPECT_EQ(r.header("accept").value_or(""), "text/plain");
    // httpoxy: a client's Proxy header never becomes HTTP_PROXY.
    EXPECT_FALSE(r.env("HTTP_PROXY").has_value());
    EXPECT_FALSE(r.env("SCGI").has_value()) << "the protocol's own variable";
    EXPECT_TRUE(r.env("REMOTE_PORT").has_value() && !r.env("REMOTE_PORT")->empty());
}

TEST_P(ScgiUwsgiFrontEnds, EncodedSlashes) {
    for (const char* target : {"/app/a%2Fb", "/app/x?b=%2F"}) {
        HttpRequest req;
        req.target = target;
        const HttpResponse res = send(req);
        if (apache() && std::string(GetParam().protocol) == "uwsgi") {
            // Apache 2.4.71's mod_proxy_uwsgi decodes the URL itself and
            // gives up on %2F anywhere in it, path or query, whatever
            // AllowEncodedSlashes and nocanon say: "AH10100: unable to
            // decode uwsgi uri", 500, and nothing reaches the gateway
            // (documented in apache-conf/postern-proxy-uwsgi.conf).
            EXPECT_EQ(res.status, 500) << target;
            continue;
        }
        ASSERT_EQ(res.status, 200) << target << ": " << res.body;
        const EchoReply r(res.body);
        EXPECT_EQ(r.env("REQUEST_URI").value_or(""), target);
        if (std::string(target) == "/app/a%2Fb") {
            EXPECT_EQ(r.str("path_info"), "/a/b");
        }
    }
}

TEST_P(ScgiUwsgiFrontEnds, RepeatedHeadersAreJoined) {
    // nginx 1.22 sends each copy as its own variable (SCGI forbids duplicate
    // names; Postern joins repeated HTTP_* ones, as for FastCGI params).
    HttpRequest req;
    req.target = "/app/rep";
    req.headers = {{"X-Rep", "a"}, {"X-Rep", "b"}, {"Cookie", "c=1"}, {"Cookie", "d=2"}};
    const EchoReply r = echo(req);
    EXPECT_EQ(r.header("x-rep").value_or(""), "a, b");
    // A genuine front-end difference, documented rather than hidden: Apache
    // merges repeated request headers itself, Cookie included, with ", "
    // before any module sees them (so mod_proxy_fcgi sends the same);
    // nginx 1.22 sends the copies apart and Postern joins cookies with "; ".
    EXPECT_EQ(r.env("HTTP_COOKIE").value_or(""), apache() ? "c=1, d=2" : "c=1; d=2");
}

TEST_P(ScgiUwsgiFrontEnds, Bodies) {
    for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{65'536},
                             std::size_t{1} << 20, std::size_t{32} << 20}) {
        const std::string& body = payload(size);
        const EchoReply r = echo(examples::upload("/app/upload", body));
        EXPECT_EQ(r.body_length(), size) << size;
        EXPECT_EQ(r.str("body_sha256"), sha256_hex(body)) << size;
        EXPECT_EQ(r.env("CONTENT_LENGTH").value_or("0"), std::to_string(size));
    }
}

TEST_P(ScgiUwsgiFrontEnds, ChunkedUploads) {
    for (const char* target : {"/app/chunked", "/stream/echo/chunked"}) {
        for (std::size_t size : {std::size_t{1}, std::size_t{100'000}, std::size_t{3} << 20}) {
            const std::string& body = payload(size);
            const HttpResponse res = send(examples::upload(target, body, 65'536));
            if (apache()) {
                // mod_proxy_scgi and mod_proxy_uwsgi refuse a body without a
                // length themselves (documented in the snippets); nothing
                // reaches the gateway.
                EXPECT_EQ(res.status, 411) << target << " " << size;
                continue;
            }
            // nginx reads a chunked body whole first, even with request
            // buffering off, and sends it with its length.
            ASSERT_EQ(res.status, 200) << target << " " << size << ": " << res.body;
            const EchoReply r(res.body);
            EXPECT_EQ(r.body_length(), size);
            EXPECT_EQ(r.str("body_sha256"), sha256_hex(body));
        }
    }
}

/// The request matrix of issue 5, each request sent through the topology and
/// through the same front end's FastCGI snippet: what the callback sees must
/// be the same apart from `protocol` (and the front end's documented
/// refusals: mod_proxy_uwsgi and %2F).
struct MatrixCase {
    std::string name;
    HttpRequest req;
};

std::vector<MatrixCase> matrix() {
    std::vector<MatrixCase> m;
    auto add = [&m](std::string name, std::string method, std::string target, Headers headers = {},
                    std::string body = {}) {
        HttpRequest r;
        r.method = std::move(method);
        r.target = std::move(target);
        r.headers = std::move(headers);
        r.body = std::move(body);
        m.push_back({std::move(name), std::move(r)});
    };
    for (const char* method : {"GET", "DELETE", "OPTIONS"})
        add(std::string("method ") + method, method, "/app/m");
    for (const char* method : {"POST", "PUT", "PATCH"})
        add(std::string("method ") + method, method, "/app/m", {}, "abc");
    add("space", "GET", "/app/a%20b");
    add("encoded slash", "GET", "/app/a%2Fb?c=%2F");
    add("utf-8", "GET", "/app/caf%C3%A9/%E2%82%AC");
    add("mount", "GET", "/app");
    add("mount slash", "GET", "/app/");
    add("8 KB query", "GET", "/app/q?x=" + std::string(8000, 'a'));
    Headers many;
    for (int i = 0; i < 100; ++i)
        many.emplace_back("X-H-" + std::to_string(i), "v" + std::to_string(i));
    add("100 headers", "GET", "/app/h", many);
    add("6 KB header", "GET", "/app/h", {{"X-Big", std::string(6 * 1024, 'b')}});
    add("repeated headers", "GET", "/app/h", {{"X-Rep", "a"}, {"X-Rep", "b"}});
    for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{1} << 20})
        add("body " + std::to_string(size), "POST", "/app/b",
            {{"Content-Type", "application/octet-stream"}}, payload(size));
    return m;
}

std::string json_member(const std::string& json, const std::string& key) {
    Poco::JSON::Parser parser;
    const auto root = parser.parse(json).extract<Poco::JSON::Object::Ptr>();
    std::ostringstream out;
    Poco::Dynamic::Var v = root->get(key);
    if (v.type() == typeid(Poco::JSON::Object::Ptr))
        v.extract<Poco::JSON::Object::Ptr>()->stringify(out);
    else
        out << v.toString();
    return out.str();
}

/// The echo's request headers without Host (the front ends' own ports
/// differ), as JSON text; without a content-length of "0" when
/// `drop_zero_length`.
std::string headers_of(const std::string& json, bool drop_zero_length) {
    Poco::JSON::Parser parser;
    const auto root = parser.parse(json).extract<Poco::JSON::Object::Ptr>();
    auto headers = root->getObject("headers");
    headers->remove("host");
    if (drop_zero_length && headers->has("content-length") &&
        headers->getValue<std::string>("content-length") == "0")
        headers->remove("content-length");
    std::ostringstream out;
    headers->stringify(out);
    return out.str();
}

/// The echo's answers `got` and `want` agree on what the callback saw of
/// the request and its body.
void expect_same_fields(const std::string& got, const std::string& want) {
    for (const char* key : examples::kSameEverywhere)
        EXPECT_EQ(json_member(got, key), json_member(want, key)) << key;
    for (const char* key : {"https", "body_length", "body_sha256"})
        EXPECT_EQ(json_member(got, key), json_member(want, key)) << key;
}

TEST_P(ScgiUwsgiFrontEnds, MatrixIsTheSameAsThroughFastCgi) {
    const bool scgi = std::string(GetParam().protocol) == "scgi";
    const bool refuses_encoded_slash = apache() && !scgi;
    for (const auto& c : matrix()) {
        SCOPED_TRACE(c.name);
        const HttpResponse got = send(c.req);
        if (refuses_encoded_slash && c.req.target.find("%2F") != std::string::npos) {
            EXPECT_EQ(got.status, 500);  // see EncodedSlashes
            continue;
        }
        const HttpResponse want = http_request(fastcgi_address(), fastcgi_address(), c.req, 60s);
        ASSERT_EQ(got.status, want.status) << got.body.substr(0, 200);
        if (apache() && c.name == "100 headers") {
            // Apache's own limit (LimitRequestFields, 100 by default) counts
            // Host too: Apache answers 400 itself, whatever the module.
            EXPECT_EQ(got.status, 400);
            continue;
        }
        ASSERT_EQ(got.status, 200) << got.body.substr(0, 200);
        expect_same_fields(got.body, want.body);
        // A documented difference: SCGI requires CONTENT_LENGTH on every
        // request, so a request without a body shows "content-length: 0"
        // where FastCGI (nginx `if_not_empty`, Apache) has none. RFC 3875
        // §4.1.2 makes the two equivalent.
        const bool want_length =
            headers_of(want.body, false).find("\"content-length\"") != std::string::npos;
        if (scgi && !want_length) {
            EXPECT_NE(headers_of(got.body, false).find("\"content-length\":\"0\""),
                      std::string::npos);
        }
        EXPECT_EQ(headers_of(got.body, scgi && !want_length), headers_of(want.body, false));
        EXPECT_EQ(json_member(got.body, "protocol"), GetParam().protocol);
    }
}

TEST_P(ScgiUwsgiFrontEnds, StreamReachesTheClientBeforeItEnds) {
    examples::expect_stream_reaches_the_client_before_it_ends(endpoint_.address);
}

TEST_P(ScgiUwsgiFrontEnds, LargeDownloads) {
    // Bigger than the response buffer: streamed without a length, ended by
    // the gateway closing the connection (SCGI and uwsgi have no other way).
    for (std::size_t size : {std::size_t{100'000}, std::size_t{20} << 20}) {
        const auto res = get("/f/big?bytes=" + std::to_string(size));
        EXPECT_EQ(res.status, 200);
        EXPECT_EQ(res.body.size(), size);
    }
}

TEST_P(ScgiUwsgiFrontEnds, ThrowIs500AndTheGatewayGoesOn) {
    EXPECT_EQ(get("/f/throw").status, 500);
    EXPECT_EQ(get("/f/nothing-here").status, 404);
    EXPECT_EQ(get("/hello").body, "Hello, world!\n");
}

INSTANTIATE_TEST_SUITE_P(FrontEnds, ScgiUwsgiFrontEnds,
                         ::testing::ValuesIn(scgi_uwsgi_topologies()),
                         [](const auto& info) { return std::string(info.param.name); });

// ---------------------------------------------------------------- no front end

/// A gateway spoken to straight at its SCGI and uwsgi ports (and nginx's
/// SCGI snippet, for the good request after).
class ScgiUwsgiPorts : public GatewaySuite<ScgiUwsgiPorts> {
  public:
    static std::unique_ptr<Stack> make_stack() {
        return std::make_unique<Stack>(std::vector<Topology>{scgi_uwsgi_topologies().front()});
    }

  protected:
    static std::string scgi() { return gateway().address("scgi", false); }
    static std::string uwsgi() { return gateway().address("uwsgi", false); }
};

TEST_F(ScgiUwsgiPorts, BadRequestsStraightToThePortsAreRefused) {
    struct Case {
        std::string address;
        std::string bytes;
        const char* expect;  // the start of the answer
    };
    const std::vector<Case> cases = {
        {scgi(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "Status: 400 "},
        {scgi(), "07:CONTENT_LENGTH\0000\0,"s, "Status: 400 "},
        {scgi(), "99999999:", "Status: 431 "},
        {uwsgi(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 400 "},
        {uwsgi(), uwsgi::encode_request({{"REQUEST_URI", "/hello"}}, 5), "HTTP/1.1 400 "},
    };
    for (const auto& c : cases) {
        SocketClient client(c.address);
        client.send(c.bytes);
        const std::string answer = client.recv_until_close(10s);
        EXPECT_EQ(answer.rfind(c.expect, 0), 0u) << answer;
    }
    HttpRequest hello;
    hello.target = "/hello";
    EXPECT_EQ(http_request(endpoint_of("nginx_scgi_tcp").address, "x", hello).body,
              "Hello, world!\n");
}

TEST_F(ScgiUwsgiPorts, BytesAfterTheBodyAreNeverANextRequest) {
    const std::vector<std::pair<std::string, std::string>> vars = {
        {"REQUEST_METHOD", "POST"}, {"REQUEST_URI", "/app/x"}, {"SERVER_PROTOCOL", "HTTP/1.1"}};
    auto scgi_vars = vars;
    scgi_vars.insert(scgi_vars.begin(), {{"CONTENT_LENGTH", "3"}, {"SCGI", "1"}});
    auto uwsgi_vars = vars;
    uwsgi_vars.emplace_back("CONTENT_LENGTH", "3");
    const std::string next = scgi::encode_request({{"CONTENT_LENGTH", "0"}, {"SCGI", "1"}});
    for (const auto& [address, head] : {std::pair{scgi(), scgi::encode_request(scgi_vars)},
                                        std::pair{uwsgi(), uwsgi::encode_request(uwsgi_vars)}}) {
        SocketClient client(address);
        client.send(head + "abc" + next);
        const std::string answer = client.recv_until_close(10s);
        EXPECT_NE(answer.find(" 400 "), std::string::npos) << answer;
        EXPECT_EQ(answer.find("200"), std::string::npos) << answer;
    }
}

// ---------------------------------------------------------------- CGI

/// The CGI build (postern-cgi) under Apache mod_cgid, one module per
/// ScriptAlias (apache-conf/postern-cgi.conf rendered per module), and
/// mod_proxy_fcgi to compare with.
class CgiFrontEnd : public GatewaySuite<CgiFrontEnd> {
  public:
    static std::unique_ptr<Stack> make_stack() {
        const auto cgi = [](const char* name, const char* mount) {
            return Topology{name, FrontEnd::apache, "cgi", false, "postern-cgi.conf", nullptr,
                            mount};
        };
        return std::make_unique<Stack>(std::vector<Topology>{
            cgi("cgi_app", "/app=echo"), cgi("cgi_hello", "/hello=hello"),
            cgi("cgi_f", "/f=faults"), cgi("cgi_stream", "/stream=stream"), kApacheFastCgi});
    }

  protected:
    static HttpResponse at(const std::string& site, const HttpRequest& req) {
        const std::string a = endpoint_of(site).address;
        return http_request(a, a, req, 60s);
    }
    static HttpResponse get_at(const std::string& site, const std::string& target) {
        HttpRequest req;
        req.target = target;
        return at(site, req);
    }
};

TEST_F(CgiFrontEnd, Hello) {
    examples::expect_hello(endpoint_of("cgi_hello").address);
    examples::expect_head_then_get(endpoint_of("cgi_hello").address);
}

TEST_F(CgiFrontEnd, EchoIsTheSameAsThroughFastCgi) {
    HttpRequest req;
    req.target = "/app/x/a%20b?a=1&b=%20two";
    req.headers = {{"X-Custom", "hello there"}, {"Proxy", "evil:1"}};
    const auto res = at("cgi_app", req);
    ASSERT_EQ(res.status, 200) << res.body;
    const EchoReply r(res.body);
    const std::string f_address = endpoint_of(kApacheFastCgi.name).address;
    const EchoReply f(http_request(f_address, f_address, req).body);
    EXPECT_EQ(r.str("protocol"), "cgi");
    for (const char* key : examples::kSameEverywhere)
        EXPECT_EQ(r.str(key), f.str(key)) << key;
    EXPECT_EQ(r.str("path_info"), "/x/a b");
    EXPECT_EQ(r.env("REQUEST_URI").value_or(""), "/app/x/a%20b?a=1&b=%20two");
    EXPECT_EQ(r.header("x-custom").value_or(""), "hello there");
    EXPECT_FALSE(r.env("HTTP_PROXY").has_value()) << "httpoxy";
    EXPECT_FALSE(r.env("POSTERN_MODULE").has_value()) << "the program's setting";
    EXPECT_FALSE(r.env("PATH").has_value());
}

TEST_F(CgiFrontEnd, MatrixIsTheSameAsThroughFastCgi) {
    const std::string f_address = endpoint_of(kApacheFastCgi.name).address;
    for (const auto& c : matrix()) {
        SCOPED_TRACE(c.name);
        const HttpResponse got = at("cgi_app", c.req);
        const HttpResponse want = http_request(f_address, f_address, c.req, 60s);
        ASSERT_EQ(got.status, want.status) << got.body.substr(0, 200);
        if (c.name == "100 headers") {
            EXPECT_EQ(got.status, 400);  // Apache's LimitRequestFields, as above
            continue;
        }
        ASSERT_EQ(got.status, 200) << got.body.substr(0, 200);
        expect_same_fields(got.body, want.body);
        EXPECT_EQ(headers_of(got.body, false), headers_of(want.body, false));
        EXPECT_EQ(json_member(got.body, "protocol"), "cgi");
    }
}

TEST_F(CgiFrontEnd, Bodies) {
    for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{1} << 20}) {
        const std::string& body = payload(size);
        const auto res = at("cgi_app", examples::upload("/app/upload", body));
        ASSERT_EQ(res.status, 200) << size << ": " << res.body;
        const EchoReply r(res.body);
        EXPECT_EQ(r.body_length(), size);
        EXPECT_EQ(r.str("body_sha256"), sha256_hex(body));
    }
}

TEST_F(CgiFrontEnd, ChunkedUpload) {
    const std::string& body = payload(100'000);
    const auto res = at("cgi_app", examples::upload("/app/chunked", body, 16'384));
    ASSERT_EQ(res.status, 200) << res.body;
    const EchoReply r(res.body);
    EXPECT_EQ(r.body_length(), body.size());
    EXPECT_EQ(r.str("body_sha256"), sha256_hex(body));
}

TEST_F(CgiFrontEnd, ThrowIs500) {
    EXPECT_EQ(get_at("cgi_f", "/f/throw").status, 500);
}

TEST_F(CgiFrontEnd, StreamReachesTheClientBeforeItEnds) {
    examples::expect_stream_reaches_the_client_before_it_ends(endpoint_of("cgi_stream").address);
}

}  // namespace
}  // namespace postern::test
