// Hostile input, in memory and on real sockets (run under ASan+UBSan): the
// access log's escaping, the framing refusals of the AJP and uwsgi codecs,
// a 1xx status from a callback, postern-cgi's request environ, and the
// start-up probe of a busy unix socket. Every refusal is followed by a good
// request.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "ajp/codec.hpp"
#include "cgi/cgi_environ.hpp"
#include "core/listen.hpp"
#include "core/log_escape.hpp"
#include "postern/response.hpp"
#include "postern/server.hpp"
#include "process.hpp"
#include "socket_client.hpp"
#include "uwsgi/codec.hpp"

namespace postern {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;

// --- The access log (issue 12, item 4) ----------------------------------

TEST(LogEscape, EscapesAsNginxDoes) {
    struct Case {
        std::string in;
        std::string out;
    };
    const Case cases[] = {
        {"", ""},
        {"Mozilla/5.0 (X11; Linux) ~!@#$%^&*()_+{}|:<>?[];',./`",
         "Mozilla/5.0 (X11; Linux) ~!@#$%^&*()_+{}|:<>?[];',./`"},
        {"x\" 200 0 \"-\" \"forged", "x\\x22 200 0 \\x22-\\x22 \\x22forged"},
        {"a\\b", "a\\x5Cb"},
        {"GET\nX", "GET\\x0AX"},
        {"\r\t\x01\x1f", "\\x0D\\x09\\x01\\x1F"},
        {"\x7f\x80\xff", "\\x7F\\x80\\xFF"},
        {"\xc3\xa9", "\\xC3\\xA9"},
        {"nul\0byte"s, "nul\\x00byte"},
        {" ~", " ~"},
    };
    for (const Case& c : cases)
        EXPECT_EQ(log_escape(c.in), c.out) << c.in;
    std::string appended = "keep ";
    append_log_escaped(appended, "\"");
    EXPECT_EQ(appended, "keep \\x22");
}

// --- The same request, the same answer (item 5) --------------------------

ajp::ForwardRequest with_headers(std::vector<std::pair<std::string, std::string>> headers) {
    ajp::ForwardRequest r;
    r.method = "POST";
    r.headers = std::move(headers);
    return r;
}

TEST(AjpFramingFault, TwoLengthsTwoEncodingsBothOrTwoHostsAreRefused) {
    struct Case {
        std::vector<std::pair<std::string, std::string>> headers;
        std::string fault;  // "" when accepted
    };
    const Case cases[] = {
        {{{"host", "a"}, {"content-length", "3"}}, ""},
        {{{"host", "a"}, {"Transfer-Encoding", "chunked"}}, ""},
        {{}, ""},
        {{{"content-length", "3"}, {"Content-Length", "10"}},
         "more than one Content-Length header"},
        {{{"content-length", "3"}, {"CONTENT-LENGTH", "3"}}, "more than one Content-Length header"},
        {{{"Transfer-Encoding", "chunked"}, {"transfer-encoding", "chunked"}},
         "more than one Transfer-Encoding header"},
        {{{"content-length", "3"}, {"Transfer-Encoding", "chunked"}},
         "both Content-Length and Transfer-Encoding"},
        {{{"host", "a"}, {"Host", "b"}}, "more than one Host header"},
        // Names that only look alike are other headers.
        {{{"content-length", "3"}, {"Content-Length2", "10"}}, ""},
    };
    for (const Case& c : cases)
        EXPECT_EQ(ajp::framing_fault(with_headers(c.headers)), c.fault)
            << (c.headers.empty() ? "" : c.headers.back().first);
}

TEST(UwsgiDuplicates, AVariableTwiceIsRefusedAndARepeatedHeaderKept) {
    const std::vector<std::pair<std::string, std::string>> base = {{"REQUEST_METHOD", "POST"},
                                                                   {"REQUEST_URI", "/x"}};
    auto twice = base;
    twice.emplace_back("CONTENT_LENGTH", "5");
    twice.emplace_back("CONTENT_LENGTH", "");
    uwsgi::Request req;
    uwsgi::Result r = uwsgi::decode_request(uwsgi::encode_request(twice) + "hello", {}, req);
    EXPECT_EQ(r.status, uwsgi::Status::error);
    EXPECT_EQ(r.code, uwsgi::Error::duplicate_name);
    EXPECT_NE(r.reason.find("CONTENT_LENGTH twice"), std::string::npos) << r.reason;

    auto uri_twice = base;
    uri_twice.emplace_back("REQUEST_URI", "/admin");
    r = uwsgi::decode_request(uwsgi::encode_request(uri_twice), {}, req);
    EXPECT_EQ(r.code, uwsgi::Error::duplicate_name);

    // The name, which the error log shows, cannot start a log line of its own.
    auto forged = base;
    forged.emplace_back("X\nERROR", "1");
    forged.emplace_back("X\nERROR", "2");
    r = uwsgi::decode_request(uwsgi::encode_request(forged), {}, req);
    EXPECT_EQ(r.code, uwsgi::Error::duplicate_name);
    EXPECT_NE(r.reason.find("X\\x0AERROR twice"), std::string::npos) << r.reason;

    auto hosts = base;
    hosts.emplace_back("HTTP_HOST", "a.example");
    hosts.emplace_back("HTTP_HOST", "b.example");
    r = uwsgi::decode_request(uwsgi::encode_request(hosts), {}, req);
    EXPECT_EQ(r.code, uwsgi::Error::duplicate_name);

    // The next good request: a header the client repeated is still taken
    // (nginx sends each copy), and one CONTENT_LENGTH frames the body.
    auto good = base;
    good.emplace_back("CONTENT_LENGTH", "5");
    good.emplace_back("HTTP_X", "a");
    good.emplace_back("HTTP_X", "b");
    r = uwsgi::decode_request(uwsgi::encode_request(good) + "hello", {}, req);
    ASSERT_EQ(r.status, uwsgi::Status::done) << r.reason;
    EXPECT_EQ(req.content_length, 5u);
    EXPECT_EQ(req.params.size(), 5u);
}

class NullSink : public ResponseSink {
  public:
    bool send_head(const ResponseHead&) override { return true; }
    bool send_body(std::string_view) override { return true; }
    bool flush() override { return true; }
    bool finish() override { return true; }
    void abort() override {}
};

TEST(ResponseStatus, AnInterimStatusIsRefusedAsABadHeaderIs) {
    NullSink sink;
    Response res(sink, false);
    for (int code : {100, 101, 102, 103, 199})
        EXPECT_THROW(res.status(code), std::invalid_argument) << code;
    EXPECT_EQ(res.status(), 200);
    res.status(204);
    EXPECT_EQ(res.status(), 204);
    res.status(200);
    EXPECT_EQ(res.status(), 200);
}

TEST(ResponseStatus, A1xxFromACallbackIs500OverHttpAndTheNextRequestIsServed) {
    Options options;
    options.listeners = {{"http", "127.0.0.1:0"}};
    options.mounts = {{"/",
                       [](Request& req, Response& res) {
                           if (req.path_info() == "/interim")
                               res.status(103);
                           res.header("Content-Type", "text/plain");
                           res.write("final\n");
                       },
                       "test"}};
    options.threads = 2;
    options.access_log = "off";
    options.drain_timeout = 1000ms;
    Server server(options);
    server.start();
    test::SocketClient c(server.listeners().at(0).address);
    ASSERT_TRUE(c.send("GET /interim HTTP/1.1\r\nHost: x\r\n\r\n"));
    const std::string refused = c.recv_until("\r\n\r\n", 5s);
    EXPECT_EQ(refused.rfind("HTTP/1.1 500 ", 0), 0u) << refused;
    // The same connection: the 500 is the final answer, complete.
    std::string rest = refused.substr(refused.find("\r\n\r\n") + 4);
    if (rest.find("Internal Server Error\n") == std::string::npos)
        rest += c.recv_until("Internal Server Error\n", 5s);
    ASSERT_NE(rest.find("Internal Server Error\n"), std::string::npos) << rest;
    ASSERT_TRUE(c.send("GET /good HTTP/1.1\r\nHost: x\r\n\r\n"));
    const std::string good = c.recv_until("final\n", 5s);
    EXPECT_NE(good.find("HTTP/1.1 200 OK\r\n"), std::string::npos) << good;
    EXPECT_NE(good.find("final\n"), std::string::npos) << good;
    server.stop();
}

// --- postern-cgi: the request's variables apart (item 10) ---------------

TEST(CgiRequestVariables, TheRequestsAndNothingElse) {
    for (const char* name :
         {"REQUEST_METHOD", "CONTENT_LENGTH", "SCRIPT_NAME", "SERVER_SOFTWARE", "HTTP_HOST",
          "HTTP_X_A", "REQUEST_URI", "REQUEST_SCHEME", "REMOTE_PORT", "DOCUMENT_ROOT", "HTTPS",
          "SSL_CLIENT_S_DN", "UNIQUE_ID", "REDIRECT_STATUS", "REDIRECT_URL",
          "REDIRECT_QUERY_STRING", "REDIRECT_HTTP_HOST", "SCRIPT_URI"})
        EXPECT_TRUE(cgi::request_variable(name)) << name;
    for (const char* name :
         {"DB_PASSWORD", "PATH", "LANG", "HOME", "LD_PRELOAD", "POSTERN_MODULE", "HTTP_", "SSL_",
          "REDIRECT_DB_PASSWORD", "REDIRECT_", "APACHE_RUN_USER", "lower", ""})
        EXPECT_FALSE(cgi::request_variable(name)) << name;

    const char* envp[] = {"REQUEST_METHOD=GET", "DB_PASSWORD=hunter2", "HTTP_PROXY=http://e:1",
                          "HTTP_X_A=1",         "PATH=/usr/bin",       nullptr};
    const Environ want = {{"REQUEST_METHOD", "GET"}, {"HTTP_X_A", "1"}};
    EXPECT_EQ(cgi::cgi_environ(envp), want);
}

/// Runs the built postern-cgi as a CGI host does; its standard output.
std::string run_cgi(const std::vector<std::string>& env, const std::vector<std::string>& args,
                    int& status) {
    const std::string exe = POSTERN_CGI_EXE;
    int out[2];
    if (::pipe(out) != 0)
        return {};
    const pid_t pid = ::fork();
    if (pid == 0) {
        const int null = ::open("/dev/null", O_RDWR);
        ::dup2(null, 0);
        ::dup2(out[1], 1);
        ::dup2(null, 2);
        ::close(out[0]);
        std::vector<char*> envp;
        for (const auto& e : env)
            envp.push_back(const_cast<char*>(e.c_str()));
        envp.push_back(nullptr);
        std::vector<char*> argv{const_cast<char*>(exe.c_str())};
        for (const auto& a : args)
            argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        ::execve(exe.c_str(), argv.data(), envp.data());
        ::_exit(127);
    }
    ::close(out[1]);
    std::string result;
    char buf[4096];
    for (ssize_t n; (n = ::read(out[0], buf, sizeof(buf))) > 0;)
        result.append(buf, static_cast<std::size_t>(n));
    ::close(out[0]);
    ::waitpid(pid, &status, 0);
    return result;
}

std::vector<std::string> cgi_request(const std::string& module, const std::string& uri) {
    return {"POSTERN_MODULE=" + std::string(POSTERN_EXAMPLES_DIR) + "/" + module + ".so",
            "GATEWAY_INTERFACE=CGI/1.1",
            "SERVER_PROTOCOL=HTTP/1.1",
            "REQUEST_METHOD=GET",
            "REQUEST_URI=" + uri,
            "SCRIPT_NAME=/app",
            "SERVER_NAME=example.org",
            "SERVER_PORT=80",
            "REMOTE_ADDR=192.0.2.1",
            "PATH=/usr/bin:/bin"};
}

TEST(PosternCgiEnviron, ASetEnvSecretStaysOutOfTheRequestEnviron) {
    auto env = cgi_request("echo", "/app/x");
    env.push_back("DB_PASSWORD=hunter2");  // Apache: SetEnv DB_PASSWORD hunter2
    env.push_back("HTTP_X_A=1");
    int status = 0;
    const std::string out = run_cgi(env, {}, status);
    EXPECT_EQ(out.rfind("Status: 200 OK\r\n", 0), 0u) << out;
    EXPECT_EQ(out.find("hunter2"), std::string::npos) << out;
    EXPECT_EQ(out.find("DB_PASSWORD"), std::string::npos) << out;
    EXPECT_EQ(out.find("\"PATH\""), std::string::npos) << out;
    EXPECT_NE(out.find("\"HTTP_X_A\": \"1\""), std::string::npos) << out;
    EXPECT_NE(out.find("\"REQUEST_URI\": \"/app/x\""), std::string::npos) << out;
    // The next request, through another module, as good as ever.
    const std::string hello = run_cgi(cgi_request("hello", "/app"), {}, status);
    EXPECT_EQ(hello.rfind("Status: 200 OK\r\n", 0), 0u) << hello;
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(PosternCgiEnviron, HelpSaysTheModuleSeesTheWholeEnvironment) {
    int status = 0;
    const std::string help = run_cgi({}, {"--help"}, status);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    EXPECT_NE(help.find("whole environment"), std::string::npos) << help;
    EXPECT_NE(help.find("SetEnv DB_PASSWORD"), std::string::npos) << help;
    EXPECT_NE(help.find("getenv()"), std::string::npos) << help;
    EXPECT_NE(help.find("Request::environ()"), std::string::npos) << help;
}

// --- Start-up probes of a unix socket (item 10) ---------------------------

TEST(UnixSocketProbe, ABusyLiveSocketIsInUseAtOnceAndAStaleOneIsReplaced) {
    test::TempDir dir("postern-hostile-probe");
    const std::string path = dir.file("busy.sock");
    // A live server that does not accept: backlog 0, filled.
    const int busy = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
    ASSERT_EQ(::bind(busy, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
    ASSERT_EQ(::listen(busy, 0), 0);
    std::vector<int> clients;
    for (int i = 0; i < 64; ++i) {
        const int c = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        const bool queued = ::connect(c, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0;
        clients.push_back(c);
        if (!queued) {
            ASSERT_EQ(errno, EAGAIN) << std::strerror(errno);
            break;
        }
    }
    ASSERT_LT(clients.size(), 64u) << "the backlog never filled";

    const auto began = std::chrono::steady_clock::now();
    try {
        const BoundSocket s = bind_listener(path, 0660);
        ::close(s.fd);
        FAIL() << "bound over a live socket";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("in use"), std::string::npos) << e.what();
    }
    EXPECT_LT(std::chrono::steady_clock::now() - began, 1s);

    // The live server is still there, its file untouched.
    EXPECT_EQ(::access(path.c_str(), F_OK), 0);
    for (int c : clients)
        ::close(c);
    ::close(busy);
    // Its server gone, the file is stale: the next start replaces it.
    const BoundSocket s = bind_listener(path, 0660);
    EXPECT_GE(s.fd, 0);
    test::SocketClient probe(path);
    ::close(s.fd);
    ::unlink(path.c_str());
}

}  // namespace
}  // namespace postern
