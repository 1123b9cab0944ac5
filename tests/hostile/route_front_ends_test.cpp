// Hostile, through the real front ends (issue 12, item 2): nginx with
// `location /hello { deny all; }` beside each shipped snippet, Apache with
// `<Location "/hello"> Require all denied` inside each shipped virtual host,
// and direct HTTP. A dot segment, a %2e, a doubled slash or an encoded slash
// never lets a request that the front end routed to an allowed path reach
// the denied mount (/hello, the hello example), or one it denied reach
// anything; the allowed mount (/app, the echo example) sees SCRIPT_NAME and
// PATH_INFO of the normalised path and REQUEST_URI raw; and a good request
// follows every bad one on the same gateway.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "echo_reply.hpp"
#include "http_client.hpp"
#include "stack.hpp"
#include "stack_suite.hpp"

namespace postern::test {
namespace {

using namespace std::chrono_literals;

class RouteThroughFrontEnds : public StackSuite<RouteThroughFrontEnds> {
  public:
    static std::unique_ptr<Stack> make_stack() {
        Stack::Options options;
        options.nginx_server_lines = "    location /hello { deny all; }";
        options.apache_vhost_lines =
            "    <Location \"/hello\">\n"
            "        Require all denied\n"
            "    </Location>";
        return std::make_unique<Stack>(shipped_topologies(), options);
    }

  protected:
    bool direct() const { return GetParam().front_end == FrontEnd::direct; }

    HttpResponse get(const std::string& target) {
        HttpRequest req;
        req.target = target;
        return http_request(endpoint_.address, endpoint_.address, req, 20s);
    }

    /// The next good request on the same gateway: served by echo at /app.
    void expect_next_request_served(const std::string& after) {
        const HttpResponse r = get("/app/next");
        ASSERT_EQ(r.status, 200) << "after " << after << ": " << r.body;
        EXPECT_EQ(EchoReply(r.body).env("PATH_INFO").value_or("?"), "/next") << "after " << after;
    }

    static bool is_hello(const HttpResponse& r) {
        return r.body.find("Hello, world") != std::string::npos;
    }
};

TEST_P(RouteThroughFrontEnds, TheDeniedMountIsDenied) {
    // The rule under test holds at all: without it the test below proves
    // nothing.
    const HttpResponse r = get("/hello");
    if (direct()) {
        EXPECT_EQ(r.status, 200);
        EXPECT_TRUE(is_hello(r)) << r.body;
    } else {
        EXPECT_EQ(r.status, 403) << r.body;
        EXPECT_FALSE(is_hello(r)) << r.body;
    }
    expect_next_request_served("/hello");
}

TEST_P(RouteThroughFrontEnds, ADotSegmentOutOfTheDeniedPathReachesTheAllowedMount) {
    // The front end routed each of these on /app/x: the gateway must too,
    // never handing it to /hello.
    for (const char* target : {"/hello/../app/x", "/hello/%2e%2e/app/x", "/hello/%2E%2E/app/x",
                               "/hello/.%2e/app/x", "/hello/./../app/./x", "//hello/..//app//x",
                               "/hello/y/../../app/x?q=1", "/%68ello/../%61pp/x"}) {
        SCOPED_TRACE(target);
        const HttpResponse r = get(target);
        ASSERT_EQ(r.status, 200) << r.body;
        ASSERT_FALSE(is_hello(r)) << "the denied mount answered";
        const EchoReply echo(r.body);
        EXPECT_EQ(echo.env("SCRIPT_NAME").value_or("?"), "/app");
        EXPECT_EQ(echo.env("PATH_INFO").value_or("?"), "/x");
        // The gateway passes REQUEST_URI on as it came: nginx sends the
        // client's ($request_uri), and so does Apache, except that
        // mod_proxy_http and mod_proxy_ajp send the path Apache merged
        // when it merged slashes.
        if (GetParam().front_end != FrontEnd::apache ||
            std::string(target).find("//") == std::string::npos) {
            EXPECT_EQ(echo.env("REQUEST_URI").value_or("?"), target) << "REQUEST_URI stays raw";
        }
        expect_next_request_served(target);
    }
}

TEST_P(RouteThroughFrontEnds, ThePathsTheFrontEndDeniesAreDenied) {
    // Each of these is /hello once normalised: the front end denies it
    // (direct, the gateway routes it to /hello, never to /app).
    for (const char* target : {"//hello", "///hello/x", "/app/../hello", "/app/%2e%2e/hello",
                               "/app/./../hello/", "/%68ello", "/hello/."}) {
        SCOPED_TRACE(target);
        const HttpResponse r = get(target);
        if (direct()) {
            EXPECT_EQ(r.status, 200) << r.body;
            EXPECT_TRUE(is_hello(r)) << r.body;
        } else {
            EXPECT_EQ(r.status, 403) << r.body;
            EXPECT_FALSE(is_hello(r)) << r.body;
        }
        expect_next_request_served(target);
    }
}

TEST_P(RouteThroughFrontEnds, AnEncodedSlashReachesNeitherMountByAnotherReading) {
    // nginx reads %2F as '/' and denies or passes on that reading; Apache
    // (AllowEncodedSlashes NoDecode) keeps it; the gateway refuses a path
    // the two readings route apart. Whoever answers, hello never does, and
    // neither does a 200.
    for (const char* target : {"/hello%2F..%2Fapp/x", "/app/..%2Fhello", "/app/..%2F..%2Fhello",
                               "/x%2F..%2Fhello", "/%2Fhello", "/app%2F..%2Fhello"}) {
        SCOPED_TRACE(target);
        const HttpResponse r = get(target);
        // mod_proxy_uwsgi decodes the URI itself and answers 500 for one
        // with an encoded slash ("AH10100: unable to decode uwsgi uri"),
        // before the gateway sees it.
        const bool uwsgi_refusal =
            std::string(GetParam().name) == "apache_proxy_uwsgi" && r.status == 500;
        EXPECT_TRUE(r.status == 400 || r.status == 403 || r.status == 404 || uwsgi_refusal)
            << r.status << " " << r.body.substr(0, 200);
        EXPECT_FALSE(is_hello(r)) << r.body;
        expect_next_request_served(target);
    }
}

TEST_P(RouteThroughFrontEnds, ClimbingAboveTheRootIs400) {
    for (const char* target : {"/../app/x", "/app/../../app/x", "/%2e%2e/app/x"}) {
        SCOPED_TRACE(target);
        const HttpResponse r = get(target);
        EXPECT_EQ(r.status, 400) << r.body;
        expect_next_request_served(target);
    }
}

INSTANTIATE_TEST_SUITE_P(Shipped, RouteThroughFrontEnds, ::testing::ValuesIn(shipped_topologies()),
                         [](const ::testing::TestParamInfo<Topology>& info) {
                             return std::string(info.param.name);
                         });

}  // namespace
}  // namespace postern::test
