// Tests how the reactor closes connections whose descriptor outlives the
// close: a callback that forks leaves a copy of the connection's socket in
// the child. The worker that served the connection closes it without
// EPOLL_CTL_DEL, so the registration stays in the epoll set for as long as
// the child holds the socket. A one-shot one (HTTP) is disarmed and cannot
// report; an edge-triggered one (FastCGI on a kept connection) does report
// the bytes or the reset that reach that socket, and those events name the
// connection's slot and a generation that is gone (core/reactor.hpp): they
// must be dropped, never hand a worker a freed connection
// (AddressSanitizer's heap-use-after-free in build-asan) nor the new
// connection that took the slot. New connections that get the same
// descriptor numbers and slots meanwhile are served. A real Server on port
// 0, HTTP and FastCGI.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fcgi_client.hpp"
#include "in_process_gateway.hpp"
#include "postern/postern.hpp"
#include "socket_client.hpp"

namespace postern {
namespace {

using namespace std::chrono_literals;
using test::SocketClient;
namespace fcgi = test::fcgi;

constexpr auto kChildLives = 1500ms;

class ReactorClose : public ::testing::Test {
  protected:
    void SetUp() override {
        gateway_.app().extra = [this](Request& req, Response& res) {
            if (req.path_info() != "/fork")
                return false;
            // The child holds every descriptor of the gateway, this
            // connection's among them, for a while, and touches nothing.
            const pid_t pid = ::fork();
            if (pid == 0) {
                std::this_thread::sleep_for(kChildLives);
                ::_exit(0);
            }
            {
                std::lock_guard lock(mutex_);
                children_.push_back(pid);
            }
            res.write(pid > 0 ? "forked\n" : "fork failed\n");
            return true;
        };
        gateway_.options().threads = 2;
        gateway_.start();
    }
    void TearDown() override {
        gateway_.stop();
        reap();
    }

    /// Waits for every child (each exits after kChildLives).
    void reap() {
        std::lock_guard lock(mutex_);
        for (const pid_t pid : children_) {
            int status = 0;
            EXPECT_EQ(::waitpid(pid, &status, 0), pid);
        }
        children_.clear();
    }

    static bool hello(SocketClient& c) {
        return c.send("GET /app/hello HTTP/1.1\r\nHost: t\r\n\r\n") &&
               c.recv_until("Hello, world!\n", 5s).find("Hello, world!\n") != std::string::npos;
    }

    /// Many new connections (so the closed descriptors' numbers are taken
    /// again) and one kept connection, every request answered.
    void everything_still_served() {
        SocketClient kept = gateway_.connect("http");
        for (int i = 0; i < 30; ++i) {
            SocketClient fresh = gateway_.connect("http");
            ASSERT_TRUE(hello(fresh)) << "new connection " << i;
            ASSERT_TRUE(hello(kept)) << "kept connection, request " << i;
        }
    }

    std::mutex mutex_;
    std::vector<pid_t> children_;
    test::InProcessGateway gateway_{{"http", "fastcgi"}};
};

TEST_F(ReactorClose, ARegistrationLeftByAForkedChildNeverReports) {
    // FastCGI without FCGI_KEEP_CONN: served straight after accept (never
    // in the set), closed by libfcgi after the answer; the front end's later
    // bytes (another request) reach the socket the child still holds.
    std::vector<SocketClient> gone;
    for (int i = 0; i < 4; ++i) {
        gone.push_back(gateway_.connect("fastcgi"));
        fcgi::Request r;
        r.params = fcgi::cgi_params("GET", "/app/fork");
        const fcgi::Response answer = fcgi::round_trip(gone.back(), r, 5s);
        ASSERT_TRUE(answer.ended);
        ASSERT_NE(answer.out.find("forked\n"), std::string::npos);
    }
    // HTTP on kept connections (in the epoll set), the client closes after
    // its answer: the worker that reads the end of file closes the
    // connection without taking it out of the set.
    std::vector<SocketClient> closing;
    for (int i = 0; i < 4; ++i) {
        closing.push_back(gateway_.connect("http"));
        ASSERT_TRUE(hello(closing.back()));
        ASSERT_TRUE(closing.back().send("GET /app/fork HTTP/1.1\r\nHost: t\r\n\r\n"));
        ASSERT_NE(closing.back().recv_until("forked\n", 5s).find("forked\n"), std::string::npos);
        closing.back().shutdown_write();
    }
    // FastCGI with FCGI_KEEP_CONN: in the set, edge-triggered, after a
    // first request; the second forks; the front end closes, and the worker
    // that reads the end of file closes the connection.
    std::vector<SocketClient> kept;
    for (int i = 0; i < 4; ++i) {
        kept.push_back(gateway_.connect("fastcgi"));
        for (const char* path : {"/app/hello", "/app/fork"}) {
            fcgi::Request r;
            r.keep_conn = true;
            r.params = fcgi::cgi_params("GET", path);
            const fcgi::Response answer = fcgi::round_trip(kept.back(), r, 5s);
            ASSERT_TRUE(answer.ended) << path;
            ASSERT_FALSE(answer.connection_closed) << path;
        }
        kept.back().shutdown_write();
    }
    fcgi::Request again;
    again.params = fcgi::cgi_params("GET", "/app/hello");
    for (auto& c : gone)
        c.send(fcgi::encode(again));  // into the child's copy, or refused
    everything_still_served();
    // By now the workers have read those ends of file and closed. A reset
    // makes the child's copies readable and in error: the registrations
    // left behind report it, and the events must be dropped.
    for (auto* group : {&closing, &kept}) {
        for (auto& c : *group) {
            const linger abort{1, 0};
            ::setsockopt(c.fd(), SOL_SOCKET, SO_LINGER, &abort, sizeof(abort));
        }
        group->clear();
    }
    everything_still_served();
    // And once the children have exited (their copies closed).
    reap();
    everything_still_served();
    EXPECT_EQ(gateway_.app().calls(), 12 + 8 + 3 * 60);
}

}  // namespace
}  // namespace postern
