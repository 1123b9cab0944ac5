// Integration tests of the AJP13 adapter: the example modules served by the
// real `postern` executable behind the real Apache httpd, once through
// mod_jk (apache-conf/postern-mod-jk.conf + postern-workers.properties) and
// once through mod_proxy_ajp (apache-conf/postern-proxy-ajp.conf), rendered
// as shipped; plus what reaches the AJP port without a front end (no
// secret, bad magic, an oversized packet).
//
// The gateway and Apache are stack.hpp's Gateway and Apache (which loads the
// modules the snippets need); the fixture starts them with the sites these
// tests need (a wrong secret, a FastCGI site to compare with).
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ajp/codec.hpp"
#include "echo_reply.hpp"
#include "http_client.hpp"
#include "process.hpp"
#include "socket_client.hpp"
#include "stack.hpp"

namespace postern::test {
namespace {

using namespace std::chrono_literals;

constexpr const char* kSecret = "it-s3cret-0123456789";

std::string loopback(int port) {
    return "127.0.0.1:" + std::to_string(port);
}

struct Front {
    const char* name;  // the site
};

void PrintTo(const Front& f, std::ostream* os) {
    *os << f.name;
}

class AjpFrontEnds : public ::testing::TestWithParam<Front> {
  protected:
    static void SetUpTestSuite() {
        try {
            dir_ = new TempDir("postern-ajp-it");
            Gateway::Config config;
            config.mounts = {"/app=echo",      "/hello=hello",      "/doc=doc",
                             "/stream=stream", "/stream/echo=echo", "/f=faults"};
            config.env = {"POSTERN_DOC="};
            config.protocols = {"fastcgi", "http", "ajp"};
            config.ajp_secret = kSecret;
            gateway_ = new Gateway(*dir_, "gateway", config);
            ajp_port_ = gateway_->port("ajp");
            const std::string d = dir_->path() + "/apache";
            const std::string workers = dir_->file("workers.properties");
            write_file(workers,
                       render_template(source_dir() + "/apache-conf/postern-workers.properties",
                                       {{"POSTERN_AJP_HOST", "127.0.0.1"},
                                        {"POSTERN_AJP_PORT", std::to_string(ajp_port_)},
                                        {"AJP_SECRET", kSecret}}));
            const std::string ajp_url = "ajp://" + loopback(ajp_port_);
            apache_ = new Apache(
                *dir_, {{"mod_jk",
                         "postern-mod-jk.conf",
                         {{"JK_WORKERS_FILE", workers},
                          {"JK_SHM_FILE", d + "/jk.shm"},
                          {"JK_LOG_FILE", d + "/mod_jk.log"}}},
                        {"mod_proxy_ajp",
                         "postern-proxy-ajp.conf",
                         {{"POSTERN_AJP", ajp_url}, {"AJP_SECRET", kSecret}}},
                        {"wrong_secret",
                         "postern-proxy-ajp.conf",
                         {{"POSTERN_AJP", ajp_url}, {"AJP_SECRET", "not-the-secret"}}},
                        {"fastcgi",
                         "postern-proxy-fcgi.conf",
                         {{"POSTERN_FASTCGI", "fcgi://" + gateway_->address("fastcgi", false)}}}});
        } catch (const std::exception& e) {
            startup_error_ = e.what();
        }
    }

    static void TearDownTestSuite() {
        if (apache_ != nullptr)
            apache_->stop();
        if (gateway_ != nullptr) {
            const int status = gateway_->stop();
            EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
                << "postern " << describe_wait_status(status) << " on SIGTERM";
            if (failed_) {
                std::fprintf(stderr, "==== postern log\n%s",
                             tail_file(gateway_->log_path(), 40).c_str());
                if (apache_ != nullptr)
                    std::fprintf(stderr, "==== Apache error log\n%s",
                                 tail_file(apache_->error_log(), 40).c_str());
            }
        }
        delete apache_;
        apache_ = nullptr;
        delete gateway_;
        gateway_ = nullptr;
        delete dir_;
        dir_ = nullptr;
    }

    void SetUp() override {
        ASSERT_NE(apache_, nullptr) << "the stack did not start: " << startup_error_;
        port_ = apache_->port(GetParam().name);
    }
    void TearDown() override {
        if (HasFailure())
            failed_ = true;
    }

    std::string address() const { return loopback(port_); }
    HttpResponse send(const HttpRequest& req, std::chrono::milliseconds timeout = 60s) {
        return http_request(address(), address(), req, timeout);
    }
    HttpResponse get(const std::string& target) {
        HttpRequest req;
        req.target = target;
        return send(req);
    }
    EchoReply echo(const HttpRequest& req) {
        const HttpResponse res = send(req);
        if (res.status != 200)
            throw std::runtime_error("echo answered " + std::to_string(res.status) + ": " +
                                     res.body.substr(0, 300));
        return EchoReply(res.body);
    }
    static std::string ajp_address() { return loopback(ajp_port_); }

    static TempDir* dir_;
    static Gateway* gateway_;
    static Apache* apache_;
    static int ajp_port_;
    static std::string startup_error_;
    static bool failed_;
    int port_ = 0;
};

TempDir* AjpFrontEnds::dir_ = nullptr;
Gateway* AjpFrontEnds::gateway_ = nullptr;
Apache* AjpFrontEnds::apache_ = nullptr;
int AjpFrontEnds::ajp_port_ = 0;
std::string AjpFrontEnds::startup_error_;
bool AjpFrontEnds::failed_ = false;

TEST_P(AjpFrontEnds, Hello) {
    // Through mod_jk this also proves CPING: ping_mode=A sends one before
    // every request, and a missing CPONG would be a 503.
    for (int i = 0; i < 5; ++i) {
        const auto res = get("/hello");
        EXPECT_EQ(res.status, 200);
        EXPECT_EQ(res.body, "Hello, world!\n");
        EXPECT_EQ(res.header("Content-Type").value_or(""), "text/plain");
    }
}

TEST_P(AjpFrontEnds, Doc) {
    const std::string file = read_file(source_dir() + "/examples/doc/index.html");
    const auto res = get("/doc");
    EXPECT_EQ(res.status, 200);
    EXPECT_EQ(res.header("Content-Type").value_or(""), "text/html");
    EXPECT_TRUE(res.body == file);
}

TEST_P(AjpFrontEnds, Head) {
    HttpRequest req;
    req.method = "HEAD";
    req.target = "/hello";
    HttpConnection conn(address(), address());
    const auto res = conn.request(req);
    EXPECT_EQ(res.status, 200);
    EXPECT_EQ(res.body, "");
    req.method = "GET";
    EXPECT_EQ(conn.request(req).body, "Hello, world!\n");
}

TEST_P(AjpFrontEnds, EchoIsTheSameAsThroughFastCgi) {
    HttpRequest req;
    req.target = "/app/x/a%20b?a=1&b=%20two";
    req.headers = {{"X-Custom", "hello there"}, {"Accept", "text/plain"}};
    const EchoReply r = echo(req);
    const EchoReply f(
        http_request(loopback(apache_->port("fastcgi")), loopback(apache_->port("fastcgi")), req)
            .body);
    EXPECT_EQ(r.str("protocol"), "ajp");
    for (const char* key : {"method", "script_name", "path_info", "query_string", "server_protocol",
                            "server_name", "remote_addr", "content_type"})
        EXPECT_EQ(r.str(key), f.str(key)) << key;
    EXPECT_EQ(r.str("path_info"), "/x/a b");
    EXPECT_EQ(r.env("REQUEST_URI").value_or(""), "/app/x/a%20b?a=1&b=%20two");
    EXPECT_EQ(r.str("server_port"), std::to_string(port_));
    EXPECT_EQ(r.https(), f.https());
    EXPECT_EQ(r.header("x-custom").value_or(""), "hello there");
    EXPECT_EQ(r.header("accept").value_or(""), "text/plain");
    EXPECT_TRUE(r.env("REMOTE_PORT").has_value() && !r.env("REMOTE_PORT")->empty());
    for (const char* hidden : {"AJP_ATTR_JK_LB_ACTIVATION", "AJP_ATTR_AJP_LOCAL_ADDR"})
        EXPECT_FALSE(r.env(hidden).has_value()) << hidden << " is not allow-listed";
    EXPECT_EQ(r.text().find(kSecret), std::string::npos) << "the secret reached the callback";
}

TEST_P(AjpFrontEnds, Bodies) {
    for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{8191}, std::size_t{8192},
                             std::size_t{8193}, std::size_t{1} << 20, std::size_t{32} << 20}) {
        const std::string& body = payload(size);
        HttpRequest req;
        req.method = "POST";
        req.target = "/app/upload";
        req.headers = {{"Content-Type", "application/octet-stream"}};
        req.body = body;
        const EchoReply r = echo(req);
        EXPECT_EQ(r.body_length(), size) << size;
        EXPECT_EQ(r.str("body_sha256"), sha256_hex(body)) << size;
        EXPECT_EQ(r.env("CONTENT_LENGTH").value_or("<unset>"), std::to_string(size));
    }
}

TEST_P(AjpFrontEnds, ChunkedUploads) {
    for (std::size_t size : {std::size_t{1}, std::size_t{100'000}, std::size_t{3} << 20}) {
        const std::string& body = payload(size);
        HttpRequest req;
        req.method = "PUT";
        req.target = "/app/chunked";
        req.body = body;
        req.chunk_size = 65'536;
        const EchoReply r = echo(req);
        EXPECT_EQ(r.body_length(), size);
        EXPECT_EQ(r.str("body_sha256"), sha256_hex(body));
    }
}

TEST_P(AjpFrontEnds, StreamReachesTheClientBeforeItEnds) {
    HttpRequest req;
    req.target = "/stream?chunks=3&bytes=10&delay_ms=500";
    const auto res = send(req, 20s);
    EXPECT_EQ(res.status, 200);
    EXPECT_EQ(res.body, "aaaaaaaaaabbbbbbbbbbcccccccccc");
    EXPECT_GE(res.complete, 950ms);
    EXPECT_LT(res.first_body_byte + 600ms, res.complete)
        << "first body byte at " << res.first_body_byte.count() << " ms, complete at "
        << res.complete.count() << " ms";
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

INSTANTIATE_TEST_SUITE_P(Apache, AjpFrontEnds,
                         ::testing::Values(Front{"mod_jk"}, Front{"mod_proxy_ajp"}),
                         [](const auto& info) { return std::string(info.param.name); });

// ---------------------------------------------------------------- the secret

class AjpSecret : public AjpFrontEnds {};

TEST_P(AjpSecret, WrongSecretFromTheFrontEndIs403) {
    const auto res = get("/hello");
    EXPECT_EQ(res.status, 403);
    EXPECT_EQ(res.body.find("Hello"), std::string::npos);
}

TEST_P(AjpSecret, MissingSecretStraightToThePortIs403) {
    ajp::ForwardRequest r;
    r.method = "GET";
    r.protocol = "HTTP/1.1";
    r.req_uri = "/hello";
    r.remote_addr = "127.0.0.1";
    r.server_name = "x";
    r.server_port = 80;
    SocketClient c(ajp_address());
    c.send(ajp::encode_forward_request(r, ajp::method_code("GET")));
    const std::string got = c.recv_until(std::string("AB\x00\x02\x05", 5));
    ASSERT_GE(got.size(), 7u);
    EXPECT_EQ(got.substr(0, 2), "AB");
    EXPECT_EQ(got[4], 4);
    EXPECT_EQ((static_cast<unsigned char>(got[5]) << 8) | static_cast<unsigned char>(got[6]), 403);
    EXPECT_NE(got.find(std::string("\x05\x00", 2)), std::string::npos) << "reuse=0";
    EXPECT_TRUE(c.wait_closed(5s));
    EXPECT_NE(read_file(gateway_->log_path()).find("without the secret"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Apache, AjpSecret, ::testing::Values(Front{"wrong_secret"}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace postern::test
