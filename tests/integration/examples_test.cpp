// Integration tests: what the example modules promise beyond the common
// front-end checks (front_ends_test.cpp), against the real `postern`
// executable over direct HTTP: doc re-reads its file on every request, echo's
// JSON escaping, the bounds of stream and faults, and /f/abort.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "echo_reply.hpp"
#include "http_client.hpp"
#include "stack_suite.hpp"

namespace postern::test {
namespace {

using namespace std::chrono_literals;

/// The stack's gateway alone, its doc module reading page.html in the
/// stack's directory.
class ExamplesTest : public GatewaySuite<ExamplesTest> {
  public:
    static std::unique_ptr<Stack> make_stack() {
        Stack::Options options;
        options.gateway_env = {"POSTERN_DOC=@DIR@/page.html"};
        return std::make_unique<Stack>(std::vector<Topology>{}, options);
    }

  protected:
    static std::string doc_path() { return stack().dir().file("page.html"); }
    static std::string address() { return gateway().address("http", false); }

    static HttpResponse get(const std::string& target, Headers headers = {}) {
        HttpRequest req;
        req.target = target;
        req.headers = std::move(headers);
        return http_request(address(), address(), req);
    }
};

TEST_F(ExamplesTest, DocReadsItsFileOnEveryRequest) {
    write_file(doc_path(), "<p>first</p>\n");
    auto res = get("/doc");
    EXPECT_EQ(res.status, 200);
    EXPECT_EQ(res.body, "<p>first</p>\n");
    EXPECT_EQ(res.header("Content-Type").value_or(""), "text/html");

    write_file(doc_path(), "<p>second, longer</p>\n");
    EXPECT_EQ(get("/doc/any/path").body, "<p>second, longer</p>\n");

    std::filesystem::remove(doc_path());
    EXPECT_EQ(get("/doc").status, 404);
}

TEST_F(ExamplesTest, EchoEscapesAnythingIntoValidJson) {
    // PATH_INFO is percent-decoded, so it can carry any byte but NUL:
    // quotes, backslashes, control characters, stray bytes that are not
    // UTF-8. echo must still produce valid JSON and valid UTF-8.
    const auto res = get("/app/q%22b%5Cs%09t%01%7F%FF%FE%20caf%C3%A9%20%C3%20%ED%A0%80");
    ASSERT_EQ(res.status, 200) << res.body;
    const EchoReply r(res.body);
    // Valid UTF-8 passes through; each stray byte becomes \u00XX.
    EXPECT_NE(res.body.find(R"("path_info": "/q\"b\\s\tt\u0001\u007f\u00ff\u00fe café )"
                            R"(\u00c3 \u00ed\u00a0\u0080")"),
              std::string::npos)
        << res.body;
    EXPECT_EQ(r.str("path_info"),
              "/q\"b\\s\tt\x01\x7f\xC3\xBF\xC3\xBE caf\xC3\xA9 \xC3\x83 "
              "\xC3\xAD\xC2\xA0\xC2\x80");
    // A header value may carry obs-text (bytes 0x80-0xFF, RFC 9110 §5.5).
    const auto obs = get("/app/h", {{"X-Bytes", "\xff caf\xC3\xA9"}});
    ASSERT_EQ(obs.status, 200);
    EXPECT_NE(obs.body.find(R"("x-bytes": "\u00ff café")"), std::string::npos) << obs.body;
}

TEST_F(ExamplesTest, EchoBodyOfEveryShape) {
    for (const std::size_t size :
         {std::size_t{0}, std::size_t{1}, std::size_t{65'535}, std::size_t{65'536},
          std::size_t{65'537}, std::size_t{1'000'003}}) {
        SCOPED_TRACE("body of " + std::to_string(size) + " bytes");
        HttpRequest req;
        req.method = "POST";
        req.target = "/app";
        req.body = payload(size);
        const auto res = http_request(address(), address(), req);
        ASSERT_EQ(res.status, 200);
        const EchoReply r(res.body);
        EXPECT_EQ(r.body_length(), size);
        EXPECT_EQ(r.str("body_sha256"), sha256_hex(req.body));
    }
}

TEST_F(ExamplesTest, StreamBounds) {
    EXPECT_EQ(get("/stream?chunks=0").status, 400);
    EXPECT_EQ(get("/stream?chunks=10001").status, 400);
    EXPECT_EQ(get("/stream?bytes=1048577").status, 400);
    EXPECT_EQ(get("/stream?delay_ms=10001").status, 400);
    EXPECT_EQ(get("/stream?chunks=100&delay_ms=1000").status, 400);  // 99 s of delays
    EXPECT_EQ(get("/stream?chunks=-1").status, 400);
    EXPECT_EQ(get("/stream?chunks=").status, 400);
    const auto res = get("/stream/anything?bytes=3&chunks=28");
    EXPECT_EQ(res.status, 200);
    EXPECT_EQ(res.body.size(), 84u);
    EXPECT_EQ(res.body.substr(75), "zzzaaabbb");  // the letters wrap after 'z'
}

TEST_F(ExamplesTest, FaultsRoutes) {
    const auto slept = get("/f/sleep?ms=30");
    EXPECT_EQ(slept.status, 200);
    EXPECT_EQ(slept.body, "slept 30 ms\n");
    EXPECT_GE(slept.complete, 30ms);
    EXPECT_EQ(get("/f/sleep?ms=60001").status, 400);
    EXPECT_EQ(get("/f/big?bytes=17179869185").status, 400);
    const auto empty = get("/f/big?bytes=0");
    EXPECT_EQ(empty.status, 200);
    EXPECT_EQ(empty.body, "");
    EXPECT_EQ(get("/f").status, 404);
    EXPECT_EQ(get("/f/throw").status, 500);
}

TEST_F(ExamplesTest, BigDownloadStopsWhenTheClientGoes) {
    {
        // 16 GiB would take minutes; the client reads a little and leaves.
        SocketClient c(address());
        ASSERT_TRUE(c.send("GET /f/big?bytes=17179869184 HTTP/1.1\r\nHost: x\r\n\r\n"));
        const std::string start = c.recv_exact(1 << 20, 10s);
        EXPECT_EQ(start.size(), 1u << 20);
        EXPECT_NE(start.find("Content-Length: 17179869184"), std::string::npos);
    }
    // The gateway goes on serving (the callback's write() turned false and it
    // returned, freeing its worker).
    EXPECT_EQ(get("/f/sleep?ms=0").status, 200);
}

TEST_F(ExamplesTest, AbortKillsTheWholeGatewayProcess) {
    // std::abort() cannot be caught: without a supervisor the gateway process
    // dies, and the client sees the connection close without an answer.
    Gateway::Config config;
    config.mounts = {"/f=faults"};
    config.extra_args = {"--processes", "0"};
    Gateway doomed(stack().dir(), "doomed", config);
    SocketClient c(doomed.address("http", false));
    ASSERT_TRUE(c.send("GET /f/abort HTTP/1.1\r\nHost: x\r\n\r\n"));
    EXPECT_EQ(c.recv_until_close(10s), "");
    const auto status = doomed.process().wait(10s);
    ASSERT_TRUE(status.has_value()) << "postern still runs after /f/abort";
    EXPECT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGABRT)
        << describe_wait_status(*status);
}

}  // namespace
}  // namespace postern::test
