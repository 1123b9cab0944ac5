// Tests Options::status_path (--status): a real Server on port 0 counts
// what it serves and refuses, and answers the status page in JSON and in
// the Prometheus text format, over raw sockets.
#include <gtest/gtest.h>

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <chrono>
#include <memory>
#include <string>

#include "fcgi_client.hpp"
#include "in_process_gateway.hpp"
#include "postern/postern.hpp"
#include "socket_client.hpp"

namespace postern {
namespace {

using namespace std::chrono_literals;
using test::SocketClient;

struct Reply {
    int status = 0;
    std::string head;
    std::string body;
};

/// One request on a new connection that the server closes after answering.
Reply ask(const std::string& address, const std::string& request) {
    SocketClient c(address);
    c.send(request);
    const std::string raw = c.recv_until_close(5s);
    Reply r;
    const auto end = raw.find("\r\n\r\n");
    if (raw.size() < 12 || end == std::string::npos)
        return r;
    r.status = std::stoi(raw.substr(9, 3));
    r.head = raw.substr(0, end);
    r.body = raw.substr(end + 4);
    return r;
}

std::string get(const std::string& target) {
    return "GET " + target + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
}

class StatusPage : public ::testing::Test {
  protected:
    void start(std::size_t max_connections = 100) {
        Options& o = gateway_.options();
        o.mounts = {{"/app",
                     [](Request& req, Response& res) {
                         char buf[4096];
                         std::size_t n = 0;
                         while ((n = req.read(buf, sizeof(buf))) > 0) {
                         }
                         res.write("hello\n");
                     },
                     "test"}};
        o.status_path = "/status";
        o.limits.max_connections = max_connections;
        o.drain_timeout = 1s;
        gateway_.start();
        address_ = gateway_.address();
    }

    Poco::JSON::Object::Ptr status_json() {
        const Reply r = ask(address_, get("/status"));
        EXPECT_EQ(r.status, 200) << r.head;
        EXPECT_NE(r.head.find("Content-Type: application/json"), std::string::npos) << r.head;
        Poco::JSON::Parser parser;
        return parser.parse(r.body).extract<Poco::JSON::Object::Ptr>();
    }

    test::InProcessGateway gateway_{{"http"}};
    std::string address_;
};

TEST_F(StatusPage, CountsRequestsRefusalsAndBytesOfTheListener) {
    start();
    for (int i = 0; i < 3; ++i)
        EXPECT_EQ(ask(address_, get("/app/x")).status, 200);
    EXPECT_EQ(ask(address_,
                  "POST /app HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                  "Content-Length: 10\r\n\r\n0123456789")
                  .status,
              200);
    EXPECT_EQ(ask(address_, get("/elsewhere")).status, 404);
    // Malformed: a space before a header's colon (RFC 9112 §5.1).
    EXPECT_EQ(ask(address_, "GET /app HTTP/1.1\r\nHost : t\r\n\r\n").status, 400);

    auto root = status_json();
    ASSERT_TRUE(root);
    EXPECT_EQ(root->getValue<int>("processes"), 0);
    auto listeners = root->getArray("listeners");
    ASSERT_EQ(listeners->size(), 1u);
    auto l = listeners->getObject(0);
    EXPECT_EQ(l->getValue<std::string>("name"), "http=" + address_);
    EXPECT_EQ(l->getValue<std::string>("protocol"), "http");
    // The status request itself is the one in flight.
    EXPECT_EQ(l->getValue<int>("requests"), 6);
    EXPECT_EQ(l->getValue<int>("in_flight"), 1);
    EXPECT_EQ(l->getObject("responses")->getValue<int>("2xx"), 4);
    EXPECT_EQ(l->getObject("responses")->getValue<int>("4xx"), 2);
    EXPECT_EQ(l->getObject("malformed")->getValue<int>("bad_request"), 1);
    EXPECT_EQ(l->getValue<int>("bytes_received"), 10);
    EXPECT_EQ(l->getValue<int>("bytes_sent"), 4 * 6 + 14 + 16);  // 4 hellos, 404 and 400 pages
    EXPECT_EQ(l->getObject("latency")->getValue<int>("count"), 6);
    auto workers = root->getArray("workers");
    ASSERT_EQ(workers->size(), 1u);
    EXPECT_EQ(workers->getObject(0)->getValue<int>("requests"), 6);

    // The next status request counts the previous one.
    root = status_json();
    EXPECT_EQ(root->getObject("totals")->getValue<int>("requests"), 7);
}

TEST_F(StatusPage, PrometheusFormatAndBadRequestsForThePage) {
    start();
    EXPECT_EQ(ask(address_, get("/app")).status, 200);
    Reply r = ask(address_, get("/status?format=prometheus"));
    EXPECT_EQ(r.status, 200);
    EXPECT_NE(r.head.find("Content-Type: text/plain; version=0.0.4"), std::string::npos);
    EXPECT_NE(r.body.find("postern_requests_total{listener=\"http=" + address_ +
                          "\",protocol=\"http\",class=\"2xx\"} 1\n"),
              std::string::npos)
        << r.body;
    EXPECT_NE(r.body.find("# TYPE postern_request_duration_seconds histogram\n"),
              std::string::npos);

    r = ask(address_, get("/status?format=xml"));
    EXPECT_EQ(r.status, 400);
    r = ask(address_,
            "POST /status HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
            "Content-Length: 0\r\n\r\n");
    EXPECT_EQ(r.status, 405);
    EXPECT_NE(r.head.find("Allow: GET, HEAD"), std::string::npos) << r.head;
    // A path below it is not the page: it goes to the mount table.
    EXPECT_EQ(ask(address_, get("/status/x")).status, 404);
    EXPECT_EQ(ask(address_, get("/app")).status, 200);
}

TEST_F(StatusPage, CountsConnectionsRefusedAtTheLimit) {
    start(1);
    SocketClient held(address_);
    ASSERT_TRUE(held.send("GET /app HTTP/1.1\r\nHost: t\r\n\r\n"));
    ASSERT_NE(held.recv_until("hello\n", 5s).find("hello\n"), std::string::npos);
    // The one connection allowed is open: the next is answered 503.
    EXPECT_EQ(ask(address_, get("/app")).status, 503);
    // Its status request on the connection held open.
    ASSERT_TRUE(held.send("GET /status HTTP/1.1\r\nHost: t\r\n\r\n"));
    const std::string raw = held.recv_until("]}\n", 5s);
    Poco::JSON::Parser parser;
    auto root =
        parser.parse(raw.substr(raw.find("\r\n\r\n") + 4)).extract<Poco::JSON::Object::Ptr>();
    auto refused = root->getObject("totals")->getObject("refused_connections");
    EXPECT_EQ(refused->getValue<int>("overloaded"), 1);
    EXPECT_EQ(refused->getValue<int>("not_allowed"), 0);
}

TEST_F(StatusPage, ABodyCutShortIsCountedAsMalformed) {
    start();
    {
        // Larger than what is collected before dispatch: read by the
        // callback, which sees the body end early.
        SocketClient c(address_);
        ASSERT_TRUE(c.send("POST /app HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n" +
                           std::string(1000, 'x')));
        c.shutdown_write();
        EXPECT_EQ(c.recv_until_close(5s).rfind("HTTP/1.1 400", 0), 0u);
    }
    EXPECT_EQ(ask(address_, get("/app")).status, 200);
    auto l = status_json()->getArray("listeners")->getObject(0);
    EXPECT_EQ(l->getObject("malformed")->getValue<int>("bad_request"), 1);
    EXPECT_EQ(l->getObject("responses")->getValue<int>("4xx"), 1);
}

TEST(StatusPageListeners, MalformedFastCgiInputIsCountedOnItsListener) {
    test::InProcessGateway gateway({"http", "fastcgi"});
    gateway.options().mounts = {{"/", [](Request&, Response& res) { res.write("app\n"); }, "test"}};
    gateway.options().status_path = "/status";
    gateway.start();
    const std::string http = gateway.address("http");
    const std::string fcgi = gateway.address("fastcgi");
    test::fcgi::Request good;
    good.params = test::fcgi::cgi_params("GET", "/x");
    {
        // A record with version byte 2: dropped with the connection.
        std::string bytes = test::fcgi::encode(good);
        bytes[0] = 2;
        SocketClient c(fcgi);
        c.send(bytes);
        EXPECT_TRUE(c.wait_closed(5s));
    }
    {
        SocketClient c(fcgi);
        const auto res = test::fcgi::round_trip(c, good);
        EXPECT_EQ(test::fcgi::parse_cgi(res.out).body, "app\n");
    }
    const Reply r = ask(http, get("/status"));
    Poco::JSON::Parser parser;
    auto root = parser.parse(r.body).extract<Poco::JSON::Object::Ptr>();
    auto l = root->getArray("listeners")->getObject(1);
    EXPECT_EQ(l->getValue<std::string>("name"), "fastcgi=" + fcgi);
    EXPECT_EQ(l->getObject("malformed")->getValue<int>("bad_request"), 1);
    EXPECT_EQ(l->getObject("responses")->getValue<int>("2xx"), 1);
    gateway.stop();
}

TEST(StatusPageOff, WithoutAStatusPathThePathIsTheApplications) {
    test::InProcessGateway gateway({"http"});
    gateway.options().mounts = {{"/", [](Request&, Response& res) { res.write("app\n"); }, "test"}};
    gateway.options().threads = 1;
    gateway.start();
    const Reply r = ask(gateway.address(), get("/status"));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "app\n");
    gateway.stop();
}

}  // namespace
}  // namespace postern
