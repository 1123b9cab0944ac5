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

#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "echo_reply.hpp"
#include "socket_client.hpp"
#include "stack.hpp"
#include "stack_suite.hpp"

namespace postern::test {
namespace {

using namespace std::chrono_literals;

struct Answer {
    int status = 0;
    std::string body;
};

/// One GET over a fresh connection from `source` to 127.0.0.1:`port`,
/// HTTP/1.0; the whole answer, read to the close under a deadline.
Answer get_from(const char* source, int port, const std::string& target) {
    const std::string address = "127.0.0.1:" + std::to_string(port);
    SocketClient c(address, source);
    // HTTP/1.0: the answer ends with the close, never chunked.
    c.send("GET " + target + " HTTP/1.0\r\nHost: " + address + "\r\n\r\n");
    const std::string in = c.recv_until_close(20s);
    if (!c.closed())
        throw std::runtime_error("no complete answer within 20 s: " + in);
    // "HTTP/1.1 403 Forbidden\r\n..."
    if (in.size() < 12 || in.compare(0, 5, "HTTP/") != 0)
        throw std::runtime_error("not an HTTP answer: " + in);
    Answer a;
    a.status = std::atoi(in.c_str() + 9);
    const auto body = in.find("\r\n\r\n");
    a.body = body == std::string::npos ? std::string() : in.substr(body + 4);
    return a;
}

/// The shipped snippets: every single-gateway topology but direct HTTP, and
/// every pool (the stack gives the second mod_jk topology, the jk balancer,
/// an Apache of its own: mod_jk's settings are server-wide).
std::vector<Topology> every_snippet() {
    std::vector<Topology> list;
    for (const auto& t : shipped_topologies())
        if (t.front_end != FrontEnd::direct)
            list.push_back(t);
    for (const auto& t : pool_topologies())
        list.push_back(t);
    return list;
}

class StatusThroughEverySnippet : public StackSuite<StatusThroughEverySnippet> {
  public:
    static std::unique_ptr<Stack> make_stack() {
        Stack::Options options;
        options.gateway_args = {"--status", "/postern-status"};
        return std::make_unique<Stack>(every_snippet(), options);
    }

  protected:
    bool cgi() const { return std::string(GetParam().protocol) == "cgi"; }

    /// A normal request from 127.0.0.2 is served: the echo example at /app
    /// (the CGI snippet's only mount, and the stack's).
    void expect_normal_request_served(const std::string& after) {
        const Answer a = get_from("127.0.0.2", endpoint_.port, "/app/after");
        EXPECT_EQ(a.status, 200) << "after " << after << ": " << a.body;
        EXPECT_EQ(EchoReply(a.body).str("path_info"), "/after");
    }
};

TEST_P(StatusThroughEverySnippet, IsRefusedToAnyAddressBut127001) {
    for (const char* target :
         {"/postern-status", "/postern-status?format=prometheus", "//postern-status",
          "/app/../postern-status", "/app/%2e%2e/postern-status", "/postern%2Dstatus"}) {
        SCOPED_TRACE(target);
        const Answer a = get_from("127.0.0.2", endpoint_.port, target);
        EXPECT_EQ(a.status, cgi() ? 404 : 403) << a.body.substr(0, 300);
        EXPECT_EQ(a.body.find("\"workers\""), std::string::npos) << "the counters leaked";
        EXPECT_EQ(a.body.find("postern_requests"), std::string::npos) << "the counters leaked";
        expect_normal_request_served(target);
    }
}

TEST_P(StatusThroughEverySnippet, AnswersOn127001) {
    const Answer json = get_from("127.0.0.1", endpoint_.port, "/postern-status");
    const Answer prometheus =
        get_from("127.0.0.1", endpoint_.port, "/postern-status?format=prometheus");
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
