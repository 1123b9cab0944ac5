// Hostile, through every shipped snippet (issue 12, item 7): a gateway
// started with --status /postern-status behind each nginx-conf/ and
// apache-conf/ snippet as shipped, the single-gateway ones and the pools.
// From 127.0.0.2 (a loopback address that is not 127.0.0.1, as a client on
// another host would be to a rule that names 127.0.0.1) the page is
// refused with 403, on its own path and on every spelling the front end
// normalises to it; from 127.0.0.1 it answers 200 with the counters; and a
// normal request from 127.0.0.2 is served after each refusal.
// apache-conf/postern-cgi.conf runs postern-cgi, which has no status page:
// the path answers 404 from either address.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "echo_reply.hpp"
#include "stack.hpp"

namespace postern::test {
namespace {

using Clock = std::chrono::steady_clock;

struct Answer {
    int status = 0;
    std::string body;
};

/// One GET over a fresh connection from `source` (bound before connecting)
/// to 127.0.0.1:`port`, HTTP/1.0; the whole answer, read to the close
/// under a deadline.
Answer get_from(const char* source, int port, const std::string& target) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        throw std::runtime_error("socket() failed");
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    sockaddr_in from{};
    from.sin_family = AF_INET;
    ::inet_pton(AF_INET, source, &from.sin_addr);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof(from)) != 0)
        throw std::runtime_error(std::string("cannot bind to ") + source);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<std::uint16_t>(port));
    ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0)
        throw std::runtime_error("cannot connect to port " + std::to_string(port));
    // HTTP/1.0: the answer ends with the close, never chunked.
    const std::string request =
        "GET " + target + " HTTP/1.0\r\nHost: 127.0.0.1:" + std::to_string(port) + "\r\n\r\n";
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(request.size()))
        throw std::runtime_error("cannot send the request");
    std::string in;
    const auto deadline = Clock::now() + std::chrono::seconds(20);
    for (;;) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0)
            throw std::runtime_error("no complete answer within 20 s: " + in);
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0)
            continue;
        char buf[16384];
        const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
        if (n <= 0)
            break;
        in.append(buf, static_cast<std::size_t>(n));
    }
    // "HTTP/1.1 403 Forbidden\r\n..."
    if (in.size() < 12 || in.compare(0, 5, "HTTP/") != 0)
        throw std::runtime_error("not an HTTP answer: " + in);
    Answer a;
    a.status = std::atoi(in.c_str() + 9);
    const auto body = in.find("\r\n\r\n");
    a.body = body == std::string::npos ? std::string() : in.substr(body + 4);
    return a;
}

/// The shipped snippets: every single-gateway topology but direct HTTP,
/// and every pool. Two stacks, as mod_jk's settings are server-wide: the
/// jk balancer gets an Apache of its own.
std::vector<Topology> first_stack() {
    std::vector<Topology> list;
    for (const auto& t : shipped_topologies())
        if (t.front_end != FrontEnd::direct)
            list.push_back(t);
    for (const auto& t : pool_topologies())
        if (std::string(t.name) != "apache_jk_balancer")
            list.push_back(t);
    return list;
}
std::vector<Topology> second_stack() {
    std::vector<Topology> list;
    for (const auto& t : pool_topologies())
        if (std::string(t.name) == "apache_jk_balancer")
            list.push_back(t);
    return list;
}
std::vector<Topology> every_snippet() {
    std::vector<Topology> list = first_stack();
    for (const auto& t : second_stack())
        list.push_back(t);
    return list;
}

class StatusThroughEverySnippet : public ::testing::TestWithParam<Topology> {
  protected:
    static void SetUpTestSuite() {
        Stack::Options options;
        options.gateway_args = {"--status", "/postern-status"};
        try {
            stacks_.push_back(std::make_unique<Stack>(first_stack(), options));
            stacks_.push_back(std::make_unique<Stack>(second_stack(), options));
        } catch (const std::exception& e) {
            startup_error_ = e.what();
        }
    }

    static void TearDownTestSuite() {
        for (auto& stack : stacks_) {
            const auto problems = stack->stop();
            for (const auto& p : problems)
                ADD_FAILURE() << p;
            if (failed_ || !problems.empty())
                std::fprintf(stderr, "%s", stack->log_tails().c_str());
            if (std::getenv("POSTERN_KEEP_TEMP") != nullptr) {
                stack->keep_dir();
                std::fprintf(stderr, "kept %s\n", stack->dir().path().c_str());
            }
        }
        stacks_.clear();
    }

    void SetUp() override {
        ASSERT_EQ(stacks_.size(), 2u) << "the test stacks did not start: " << startup_error_;
        Stack& stack =
            std::string(GetParam().name) == "apache_jk_balancer" ? *stacks_[1] : *stacks_[0];
        try {
            port_ = stack.endpoint(GetParam()).port;
        } catch (const std::exception& e) {
            FAIL() << "cannot start the front end of " << GetParam().name << ": " << e.what();
        }
    }

    void TearDown() override {
        if (HasFailure())
            failed_ = true;
    }

    bool cgi() const { return std::string(GetParam().protocol) == "cgi"; }

    /// A normal request from 127.0.0.2 is served: the echo example at /app
    /// (the CGI snippet's only mount, and the stack's).
    void expect_normal_request_served(const std::string& after) {
        const Answer a = get_from("127.0.0.2", port_, "/app/after");
        EXPECT_EQ(a.status, 200) << "after " << after << ": " << a.body;
        EXPECT_EQ(EchoReply(a.body).str("path_info"), "/after");
    }

    static std::vector<std::unique_ptr<Stack>> stacks_;
    static std::string startup_error_;
    static bool failed_;
    int port_ = 0;
};

std::vector<std::unique_ptr<Stack>> StatusThroughEverySnippet::stacks_;
std::string StatusThroughEverySnippet::startup_error_;
bool StatusThroughEverySnippet::failed_ = false;

TEST_P(StatusThroughEverySnippet, IsRefusedToAnyAddressBut127001) {
    for (const char* target :
         {"/postern-status", "/postern-status?format=prometheus", "//postern-status",
          "/app/../postern-status", "/app/%2e%2e/postern-status", "/postern%2Dstatus"}) {
        SCOPED_TRACE(target);
        const Answer a = get_from("127.0.0.2", port_, target);
        EXPECT_EQ(a.status, cgi() ? 404 : 403) << a.body.substr(0, 300);
        EXPECT_EQ(a.body.find("\"workers\""), std::string::npos) << "the counters leaked";
        EXPECT_EQ(a.body.find("postern_requests"), std::string::npos) << "the counters leaked";
        expect_normal_request_served(target);
    }
}

TEST_P(StatusThroughEverySnippet, AnswersOn127001) {
    const Answer json = get_from("127.0.0.1", port_, "/postern-status");
    const Answer prometheus = get_from("127.0.0.1", port_, "/postern-status?format=prometheus");
    if (cgi()) {
        EXPECT_EQ(json.status, 404);
    } else {
        EXPECT_EQ(json.status, 200) << json.body.substr(0, 300);
        EXPECT_NE(json.body.find("\"workers\""), std::string::npos) << json.body.substr(0, 300);
        EXPECT_EQ(prometheus.status, 200);
        EXPECT_NE(prometheus.body.find("postern_"), std::string::npos)
            << prometheus.body.substr(0, 300);
    }
    expect_normal_request_served("the status page");
}

INSTANTIATE_TEST_SUITE_P(Shipped, StatusThroughEverySnippet, ::testing::ValuesIn(every_snippet()),
                         [](const ::testing::TestParamInfo<Topology>& info) {
                             return std::string(info.param.name);
                         });

}  // namespace
}  // namespace postern::test
