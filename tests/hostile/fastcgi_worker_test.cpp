// The report's attack on the real `postern` executable, one worker process:
// FCGI_GET_VALUES asking for FCGI_MPXS_CONNS eight times, inside a request
// head and on a fresh connection, sent straight to the FastCGI port. The
// worker must answer it, serve the request, and live (before, libfcgi's
// ProcessManagementRecord smashed its stack: "worker N killed by signal 6").
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "fcgi_client.hpp"
#include "process.hpp"
#include "socket_client.hpp"
#include "stack.hpp"

namespace postern::test {
namespace {

using namespace std::chrono_literals;

std::string attack() {
    std::string content;
    for (int i = 0; i < 8; ++i)
        content += fcgi::name_value("FCGI_MPXS_CONNS", "");
    return fcgi::record(fcgi::kGetValues, 0, content);
}

TEST(HostileFastCgiWorker, ManagementRecordsNeverKillAWorker) {
    TempDir dir;
    Gateway::Config config;
    config.mounts = {"/hello=hello"};
    config.protocols = {"fastcgi"};
    config.extra_args = {"--processes", "1"};
    Gateway gateway(dir, "gateway", config);
    const std::string address = gateway.address("fastcgi", false);

    for (int round = 0; round < 3; ++round) {
        // Inside the head, between two FCGI_PARAMS records.
        fcgi::Request r;
        r.params = fcgi::cgi_params("GET", "/hello");
        const std::string params = fcgi::params_stream(1, r.params);
        SocketClient c(address);
        ASSERT_TRUE(c.send(fcgi::begin_request(1) + params.substr(0, params.size() - 8) +
                           attack() + params.substr(params.size() - 8) +
                           fcgi::stdin_stream(1, "")));
        fcgi::ResponseReader reader(c);
        const fcgi::Response& out = reader.read_all(5s);
        ASSERT_TRUE(out.ended) << "round " << round << ": " << out.error << "\n"
                               << read_file(gateway.log_path());
        EXPECT_EQ(fcgi::parse_cgi(out.out).body, "Hello, world!\n");
        ASSERT_EQ(reader.others().size(), 1u);
        EXPECT_EQ(reader.others()[0].type, 10);

        // On a fresh connection, before any request.
        SocketClient fresh(address);
        ASSERT_TRUE(fresh.send(attack()));
        fcgi::ResponseReader answer(fresh);
        answer.read_until([&](const fcgi::Response&) { return !answer.others().empty(); }, 5s);
        ASSERT_EQ(answer.others().size(), 1u) << read_file(gateway.log_path());
        EXPECT_EQ(answer.others()[0].type, 10);
    }

    // The next good request is served, and no worker died.
    SocketClient c(address);
    fcgi::Request r;
    r.params = fcgi::cgi_params("GET", "/hello");
    const fcgi::Response out = fcgi::round_trip(c, r);
    EXPECT_TRUE(out.ended);
    EXPECT_EQ(gateway.stop(), 0);
    const std::string log = read_file(gateway.log_path());
    EXPECT_EQ(log.find("killed by signal"), std::string::npos) << log;
    EXPECT_EQ(log.find("stack smashing"), std::string::npos) << log;
}

}  // namespace
}  // namespace postern::test
