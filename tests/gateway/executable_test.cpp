// The `postern` executable as a user runs it: options, start-up errors, the
// listening socket on descriptor 0, and a graceful stop on SIGTERM.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "fcgi_client.hpp"
#include "process.hpp"
#include "socket_client.hpp"

namespace postern::test {
namespace {

std::string binary_dir() {
    const char* d = std::getenv("POSTERN_BINARY_DIR");
    return d ? d : ".";
}
std::string postern_bin() {
    return binary_dir() + "/bin/postern";
}
std::string example(const std::string& name) {
    return binary_dir() + "/examples/" + name + ".so";
}

std::size_t count_lines(const std::string& s) {
    std::size_t n = 0;
    for (char c : s)
        n += c == '\n';
    return n;
}

class Executable : public ::testing::Test {
  protected:
    /// Runs postern with `args` to its exit; returns {wait status, output}.
    std::pair<int, std::string> run(std::vector<std::string> args) {
        args.insert(args.begin(), postern_bin());
        Process p;
        std::string log = dir.file("out-" + std::to_string(++runs) + ".log");
        p.start(args, {}, log);
        auto status = p.wait(10s);
        EXPECT_TRUE(status.has_value()) << "postern did not exit: " << p.command_line();
        return {status.value_or(-1), read_file(log)};
    }

    TempDir dir{"postern-exe"};
    int runs = 0;
};

TEST_F(Executable, VersionAndHelp) {
    auto [st, out] = run({"--version"});
    EXPECT_EQ(describe_wait_status(st), "exited 0");
    EXPECT_EQ(out.rfind("postern ", 0), 0u) << out;
    auto [st2, help] = run({"--help"});
    EXPECT_EQ(describe_wait_status(st2), "exited 0");
    for (const char* o : {"--app", "--mount", "--listen", "--threads", "--config"})
        EXPECT_NE(help.find(o), std::string::npos) << o;
}

TEST_F(Executable, BadOptionIsOneClearLine) {
    auto [st, out] = run({"--app", example("hello"), "--bogus"});
    EXPECT_EQ(describe_wait_status(st), "exited 2");
    EXPECT_EQ(count_lines(out), 1u) << out;
    EXPECT_NE(out.find("unknown option --bogus"), std::string::npos) << out;
    auto [st2, out2] = run({"--app", example("hello"), "--threads", "lots"});
    EXPECT_EQ(describe_wait_status(st2), "exited 2");
    EXPECT_NE(out2.find("--threads"), std::string::npos) << out2;
}

TEST_F(Executable, AddressInUseIsOneClearLine) {
    int port = free_port();
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
    ASSERT_EQ(::listen(fd, 1), 0);
    std::string addr = "127.0.0.1:" + std::to_string(port);
    auto [st, out] = run({"--app", example("hello"), "--listen", "http=" + addr});
    ::close(fd);
    EXPECT_EQ(describe_wait_status(st), "exited 1");
    EXPECT_EQ(count_lines(out), 1u) << out;
    EXPECT_NE(out.find("cannot listen on " + addr + ": Address already in use"), std::string::npos)
        << out;
}

TEST_F(Executable, ModuleErrorsNameTheFile) {
    std::string not_module = dir.file("not-a-module.so");
    write_file(not_module, "this is text, not a shared object\n");
    auto [st, out] = run({"--app", not_module, "--listen", "http=127.0.0.1:0"});
    EXPECT_EQ(describe_wait_status(st), "exited 1");
    EXPECT_EQ(count_lines(out), 1u) << out;
    EXPECT_NE(out.find("cannot load module " + not_module), std::string::npos) << out;
    auto [st2, out2] = run({"--app", dir.file("missing.so")});
    EXPECT_EQ(describe_wait_status(st2), "exited 1");
    EXPECT_NE(out2.find("missing.so"), std::string::npos) << out2;
}

TEST_F(Executable, ServesTheListeningSocketOnDescriptorZero) {
    // What spawn-fcgi and mod_fcgid do: the socket is bound and listening
    // before the application starts, and handed to it as descriptor 0.
    int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
    ASSERT_EQ(::listen(lfd, 16), 0);
    socklen_t len = sizeof(sa);
    ::getsockname(lfd, reinterpret_cast<sockaddr*>(&sa), &len);
    std::string addr = "127.0.0.1:" + std::to_string(ntohs(sa.sin_port));
    std::string bin = postern_bin();
    std::string mod = example("hello");
    std::string log = dir.file("fd0.log");
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        ::dup2(lfd, 0);
        int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ::dup2(out, 1);
        ::dup2(out, 2);
        ::execl(bin.c_str(), bin.c_str(), "--app", mod.c_str(), "--access-log", "off", nullptr);
        ::_exit(127);
    }
    ::close(lfd);
    SocketClient client(addr);
    fcgi::Request req;
    req.params = fcgi::cgi_params("GET", "/");
    fcgi::Response res = fcgi::round_trip(client, req);
    ::kill(pid, SIGTERM);
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(res.ended) << tail_file(log);
    fcgi::CgiResponse cgi = fcgi::parse_cgi(res.out);
    EXPECT_EQ(cgi.status, 200);
    EXPECT_EQ(cgi.body, "Hello, world!\n");
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << describe_wait_status(status);
}

TEST_F(Executable, SigtermDrainsRequestsInFlight) {
    int port = free_port();
    std::string addr = "127.0.0.1:" + std::to_string(port);
    Process p;
    p.start({postern_bin(), "--mount", "/stream=" + example("stream"), "--listen", "http=" + addr,
             "--access-log", "off"},
            {}, dir.file("drain.log"));
    ASSERT_TRUE(wait_for_listener(addr)) << tail_file(p.log_path());
    SocketClient client(addr);
    client.send("GET /stream?chunks=3&bytes=4&delay_ms=400 HTTP/1.1\r\nHost: x\r\n\r\n");
    // The first chunk is flushed at once: the request is in flight.
    std::string got = client.recv_until("\r\n\r\n", 5s);
    ASSERT_NE(got.find("200 OK"), std::string::npos) << got;
    p.signal(SIGTERM);
    got += client.recv_until("0\r\n\r\n", 10s);
    EXPECT_NE(got.find("0\r\n\r\n"), std::string::npos) << "the response completed: " << got;
    auto status = p.wait(10s);
    ASSERT_TRUE(status.has_value());
    EXPECT_EQ(describe_wait_status(*status), "exited 0") << tail_file(p.log_path());
    // Stopped accepting: nothing listens any more.
    EXPECT_THROW(SocketClient{addr}, std::runtime_error);
}

TEST_F(Executable, DrainTimeBoundsTheStop) {
    // A front end that began a request and went quiet holds a worker in a
    // read; at the end of the drain time its connection is cut.
    int port = free_port();
    std::string addr = "127.0.0.1:" + std::to_string(port);
    Process p;
    p.start({postern_bin(), "--mount", "/=" + example("hello"), "--listen", "http=" + addr,
             "--access-log", "off", "--drain-timeout", "300", "--read-timeout", "60000"},
            {}, dir.file("drain-bound.log"));
    ASSERT_TRUE(wait_for_listener(addr)) << tail_file(p.log_path());
    SocketClient stalled(addr);
    stalled.send("GET / HTTP/1.1\r\nHost: x\r\nX-Half: ");
    // A full request on another connection proves the half one was taken up.
    SocketClient good(addr);
    good.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_NE(good.recv_until("Hello, world!\n", 5s).find("Hello"), std::string::npos);
    auto t0 = std::chrono::steady_clock::now();
    p.signal(SIGTERM);
    auto status = p.wait(10s);
    ASSERT_TRUE(status.has_value()) << tail_file(p.log_path());
    EXPECT_EQ(describe_wait_status(*status), "exited 0") << tail_file(p.log_path());
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s)
        << "the 60 s read timeout did not hold the stop";
    EXPECT_TRUE(stalled.wait_closed(5s));
}

TEST_F(Executable, WebServerAddrsFromTheEnvironmentIsTheAllowList) {
    auto serve_with = [&](const std::string& addrs) {
        int port = free_port();
        std::string addr = "127.0.0.1:" + std::to_string(port);
        Process p;
        p.start({postern_bin(), "--app", example("hello"), "--listen", "fastcgi=" + addr,
                 "--access-log", "off"},
                {"FCGI_WEB_SERVER_ADDRS=" + addrs},
                dir.file("addrs-" + std::to_string(++runs) + ".log"));
        EXPECT_TRUE(wait_for_listener(addr)) << tail_file(p.log_path());
        SocketClient client(addr);
        fcgi::Request req;
        req.params = fcgi::cgi_params("GET", "/");
        fcgi::Response res = fcgi::round_trip(client, req, 5s);
        p.stop();
        return std::make_pair(res, read_file(p.log_path()));
    };
    auto [refused, log] = serve_with("10.9.9.9,192.168.0.0/16");
    EXPECT_FALSE(refused.ended);
    EXPECT_TRUE(refused.connection_closed);
    EXPECT_NE(log.find("not on the allow-list"), std::string::npos) << log;
    auto [served, log2] = serve_with("10.9.9.9,127.0.0.1");
    EXPECT_TRUE(served.ended) << log2;
    EXPECT_EQ(fcgi::parse_cgi(served.out).body, "Hello, world!\n");
}

TEST_F(Executable, RunningOutOfDescriptorsRefusesAndRecovers) {
    // With 64 descriptors the gateway cannot take 100 connections; the ones
    // it cannot take are closed (not left queued, with the workers spinning
    // on a listener that stays readable), and once connections go away it
    // serves again. One worker process: the limit is per process.
    int port = free_port();
    std::string addr = "127.0.0.1:" + std::to_string(port);
    Process p;
    p.start(
        {"/usr/bin/prlimit", "--nofile=64:64", postern_bin(), "--app", example("hello"), "--listen",
         "http=" + addr, "--access-log", "off", "--threads", "2", "--processes", "1"},
        {}, dir.file("emfile.log"));
    ASSERT_TRUE(wait_for_listener(addr)) << tail_file(p.log_path());
    std::vector<SocketClient> clients;
    for (int i = 0; i < 100; ++i)
        clients.emplace_back(addr);
    // The gateway answers what it took, and closes what it could not.
    int answered = 0, closed = 0;
    for (auto& c : clients) {
        c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        std::string got = c.recv_until("Hello, world!\n", 5s);
        if (got.find("Hello, world!\n") != std::string::npos)
            ++answered;
        else if (c.closed())
            ++closed;
    }
    EXPECT_GT(answered, 0);
    EXPECT_GT(closed, 0);
    EXPECT_EQ(answered + closed, 100);
    clients.clear();
    SocketClient again(addr);
    again.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_NE(again.recv_until("Hello, world!\n", 5s).find("Hello, world!\n"), std::string::npos);
    EXPECT_NE(read_file(p.log_path()).find("Too many open files"), std::string::npos);
}

}  // namespace
}  // namespace postern::test
