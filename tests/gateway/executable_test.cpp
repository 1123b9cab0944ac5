// The `postern` executable as a user runs it: options, start-up errors, the
// listening socket on descriptor 0, a graceful stop on SIGTERM, worker
// processes, and what systemd hands it (socket activation, NOTIFY_SOCKET).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "fcgi_client.hpp"
#include "load.hpp"
#include "notify_socket.hpp"
#include "process.hpp"
#include "socket_client.hpp"
#include "wait.hpp"

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

/// A listening TCP socket on a free loopback port; its address in `addr`.
int listening_socket(std::string& addr) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 || ::listen(fd, 16) != 0)
        return -1;
    socklen_t len = sizeof(sa);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
    addr = "127.0.0.1:" + std::to_string(ntohs(sa.sin_port));
    return fd;
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
    // serves again. One worker process: the limit is per process. The 100
    // connections are all open before any sends: deferred accept would keep
    // them from the gateway until then (defer_accept_test), so it is off.
    int port = free_port();
    std::string addr = "127.0.0.1:" + std::to_string(port);
    Process p;
    p.start({"/usr/bin/prlimit", "--nofile=64:64", postern_bin(), "--app", example("hello"),
             "--listen", "http=" + addr, "--access-log", "off", "--threads", "2", "--processes",
             "1", "--defer-accept", "0"},
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

TEST_F(Executable, AModuleThatDoesNotLoadStopsWorkerProcessesWithOneLine) {
    // Every worker fails the same way: one line, exit 1, no respawning.
    std::string not_module = dir.file("broken.so");
    write_file(not_module, "not a shared object\n");
    auto [st, out] = run({"--app", not_module, "--listen", "http=127.0.0.1:0", "--processes", "3"});
    EXPECT_EQ(describe_wait_status(st), "exited 1");
    EXPECT_EQ(count_lines(out), 1u) << out;
    EXPECT_NE(out.find("cannot load module " + not_module), std::string::npos) << out;
}

TEST_F(Executable, ProcessesZeroServesInThisProcessAndIgnoresSighup) {
    int port = free_port();
    std::string addr = "127.0.0.1:" + std::to_string(port);
    Process p;
    p.start({postern_bin(), "--app", example("hello"), "--listen", "http=" + addr, "--access-log",
             "off", "--processes", "0"},
            {}, dir.file("single.log"));
    ASSERT_TRUE(wait_for_listener(addr)) << tail_file(p.log_path());
    EXPECT_TRUE(children_of(p.pid()).empty()) << "--processes 0 forks no worker";
    p.signal(SIGHUP);
    SocketClient client(addr);
    client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_NE(client.recv_until("Hello, world!\n", 5s).find("Hello"), std::string::npos);
    EXPECT_TRUE(p.running()) << tail_file(p.log_path());
    EXPECT_EQ(describe_wait_status(p.stop()), "exited 0");
    EXPECT_NE(read_file(p.log_path()).find("received SIGHUP: reloading takes worker processes"),
              std::string::npos);
}

TEST_F(Executable, SigquitKillsTheWorkersAtOnce) {
    int port = free_port();
    std::string addr = "127.0.0.1:" + std::to_string(port);
    Process p;
    p.start({postern_bin(), "--mount", "/f=" + example("faults"), "--listen", "http=" + addr,
             "--access-log", "off", "--processes", "2", "--drain-timeout", "60000"},
            {}, dir.file("quit.log"));
    ASSERT_TRUE(wait_for_listener(addr)) << tail_file(p.log_path());
    SocketClient client(addr);
    client.send("GET /f/sleep?ms=30000&flush=1 HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_NE(client.recv_until("\r\n\r\n", 10s).find("200 OK"), std::string::npos)
        << tail_file(p.log_path());
    // The first worker may answer before the supervisor has forked the
    // second.
    std::set<pid_t> workers;
    wait_until(
        [&] {
            workers = children_of(p.pid());
            return workers.size() == 2;
        },
        10s);
    EXPECT_EQ(workers.size(), 2u);
    p.signal(SIGQUIT);
    // Well before the 30 s sleep or the 60 s drain time: nothing waits.
    auto status = p.wait(10s);
    ASSERT_TRUE(status.has_value()) << tail_file(p.log_path());
    EXPECT_EQ(describe_wait_status(*status), "exited 0");
    EXPECT_TRUE(client.wait_closed(5s)) << "the request in flight was cut";
    for (pid_t w : workers)
        EXPECT_NE(::kill(w, 0), 0) << "worker " << w << " outlived the master";
}

TEST_F(Executable, ServesSocketsPassedBySystemdAndNotifiesReadiness) {
    // What systemd does for postern.socket + postern.service (Type=notify):
    // the listening socket on descriptor 3, LISTEN_FDS=1, LISTEN_PID=the
    // service's pid, NOTIFY_SOCKET for sd_notify.
    std::string addr;
    int lfd = listening_socket(addr);
    ASSERT_GE(lfd, 0);
    const std::string notify_path = dir.file("notify.sock");
    NotifySocket systemd(notify_path);
    std::string bin = postern_bin();
    std::string mod = example("hello");
    std::string log = dir.file("systemd.log");
    // Everything the child needs is made before fork; LISTEN_PID is filled
    // in by the child (its own pid, kept across exec).
    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; ++e)
        env_strings.emplace_back(*e);
    env_strings.push_back("LISTEN_FDS=1");
    env_strings.push_back("NOTIFY_SOCKET=" + notify_path);
    char listen_pid[32] = "LISTEN_PID=";
    std::vector<char*> envp;
    for (auto& e : env_strings)
        envp.push_back(e.data());
    envp.push_back(listen_pid);
    envp.push_back(nullptr);
    const char* argv[] = {bin.c_str(), "--app",        mod.c_str(), "--processes",
                          "2",         "--access-log", "off",       nullptr};
    int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        // Async-signal-safe only: the pid in decimal, by hand.
        char digits[16];
        int n = 0;
        for (pid_t v = ::getpid(); v > 0; v /= 10)
            digits[n++] = static_cast<char>('0' + v % 10);
        char* p = listen_pid + std::strlen("LISTEN_PID=");
        while (n > 0)
            *p++ = digits[--n];
        *p = '\0';
        ::dup2(out, 1);
        ::dup2(out, 2);
        if (lfd != 3) {
            ::dup2(lfd, 3);
            ::close(lfd);
        }
        ::execve(bin.c_str(), const_cast<char* const*>(argv), envp.data());
        ::_exit(127);
    }
    ::close(out);
    const std::string ready = systemd.receive();
    EXPECT_EQ(ready.rfind("READY=1\n", 0), 0u) << ready << tail_file(log);
    EXPECT_NE(ready.find("STATUS=2 worker processes serving"), std::string::npos) << ready;
    SocketClient client(addr);
    fcgi::Request req;
    req.params = fcgi::cgi_params("GET", "/");
    fcgi::Response res = fcgi::round_trip(client, req);
    EXPECT_TRUE(res.ended) << tail_file(log);
    EXPECT_EQ(fcgi::parse_cgi(res.out).body, "Hello, world!\n");
    ::kill(pid, SIGTERM);
    EXPECT_EQ(systemd.receive(), "STOPPING=1");
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_EQ(describe_wait_status(status), "exited 0") << tail_file(log);
    EXPECT_NE(read_file(log).find("listening on fastcgi=" + addr), std::string::npos)
        << "fastcgi by default, named by its address: " << read_file(log);
    ::close(lfd);
}

}  // namespace
}  // namespace postern::test
