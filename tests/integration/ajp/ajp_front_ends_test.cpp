// Integration tests of the AJP13 adapter: the example modules served by the
// real `postern` executable behind the real Apache httpd, once through
// mod_jk (apache-conf/postern-mod-jk.conf + postern-workers.properties) and
// once through mod_proxy_ajp (apache-conf/postern-proxy-ajp.conf), rendered
// as shipped; plus what reaches the AJP port without a front end (no
// secret, bad magic, an oversized packet).
//
// The gateway and Apache are a Stack (stack_suite.hpp) of these sites: both
// snippets, mod_proxy_ajp with a wrong secret, and mod_proxy_fcgi to compare
// with.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ajp_client.hpp"
#include "echo_reply.hpp"
#include "example_checks.hpp"
#include "http_client.hpp"
#include "process.hpp"
#include "socket_client.hpp"
#include "stack.hpp"
#include "stack_suite.hpp"

namespace postern::test {
namespace {

using namespace std::chrono_literals;

const Topology kModJk{"mod_jk", FrontEnd::apache, "ajp", false, "postern-mod-jk.conf"};
const Topology kModProxyAjp{"mod_proxy_ajp", FrontEnd::apache, "ajp", false,
                            "postern-proxy-ajp.conf"};
const Topology kWrongSecret{"wrong_secret", FrontEnd::apache,         "ajp",
                            false,          "postern-proxy-ajp.conf", "not-the-secret"};
const Topology kFastCgi{"fastcgi", FrontEnd::apache, "fastcgi", false, "postern-proxy-fcgi.conf"};

class AjpFrontEnds : public StackSuite<AjpFrontEnds> {
  public:
    static std::unique_ptr<Stack> make_stack() {
        return std::make_unique<Stack>(
            std::vector<Topology>{kModJk, kModProxyAjp, kWrongSecret, kFastCgi});
    }

  protected:
    static std::string ajp_address() { return gateway().address("ajp", false); }
};

TEST_P(AjpFrontEnds, Hello) {
    // Through mod_jk this also proves CPING: ping_mode=A sends one before
    // every request, and a missing CPONG would be a 503.
    examples::expect_hello(endpoint_.address, 5);
}

TEST_P(AjpFrontEnds, Doc) {
    examples::expect_doc(endpoint_.address);
}

TEST_P(AjpFrontEnds, Head) {
    examples::expect_head_then_get(endpoint_.address);
}

TEST_P(AjpFrontEnds, EchoIsTheSameAsThroughFastCgi) {
    HttpRequest req;
    req.target = "/app/x/a%20b?a=1&b=%20two";
    req.headers = {{"X-Custom", "hello there"}, {"Accept", "text/plain"}};
    const EchoReply r = echo(req);
    const std::string fastcgi = endpoint_of(kFastCgi.name).address;
    const EchoReply f(http_request(fastcgi, fastcgi, req).body);
    EXPECT_EQ(r.str("protocol"), "ajp");
    for (const char* key : examples::kSameEverywhere)
        EXPECT_EQ(r.str(key), f.str(key)) << key;
    EXPECT_EQ(r.str("path_info"), "/x/a b");
    EXPECT_EQ(r.env("REQUEST_URI").value_or(""), "/app/x/a%20b?a=1&b=%20two");
    EXPECT_EQ(r.str("server_port"), std::to_string(endpoint_.port));
    EXPECT_EQ(r.https(), f.https());
    EXPECT_EQ(r.header("x-custom").value_or(""), "hello there");
    EXPECT_EQ(r.header("accept").value_or(""), "text/plain");
    EXPECT_TRUE(r.env("REMOTE_PORT").has_value() && !r.env("REMOTE_PORT")->empty());
    for (const char* hidden : {"AJP_ATTR_JK_LB_ACTIVATION", "AJP_ATTR_AJP_LOCAL_ADDR"})
        EXPECT_FALSE(r.env(hidden).has_value()) << hidden << " is not allow-listed";
    EXPECT_EQ(r.text().find(Stack::ajp_secret()), std::string::npos)
        << "the secret reached the callback";
}

TEST_P(AjpFrontEnds, Bodies) {
    for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{8191}, std::size_t{8192},
                             std::size_t{8193}, std::size_t{1} << 20, std::size_t{32} << 20}) {
        const std::string& body = payload(size);
        const EchoReply r = echo(examples::upload("/app/upload", body));
        EXPECT_EQ(r.body_length(), size) << size;
        EXPECT_EQ(r.str("body_sha256"), sha256_hex(body)) << size;
        EXPECT_EQ(r.env("CONTENT_LENGTH").value_or("<unset>"), std::to_string(size));
    }
}

TEST_P(AjpFrontEnds, ChunkedUploads) {
    for (std::size_t size : {std::size_t{1}, std::size_t{100'000}, std::size_t{3} << 20}) {
        const std::string& body = payload(size);
        const EchoReply r = echo(examples::upload("/app/chunked", body, 65'536));
        EXPECT_EQ(r.body_length(), size);
        EXPECT_EQ(r.str("body_sha256"), sha256_hex(body));
    }
}

TEST_P(AjpFrontEnds, StreamReachesTheClientBeforeItEnds) {
    examples::expect_stream_reaches_the_client_before_it_ends(endpoint_.address);
}

TEST_P(AjpFrontEnds, ThrowIs500AndTheGatewayGoesOn) {
    EXPECT_EQ(get("/f/throw").status, 500);
    EXPECT_EQ(get("/hello").body, "Hello, world!\n");
}

TEST_P(AjpFrontEnds, BadPacketsStraightToThePortAreRefused) {
    const std::vector<std::string> bad = {
        "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        std::string("\x12\x34\xff\xff", 4) + std::string(0xFFFF, 'x'),
    };
    for (const auto& bytes : bad) {
        SocketClient c(ajp_address());
        c.send(bytes);
        EXPECT_TRUE(c.wait_closed(5s));
    }
    EXPECT_EQ(get("/hello").body, "Hello, world!\n");
}

INSTANTIATE_TEST_SUITE_P(Apache, AjpFrontEnds, ::testing::Values(kModJk, kModProxyAjp),
                         [](const auto& info) { return std::string(info.param.name); });

// ---------------------------------------------------------------- the secret

class AjpSecret : public AjpFrontEnds {};

TEST_P(AjpSecret, WrongSecretFromTheFrontEndIs403) {
    const auto res = get("/hello");
    EXPECT_EQ(res.status, 403);
    EXPECT_EQ(res.body.find("Hello"), std::string::npos);
}

TEST_P(AjpSecret, MissingSecretStraightToThePortIs403) {
    SocketClient c(ajp_address());
    c.send(ajp::forward_request(ajp::request("GET", "/hello", std::nullopt)));
    const ajp::Exchange refused = ajp::read_exchange(c);
    EXPECT_EQ(refused.status, 403);
    EXPECT_TRUE(refused.ended);
    EXPECT_FALSE(refused.reuse) << "reuse=0";
    EXPECT_TRUE(c.wait_closed(5s));
    EXPECT_NE(read_file(gateway().log_path()).find("without the secret"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Apache, AjpSecret, ::testing::Values(kWrongSecret),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace postern::test
