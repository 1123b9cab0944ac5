// adapters/cgi: the environ taken from a CGI host (table-driven), the body
// and response on descriptors, and the built postern-cgi program run as a
// CGI host runs it (environment + stdin -> stdout).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "cgi/cgi_environ.hpp"
#include "cgi/cgi_io.hpp"
#include "core/environ.hpp"

namespace postern::cgi {
namespace {

TEST(CgiEnviron, KeepsTheRequestAndDropsTheRest) {
    const char* envp[] = {"REQUEST_METHOD=GET",
                          "REQUEST_URI=/app/x?y=1",
                          "HTTP_X_A=1",
                          "HTTP_PROXY=http://evil:1",
                          "HTTP_CONNECTION=close",
                          "PATH=/usr/bin",
                          "LD_PRELOAD=/tmp/x.so",
                          "POSTERN_MODULE=/m.so",
                          "lower=1",
                          "NOEQUALS",
                          "DB_PASSWORD=hunter2",
                          "QUERY_STRING=",
                          nullptr};
    const Environ env = cgi_environ(envp);
    const Environ want = {{"REQUEST_METHOD", "GET"},
                          {"REQUEST_URI", "/app/x?y=1"},
                          {"HTTP_X_A", "1"},
                          {"QUERY_STRING", ""}};
    EXPECT_EQ(env, want);
}

int pipe_with(const std::string& data) {
    int fds[2];
    if (::pipe(fds) != 0)
        return -1;
    (void)!::write(fds[1], data.data(), data.size());
    ::close(fds[1]);
    return fds[0];
}

TEST(CgiIo, BodyStopsAtContentLength) {
    const int fd = pipe_with("abcdefXYZ");
    FdBody body(fd, 6);
    char buf[64];
    std::string got;
    while (std::size_t n = body.read(buf, sizeof(buf)))
        got.append(buf, n);
    EXPECT_EQ(got, "abcdef");
    ::close(fd);
}

TEST(CgiIo, BodyWithoutLengthReadsToTheEnd) {
    const int fd = pipe_with("chunked body");
    FdBody body(fd, std::nullopt);
    char buf[4];
    std::string got;
    while (std::size_t n = body.read(buf, sizeof(buf)))
        got.append(buf, n);
    EXPECT_EQ(got, "chunked body");
    ::close(fd);
}

TEST(CgiIo, ShortBodyIs400) {
    const int fd = pipe_with("abc");
    FdBody body(fd, 10);
    char buf[64];
    EXPECT_EQ(body.read(buf, sizeof(buf)), 3u);
    try {
        body.read(buf, sizeof(buf));
        FAIL() << "no error";
    } catch (const RequestError& e) {
        EXPECT_EQ(e.status(), 400);
    }
    ::close(fd);
}

/// Runs the built postern-cgi with `env` and `stdin_data`; its standard
/// output, and the exit status in `status`.
std::string run_cgi(const std::vector<std::string>& env, const std::string& stdin_data,
                    int& status) {
    const std::string exe = POSTERN_CGI_EXE;
    int in[2], out[2];
    if (::pipe(in) != 0 || ::pipe(out) != 0)
        return {};
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(in[0], 0);
        ::dup2(out[1], 1);
        const int null = ::open("/dev/null", O_WRONLY);
        ::dup2(null, 2);
        ::close(in[1]);
        ::close(out[0]);
        std::vector<char*> envp;
        for (const auto& e : env)
            envp.push_back(const_cast<char*>(e.c_str()));
        envp.push_back(nullptr);
        char* argv[] = {const_cast<char*>(exe.c_str()), nullptr};
        ::execve(exe.c_str(), argv, envp.data());
        ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    (void)!::write(in[1], stdin_data.data(), stdin_data.size());
    ::close(in[1]);
    std::string result;
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(out[0], buf, sizeof(buf));
        if (n <= 0)
            break;
        result.append(buf, static_cast<std::size_t>(n));
    }
    ::close(out[0]);
    ::waitpid(pid, &status, 0);
    return result;
}

std::vector<std::string> request_env(const std::string& module, const std::string& uri,
                                     const std::string& method = "GET") {
    return {"POSTERN_MODULE=" + std::string(POSTERN_EXAMPLES_DIR) + "/" + module + ".so",
            "GATEWAY_INTERFACE=CGI/1.1",
            "SERVER_PROTOCOL=HTTP/1.1",
            "REQUEST_METHOD=" + method,
            "REQUEST_URI=" + uri,
            "SCRIPT_NAME=/app",
            "SERVER_NAME=example.org",
            "SERVER_PORT=80",
            "REMOTE_ADDR=192.0.2.1"};
}

TEST(PosternCgi, HelloThroughTheCore) {
    int status = 0;
    const std::string out = run_cgi(request_env("hello", "/app"), "", status);
    EXPECT_EQ(out,
              "Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\n"
              "Hello, world!\n");
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(PosternCgi, EchoSeesTheMountAndTheBodyAndNoProxy) {
    auto env = request_env("echo", "/app/x%20y?q=1", "POST");
    env.push_back("CONTENT_LENGTH=5");
    env.push_back("HTTP_PROXY=http://evil:1");
    int status = 0;
    const std::string out = run_cgi(env, "hello and more", status);
    EXPECT_EQ(out.rfind("Status: 200 OK\r\n", 0), 0u) << out;
    EXPECT_NE(out.find("\"protocol\": \"cgi\""), std::string::npos) << out;
    EXPECT_NE(out.find("\"script_name\": \"/app\""), std::string::npos) << out;
    EXPECT_NE(out.find("\"path_info\": \"/x y\""), std::string::npos) << out;
    EXPECT_NE(out.find("\"body_length\": 5"), std::string::npos) << out;
    EXPECT_EQ(out.find("HTTP_PROXY"), std::string::npos) << out;
    EXPECT_EQ(out.find("POSTERN_MODULE"), std::string::npos) << out;
}

TEST(PosternCgi, ThrowIs500AndNoModuleIs500) {
    int status = 0;
    auto env = request_env("faults", "/app/throw");
    EXPECT_EQ(run_cgi(env, "", status).rfind("Status: 500 ", 0), 0u);
    env.erase(env.begin());  // no POSTERN_MODULE
    EXPECT_EQ(run_cgi(env, "", status).rfind("Status: 500 ", 0), 0u);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1);
}

TEST(PosternCgi, HeadHasNoBody) {
    int status = 0;
    EXPECT_EQ(run_cgi(request_env("hello", "/app", "HEAD"), "", status),
              "Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\n");
}

}  // namespace
}  // namespace postern::cgi
