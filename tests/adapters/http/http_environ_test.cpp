// Tests adapters/http/http_environ.cpp: the CGI meta-variables of a parsed
// request, X-Forwarded-* from trusted and untrusted peers.
#include "http/http_environ.hpp"

#include <gtest/gtest.h>

#include <string>

#include "core/environ.hpp"

namespace postern::http {
namespace {

Peer tcp_peer(std::string addr = "127.0.0.1") {
    Peer p;
    p.addr = std::move(addr);
    p.port = "51234";
    p.local_addr = "127.0.0.1";
    p.local_port = "8080";
    return p;
}

Environ environ_of(const std::string& in, const Peer& peer, const AddressList& trusted = {}) {
    RequestHead head;
    HeadResult r = parse_request_head(in, HeadLimits{}, head);
    EXPECT_EQ(r.status, Status::done) << r.reason;
    return request_environ(head, peer, trusted);
}

std::string var(const Environ& env, std::string_view name) {
    const std::string* v = find_var(env, name);
    return v ? *v : "<unset>";
}

TEST(HttpEnviron, HasTheRequestVariables) {
    Environ env = environ_of(
        "POST /app/x%20y?a=1&b HTTP/1.1\r\nHost: Example.COM:9000\r\nContent-Type: text/plain\r\n"
        "Content-Length: 3\r\nX-Many: 1\r\nX-Many: 2\r\nCookie: a=1\r\nCookie: b=2\r\n"
        "Proxy: http://evil\r\nX_Under: no\r\n\r\n",
        tcp_peer());
    EXPECT_EQ(var(env, "REQUEST_METHOD"), "POST");
    EXPECT_EQ(var(env, "REQUEST_URI"), "/app/x%20y?a=1&b");
    EXPECT_EQ(var(env, "QUERY_STRING"), "a=1&b");
    EXPECT_EQ(var(env, "SERVER_PROTOCOL"), "HTTP/1.1");
    EXPECT_EQ(var(env, "SERVER_NAME"), "example.com");
    EXPECT_EQ(var(env, "SERVER_PORT"), "8080");
    EXPECT_EQ(var(env, "REMOTE_ADDR"), "127.0.0.1");
    EXPECT_EQ(var(env, "REMOTE_PORT"), "51234");
    EXPECT_EQ(var(env, "HTTPS"), "<unset>");
    EXPECT_EQ(var(env, "CONTENT_TYPE"), "text/plain");
    EXPECT_EQ(var(env, "CONTENT_LENGTH"), "3");
    EXPECT_EQ(var(env, "HTTP_X_MANY"), "1, 2");
    EXPECT_EQ(var(env, "HTTP_COOKIE"), "a=1; b=2");
    EXPECT_EQ(var(env, "HTTP_PROXY"), "<unset>");
    EXPECT_EQ(var(env, "HTTP_X_UNDER"), "<unset>");
}

TEST(HttpEnviron, PassesUpgradeOnOnlyWhenConnectionAnnouncesIt) {
    // RFC 9110 §7.8: Upgrade goes with the "upgrade" option in Connection,
    // which the adapter consumes; the pair becomes HTTP_UPGRADE alone.
    Environ env = environ_of(
        "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\n"
        "Upgrade: websocket\r\n\r\n",
        tcp_peer());
    EXPECT_EQ(var(env, "HTTP_UPGRADE"), "websocket");
    EXPECT_EQ(var(env, "HTTP_CONNECTION"), "<unset>");
    env = environ_of(
        "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\nUpgrade: websocket\r\n\r\n",
        tcp_peer());
    EXPECT_EQ(var(env, "HTTP_UPGRADE"), "<unset>");
    env = environ_of("GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n", tcp_peer());
    EXPECT_EQ(var(env, "HTTP_UPGRADE"), "<unset>");
}

TEST(HttpEnviron, ServerNameForms) {
    EXPECT_EQ(
        var(environ_of("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", tcp_peer()), "SERVER_NAME"),
        "[::1]");
    EXPECT_EQ(var(environ_of("GET / HTTP/1.0\r\n\r\n", tcp_peer()), "SERVER_NAME"), "127.0.0.1");
    Peer v6 = tcp_peer("::1");
    v6.local_addr = "::1";
    EXPECT_EQ(var(environ_of("GET / HTTP/1.0\r\n\r\n", v6), "SERVER_NAME"), "[::1]");
    Environ abs =
        environ_of("GET http://Abs.example:81 HTTP/1.1\r\nHost: other\r\n\r\n", tcp_peer());
    EXPECT_EQ(var(abs, "SERVER_NAME"), "abs.example");
    EXPECT_EQ(var(abs, "REQUEST_URI"), "/");
    EXPECT_EQ(var(abs, "SERVER_PROTOCOL"), "HTTP/1.1");
}

const std::string kForwarded =
    "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 198.51.100.1, 203.0.113.7\r\n"
    "X-Forwarded-For: 10.0.0.2\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Port: 443\r\n\r\n";

TEST(HttpEnviron, ForwardedHeadersFromAnUntrustedPeerAreOnlyHeaders) {
    Environ env =
        environ_of(kForwarded, tcp_peer("192.0.2.9"), AddressList({"127.0.0.1", "10.0.0.0/8"}));
    EXPECT_EQ(var(env, "REMOTE_ADDR"), "192.0.2.9");
    EXPECT_EQ(var(env, "HTTPS"), "<unset>");
    EXPECT_EQ(var(env, "SERVER_PORT"), "8080");
    EXPECT_EQ(var(env, "HTTP_X_FORWARDED_FOR"), "198.51.100.1, 203.0.113.7, 10.0.0.2");
}

TEST(HttpEnviron, ForwardedHeadersFromATrustedPeerAreBelieved) {
    Environ env = environ_of(kForwarded, tcp_peer(), AddressList({"127.0.0.1", "10.0.0.0/8"}));
    EXPECT_EQ(var(env, "REMOTE_ADDR"), "203.0.113.7");  // 10.0.0.2 is a trusted hop
    EXPECT_EQ(var(env, "REMOTE_PORT"), "") << "the proxy's port is not the client's";
    EXPECT_EQ(var(env, "HTTPS"), "on");
    EXPECT_EQ(var(env, "SERVER_PORT"), "443");
}

TEST(HttpEnviron, ForwardedForWalk) {
    AddressList trusted({"10.0.0.0/8", "::1"});
    EXPECT_EQ(forwarded_client("1.2.3.4", trusted), "1.2.3.4");
    EXPECT_EQ(forwarded_client("1.2.3.4, 10.1.1.1", trusted), "1.2.3.4");
    EXPECT_EQ(forwarded_client("5.6.7.8,1.2.3.4,10.1.1.1,::1", trusted), "1.2.3.4");
    EXPECT_EQ(forwarded_client("10.2.2.2, 10.1.1.1", trusted), "10.2.2.2");  // all trusted
    EXPECT_EQ(forwarded_client("2001:db8::1", trusted), "2001:db8::1");
    EXPECT_EQ(forwarded_client("1.2.3.4, garbage, 10.1.1.1", trusted), "");
    EXPECT_EQ(forwarded_client("", trusted), "");
    EXPECT_EQ(forwarded_client(" , ", trusted), "");
}

}  // namespace
}  // namespace postern::http
