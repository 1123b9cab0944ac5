// Hostile input, the real `postern` executable: the same request gets the
// same answer on every protocol (two Content-Lengths over AJP, CONTENT_LENGTH
// twice over uwsgi: a 400 as over HTTP and SCGI), and the access log cannot
// be forged (a quote in User-Agent, a line feed in an AJP stored method).
// Every refusal is followed by a good request on the same gateway.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "ajp/codec.hpp"
#include "ajp_client.hpp"
#include "echo_reply.hpp"
#include "http_client.hpp"
#include "process.hpp"
#include "socket_client.hpp"
#include "stack.hpp"
#include "stack_suite.hpp"
#include "uwsgi/codec.hpp"
#include "wait.hpp"

namespace postern::test {
namespace {

using namespace std::chrono_literals;

/// A FORWARD_REQUEST encoded by the adapter's own codec (the tests below
/// bend it: a stored method, a patched header name).
postern::ajp::ForwardRequest ajp_get(const std::string& uri) {
    postern::ajp::ForwardRequest r;
    r.method = "GET";
    r.protocol = "HTTP/1.1";
    r.req_uri = uri;
    r.remote_addr = "192.0.2.7";
    r.server_name = "example.org";
    r.server_port = 80;
    r.headers = {{"host", "example.org"}};
    r.secret = Stack::ajp_secret();
    return r;
}

/// The gateway alone, one worker process.
class SameAnswer : public GatewaySuite<SameAnswer> {
  public:
    static std::unique_ptr<Stack> make_stack() {
        Stack::Options options;
        options.gateway_args = {"--processes", "1"};
        return std::make_unique<Stack>(std::vector<Topology>{}, options);
    }

  protected:
    static std::string access_log_path() { return gateway().access_log_path(); }

    /// The access log's lines once it holds at least `count` lines (the
    /// worker writes a line right after the answer).
    static std::vector<std::string> wait_for_lines(std::size_t count) {
        std::vector<std::string> lines;
        wait_until(
            [&] {
                lines.clear();
                std::string text;
                try {
                    text = read_file(access_log_path());
                } catch (const std::exception&) {
                }
                std::size_t at = 0;
                for (std::size_t nl; (nl = text.find('\n', at)) != std::string::npos; at = nl + 1)
                    lines.push_back(text.substr(at, nl - at));
                return lines.size() >= count;
            },
            10s);
        return lines;
    }

    /// The one line among lines[from..] that holds `what` ("" if none).
    static const std::string& new_line(const std::vector<std::string>& lines, std::size_t from,
                                       const std::string& what) {
        static const std::string none;
        for (std::size_t i = from; i < lines.size(); ++i)
            if (lines[i].find(what) != std::string::npos)
                return lines[i];
        ADD_FAILURE() << "no new access log line with " << what;
        return none;
    }

    static HttpResponse http_get(const std::string& target, Headers headers = {}) {
        HttpRequest req;
        req.target = target;
        req.headers = std::move(headers);
        return http_request(gateway().address("http", false), "example.org", req, 10s);
    }

    static ajp::Exchange ajp_send(const std::string& bytes) {
        SocketClient c(gateway().address("ajp", false));
        c.send(bytes);
        return ajp::read_exchange(c);
    }

    /// uwsgi: one request per connection; the whole answer.
    static std::string uwsgi_send(const std::vector<std::pair<std::string, std::string>>& vars,
                                  const std::string& body) {
        SocketClient c(gateway().address("uwsgi", false));
        c.send(uwsgi::encode_request(vars) + body);
        return c.recv_until_close(10s);
    }

    static void expect_good_ajp_request() {
        const ajp::Exchange good =
            ajp_send(postern::ajp::encode_forward_request(ajp_get("/app/good"), 2));
        EXPECT_EQ(good.status, 200);
        EXPECT_TRUE(good.ended);
        EXPECT_NE(good.body.find("\"path_info\": \"/good\""), std::string::npos) << good.body;
    }
};

TEST_F(SameAnswer, AForgedUserAgentIsOneEscapedLineAndTheNextLogsNormally) {
    const std::size_t before = wait_for_lines(0).size();
    const HttpResponse forged = http_get(
        "/app/forged", {{"User-Agent", "x\" 200 0 \"-\" \"forged"}, {"Referer", "r\\\"\xc3\xa9"}});
    EXPECT_EQ(forged.status, 200);
    EXPECT_EQ(http_get("/app/next", {{"User-Agent", "curl/8"}}).status, 200);

    const std::vector<std::string> lines = wait_for_lines(before + 2);
    ASSERT_EQ(lines.size(), before + 2) << read_file(access_log_path());
    // Two connections, two worker threads: either line may come first.
    const std::string& line = new_line(lines, before, "/app/forged");
    EXPECT_NE(line.find("\"GET /app/forged HTTP/1.1\" 200 "), std::string::npos) << line;
    // The quote escaped, so the line has exactly the format's six quotes.
    EXPECT_NE(line.find("\"x\\x22 200 0 \\x22-\\x22 \\x22forged\""), std::string::npos) << line;
    EXPECT_NE(line.find("\"r\\x5C\\x22\\xC3\\xA9\""), std::string::npos) << line;
    EXPECT_EQ(std::count(line.begin(), line.end(), '"'), 6) << line;
    const std::string& next = new_line(lines, before, "/app/next");
    EXPECT_NE(next.find("\"GET /app/next HTTP/1.1\" 200 "), std::string::npos) << next;
    EXPECT_NE(next.find("\"-\" \"curl/8\" "), std::string::npos) << next;
}

TEST_F(SameAnswer, AnAjpStoredMethodWithALineFeedIsOneLine) {
    const std::size_t before = wait_for_lines(0).size();
    postern::ajp::ForwardRequest r = ajp_get("/app/lf");
    r.method = "PROPFIND\n127.0.0.1 - - [01/Jan/2000:00:00:00 +0000] \"GET /admin";
    const ajp::Exchange reply = ajp_send(postern::ajp::encode_forward_request(r, 0xFF));
    EXPECT_TRUE(reply.ended);
    expect_good_ajp_request();

    const std::vector<std::string> lines = wait_for_lines(before + 2);
    ASSERT_EQ(lines.size(), before + 2) << read_file(access_log_path());
    const std::string& line = new_line(lines, before, "PROPFIND");
    EXPECT_NE(line.find("\"PROPFIND\\x0A127.0.0.1 - - [01/Jan/2000:00:00:00 +0000] "
                        "\\x22GET /admin /app/lf HTTP/1.1\""),
              std::string::npos)
        << line;
    const std::string& next = new_line(lines, before, "/app/good");
    EXPECT_NE(next.find("\"GET /app/good HTTP/1.1\" 200 "), std::string::npos) << next;
}

TEST_F(SameAnswer, AjpCodedAndNamedContentLengthIs400AndTheNextRequestIsServed) {
    // A coded Content-Length: 3 and a named Content-Length: 10, body "abc".
    postern::ajp::ForwardRequest r = ajp_get("/app/two-lengths");
    r.method = "POST";
    r.headers.emplace_back("content-length", "3");  // coded (0xA008)
    std::string bytes;
    // And a named "Content-Length: 10": the encoder codes every name it
    // knows, so it is sent as "Content-Lengtx" (a string name of the same
    // length) and the last letter patched.
    r.headers.emplace_back("Content-Lengtx", "10");
    bytes = postern::ajp::encode_forward_request(r, 4);
    const std::size_t at = bytes.find("Content-Lengtx");
    ASSERT_NE(at, std::string::npos);
    bytes[at + 13] = 'h';

    postern::ajp::ForwardRequest decoded;
    ASSERT_EQ(
        postern::ajp::decode_forward_request(std::string_view(bytes).substr(4), {}, decoded).status,
        postern::ajp::Status::done);
    ASSERT_EQ(decoded.headers.size(), 3u);
    EXPECT_EQ(decoded.headers[2].first, "Content-Length");

    const ajp::Exchange reply = ajp_send(bytes + postern::ajp::encode_body_packet("abc"));
    EXPECT_EQ(reply.status, 400) << reply.body;
    EXPECT_EQ(reply.body.find("CONTENT_LENGTH"), std::string::npos) << reply.body;
    expect_good_ajp_request();
}

TEST_F(SameAnswer, AjpContentLengthWithTransferEncodingOrTwoHostsIs400) {
    postern::ajp::ForwardRequest both = ajp_get("/app/both");
    both.method = "POST";
    both.headers.emplace_back("content-length", "3");
    both.headers.emplace_back("Transfer-Encoding", "chunked");
    EXPECT_EQ(ajp_send(postern::ajp::encode_forward_request(both, 4) +
                       postern::ajp::encode_body_packet("abc"))
                  .status,
              400);
    expect_good_ajp_request();

    postern::ajp::ForwardRequest hosts = ajp_get("/app/hosts");
    hosts.headers.emplace_back("host", "evil.example");
    EXPECT_EQ(ajp_send(postern::ajp::encode_forward_request(hosts, 2)).status, 400);
    expect_good_ajp_request();
}

TEST_F(SameAnswer, UwsgiContentLengthTwiceIs400AndTheNextRequestIsServed) {
    const std::vector<std::pair<std::string, std::string>> base = {
        {"REQUEST_METHOD", "POST"},      {"REQUEST_URI", "/app/dup"},
        {"SERVER_PROTOCOL", "HTTP/1.1"}, {"SERVER_NAME", "example.org"},
        {"SERVER_PORT", "80"},           {"REMOTE_ADDR", "192.0.2.7"}};
    auto twice = base;
    twice.emplace_back("CONTENT_LENGTH", "5");
    twice.emplace_back("CONTENT_LENGTH", "");
    const std::string refused = uwsgi_send(twice, "hello");
    EXPECT_EQ(refused.rfind("HTTP/1.1 400 ", 0), 0u) << refused;

    auto once = base;
    once.emplace_back("CONTENT_LENGTH", "5");
    const std::string good = uwsgi_send(once, "hello");
    ASSERT_EQ(good.rfind("HTTP/1.1 200 ", 0), 0u) << good;
    const EchoReply echo(good.substr(good.find("\r\n\r\n") + 4));
    EXPECT_EQ(echo.body_length(), 5u);
    EXPECT_EQ(echo.env("CONTENT_LENGTH").value_or("(none)"), "5");
}

TEST(AjpSecretOnTheCommandLine, IsWarnedAboutOnceAndAFileIsNot) {
    TempDir dir("postern-hostile-secret");
    const std::string warning = "--ajp-secret on the command line is readable by every local user";
    write_file(dir.file("ajp.secret"), std::string(Stack::ajp_secret()) + "\n");
    for (const bool from_file : {false, true}) {
        const std::string log = dir.file(from_file ? "file.log" : "argv.log");
        const std::string address = "127.0.0.1:" + std::to_string(free_port());
        std::vector<std::string> argv = {binary_dir() + "/bin/postern",
                                         "--processes",
                                         "0",
                                         "--access-log",
                                         "off",
                                         "--mount",
                                         "/app=" + binary_dir() + "/examples/echo.so",
                                         "--listen",
                                         "ajp=" + address};
        if (from_file)
            argv.insert(argv.end(), {"--ajp-secret-file", dir.file("ajp.secret")});
        else
            argv.insert(argv.end(), {"--ajp-secret", Stack::ajp_secret()});
        Process gateway;
        gateway.start(argv, {}, log);
        ASSERT_TRUE(wait_for_listener(address, 10s)) << tail_file(log);
        // Served either way (the warning stops nothing).
        SocketClient c(address);
        c.send(postern::ajp::encode_forward_request(ajp_get("/app/good"), 2));
        const ajp::Exchange good = ajp::read_exchange(c);
        EXPECT_EQ(good.status, 200);
        EXPECT_TRUE(good.ended);
        gateway.stop(10s);
        const std::string text = read_file(log);
        const std::size_t first = text.find(warning);
        if (from_file) {
            EXPECT_EQ(first, std::string::npos) << text;
        } else {
            ASSERT_NE(first, std::string::npos) << text;
            EXPECT_EQ(text.find(warning, first + 1), std::string::npos) << text;
            EXPECT_NE(text.find("use --ajp-secret-file"), std::string::npos) << text;
        }
    }
}

}  // namespace
}  // namespace postern::test
