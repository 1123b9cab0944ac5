// Hostile FastCGI input against a real Server on 127.0.0.1:0: management
// records before, between and inside requests (libfcgi 2.4.2's
// ProcessManagementRecord smashes its stack on eight FCGI_MPXS_CONNS names:
// were any to reach it, this test process would abort), bad record headers
// after the head, and the params limit counted as the front end sent them.
// Every case ends with a good request on the same gateway.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <utility>

#include "fcgi_client.hpp"
#include "in_process_gateway.hpp"
#include "postern/server.hpp"
#include "socket_client.hpp"

namespace postern {
namespace {

using namespace std::chrono_literals;
namespace wire = test::fcgi;
using test::SocketClient;

std::string get_values(int times, std::string_view name) {
    std::string content;
    for (int i = 0; i < times; ++i)
        content += wire::name_value(name, "");
    return wire::record(wire::kGetValues, 0, content);
}

void set_param(wire::Params& params, const std::string& name, const std::string& value) {
    for (auto& [k, v] : params)
        if (k == name) {
            v = value;
            return;
        }
    params.emplace_back(name, value);
}

/// The pairs of an FCGI_GET_VALUES_RESULT's content.
wire::Params pairs_of(std::string_view content) {
    wire::Params out;
    std::size_t at = 0;
    const auto length = [&] {
        std::size_t n = static_cast<unsigned char>(content.at(at));
        if (n & 0x80) {
            n = ((n & 0x7f) << 24) |
                (std::size_t{static_cast<unsigned char>(content.at(at + 1))} << 16) |
                (std::size_t{static_cast<unsigned char>(content.at(at + 2))} << 8) |
                static_cast<unsigned char>(content.at(at + 3));
            at += 4;
        } else {
            ++at;
        }
        return n;
    };
    while (at < content.size()) {
        const std::size_t n = length();
        const std::size_t v = length();
        out.emplace_back(std::string(content.substr(at, n)),
                         std::string(content.substr(at + n, v)));
        at += n + v;
    }
    return out;
}

class HostileFastCgi : public ::testing::Test {
  protected:
    HostileFastCgi() {
        options_.mounts = {{"/app",
                            [this](Request& req, Response& res) {
                                res.header("Content-Type", "text/plain");
                                started_ = true;
                                if (req.path_info() == "/body") {
                                    res.write("body=" + req.read_all(1 << 20));
                                    return;
                                }
                                if (req.path_info() == "/environ") {
                                    // Every variable as LENGTH:NAME
                                    // LENGTH:VALUE: values may hold any byte.
                                    std::string out;
                                    for (const auto& [k, v] : req.environ())
                                        out += std::to_string(k.size()) + ':' + k +
                                               std::to_string(v.size()) + ':' + v;
                                    res.write(out);
                                    return;
                                }
                                if (req.path_info() == "/body-on-another-thread") {
                                    std::string body;
                                    std::thread([&] { body = req.read_all(1 << 20); }).join();
                                    res.write("body=" + body);
                                    return;
                                }
                                res.write("Hello, world!\n");
                            },
                            "test"}};
        options_.threads = 4;
        options_.limits.max_connections = 777;
        options_.limits.read_timeout = 3000ms;
        options_.drain_timeout = 2000ms;
    }
    void start() {
        gateway_.start();
        address_ = gateway_.address();
    }
    SocketClient connect() const { return SocketClient(address_); }

    static wire::Request get(std::string uri, bool keep_conn = false) {
        wire::Request r;
        r.keep_conn = keep_conn;
        r.params = wire::cgi_params("GET", uri);
        return r;
    }

    /// A good request on a new connection is served.
    void expect_served() const {
        SocketClient c = connect();
        const wire::Response r = wire::round_trip(c, get("/app/hello"));
        EXPECT_TRUE(r.ended) << r.error;
        EXPECT_EQ(wire::parse_cgi(r.out).body, "Hello, world!\n");
    }

    std::atomic<bool> started_{false};  // before the gateway: its callbacks use it
    test::InProcessGateway gateway_{{"fastcgi"}};
    Options& options_ = gateway_.options();
    std::string address_;
};

// The input of the report: BEGIN_REQUEST, some PARAMS, then FCGI_GET_VALUES
// asking for FCGI_MPXS_CONNS eight times (136 bytes); then the rest.
TEST_F(HostileFastCgi, GetValuesInsideTheHeadIsAnsweredOnceAndTheRequestServed) {
    start();
    const std::string attack = get_values(8, "FCGI_MPXS_CONNS");
    ASSERT_EQ(attack.size(), 8u + 136);
    const wire::Request r = get("/app/hello");
    const std::string begin = wire::begin_request(1);
    const std::string params = wire::params_stream(1, r.params);  // ends with the empty record
    const std::string bytes = begin + params.substr(0, params.size() - 8) + attack +
                              params.substr(params.size() - 8) + wire::stdin_stream(1, "");
    SocketClient c = connect();
    ASSERT_TRUE(c.send(bytes));
    wire::ResponseReader reader(c);
    const wire::Response& out = reader.read_all(5s);
    ASSERT_TRUE(out.ended) << out.error;
    EXPECT_EQ(wire::parse_cgi(out.out).body, "Hello, world!\n");
    ASSERT_EQ(reader.others().size(), 1u);
    EXPECT_EQ(reader.others()[0].type, 10);  // FCGI_GET_VALUES_RESULT
    EXPECT_EQ(reader.others()[0].request_id, 0);
    EXPECT_EQ(pairs_of(reader.others()[0].content), (wire::Params{{"FCGI_MPXS_CONNS", "0"}}));
    expect_served();
}

// The adapter decodes the params itself from what the validator passed:
// pairs cut across records of a few bytes, records with padding, a
// management record between two of them, a value of four-byte length, '='
// and a newline in a value, and a NUL inside one (kept, as over uwsgi: the
// lengths say where a value ends) reach the callback exactly as sent, and
// the kept connection serves the next request.
TEST_F(HostileFastCgi, ParamsCutIntoTinyRecordsArriveExactlyAsSent) {
    start();
    wire::Request r = get("/app/environ", true);
    const std::string big(70000, 'b');  // over one record's 65535 bytes
    set_param(r.params, "HTTP_X_BIG", big);
    set_param(r.params, "HTTP_X_ODD", std::string("a=b\nc\0d", 7));
    std::string pairs;
    for (const auto& [name, value] : r.params)
        pairs += wire::name_value(name, value);
    std::string head = wire::begin_request(1, true);
    std::size_t records = 0;
    for (std::size_t at = 0; at < pairs.size(); ++records) {
        // 5 bytes, then larger pieces, so the long value needs few records.
        const std::size_t n = records < 200 ? 5 : 60000;
        head += wire::record(wire::kParams, 1, std::string_view(pairs).substr(at, n), 3);
        if (records == 3)
            head += get_values(1, "FCGI_MAX_CONNS");
        at += n;
    }
    head += wire::record(wire::kParams, 1, "");
    SocketClient c = connect();
    ASSERT_TRUE(c.send(head + wire::stdin_stream(1, "")));
    wire::ResponseReader reader(c);
    const wire::Response& out = reader.read_all(5s);
    ASSERT_TRUE(out.ended) << out.error;
    const std::string body = wire::parse_cgi(out.out).body;
    wire::Params seen;
    std::size_t at = 0;
    const auto field = [&] {
        const std::size_t colon = body.find(':', at);
        const std::size_t n = std::stoul(body.substr(at, colon - at));
        std::string out = body.substr(colon + 1, n);
        at = colon + 1 + n;
        return out;
    };
    while (at < body.size()) {
        std::string name = field();
        seen.emplace_back(std::move(name), field());
    }
    for (const auto& [name, value] : r.params) {
        if (name == "SCRIPT_NAME" || name == "PATH_INFO" || name == "PATH_TRANSLATED")
            continue;  // the core's, from the mount
        const auto it =
            std::find_if(seen.begin(), seen.end(), [&](const auto& p) { return p.first == name; });
        ASSERT_NE(it, seen.end()) << name;
        EXPECT_EQ(it->second, value) << name;
    }
    EXPECT_EQ(std::count_if(seen.begin(), seen.end(),
                            [](const auto& p) { return p.first == "FCGI_ROLE"; }),
              0);
    ASSERT_EQ(reader.others().size(), 1u);  // the FCGI_GET_VALUES_RESULT
    EXPECT_EQ(pairs_of(reader.others()[0].content), (wire::Params{{"FCGI_MAX_CONNS", "777"}}));
    // The same connection serves the next request.
    const wire::Response again = wire::round_trip(c, get("/app/hello", true));
    ASSERT_TRUE(again.ended) << again.error;
    EXPECT_EQ(wire::parse_cgi(again.out).body, "Hello, world!\n");
    expect_served();
}

TEST_F(HostileFastCgi, GetValuesBetweenTwoStdinRecordsIsAnsweredAndTheBodyKeptWhole) {
    start();
    for (const char* path : {"/app/body", "/app/body-on-another-thread"}) {
        SCOPED_TRACE(path);
        wire::Request r = get(path);
        set_param(r.params, "CONTENT_LENGTH", "80010");
        set_param(r.params, "REQUEST_METHOD", "POST");
        // The rest of the body comes once the callback runs, so that libfcgi
        // reads it then, on the thread that asks for it: the first part is
        // more than the gateway collects before it dispatches.
        started_ = false;
        SocketClient c = connect();
        ASSERT_TRUE(c.send(wire::begin_request(1) + wire::params_stream(1, r.params) +
                           wire::record(wire::kStdin, 1, std::string(40000, 'a')) +
                           wire::record(wire::kStdin, 1, std::string(40000, 'b')) +
                           wire::record(wire::kStdin, 1, "01234")));
        const auto deadline = std::chrono::steady_clock::now() + 5s;
        while (!started_ && std::chrono::steady_clock::now() < deadline)
            std::this_thread::yield();
        ASSERT_TRUE(started_);
        ASSERT_TRUE(c.send(get_values(8, "FCGI_MPXS_CONNS") +
                           wire::record(wire::kStdin, 1, "56789") +
                           wire::record(wire::kStdin, 1, "")));
        wire::ResponseReader reader(c);
        const wire::Response& out = reader.read_all(5s);
        ASSERT_TRUE(out.ended) << out.error;
        EXPECT_EQ(wire::parse_cgi(out.out).body,
                  "body=" + std::string(40000, 'a') + std::string(40000, 'b') + "0123456789");
        ASSERT_EQ(reader.others().size(), 1u);
        EXPECT_EQ(pairs_of(reader.others()[0].content), (wire::Params{{"FCGI_MPXS_CONNS", "0"}}));
    }
    expect_served();
}

// FastCGI 1.0 §4.1: the application answers FCGI_GET_VALUES on any
// connection, also one that never sends a request; the connection stays
// usable, between requests too.
TEST_F(HostileFastCgi, GetValuesOnAFreshConnectionIsAnsweredAndTheConnectionStaysUsable) {
    start();
    SocketClient c = connect();
    ASSERT_TRUE(c.send(wire::record(
        wire::kGetValues, 0,
        wire::name_value("FCGI_MAX_CONNS", "") + wire::name_value("FCGI_MAX_REQS", "") +
            wire::name_value("FCGI_MPXS_CONNS", "") + wire::name_value("FCGI_OTHER", ""))));
    {
        wire::ResponseReader reader(c);
        reader.read_until([&](const wire::Response&) { return !reader.others().empty(); }, 5s);
        ASSERT_EQ(reader.others().size(), 1u);
        EXPECT_EQ(reader.others()[0].type, 10);
        EXPECT_EQ(pairs_of(reader.others()[0].content), (wire::Params{{"FCGI_MAX_CONNS", "777"},
                                                                      {"FCGI_MAX_REQS", "4"},
                                                                      {"FCGI_MPXS_CONNS", "0"}}));
    }
    // The same connection serves a request, then answers again between two.
    for (int round = 0; round < 2; ++round) {
        const wire::Response r = wire::round_trip(c, get("/app/hello", true));
        ASSERT_TRUE(r.ended) << "round " << round << ": " << r.error;
        EXPECT_EQ(wire::parse_cgi(r.out).body, "Hello, world!\n");
        ASSERT_TRUE(c.send(get_values(1, "FCGI_MPXS_CONNS")));
        wire::ResponseReader reader(c);
        reader.read_until([&](const wire::Response&) { return !reader.others().empty(); }, 5s);
        ASSERT_EQ(reader.others().size(), 1u) << "round " << round;
    }
    expect_served();
}

TEST_F(HostileFastCgi, OtherManagementTypesGetUnknownTypeCarryingTheType) {
    start();
    SocketClient c = connect();
    ASSERT_TRUE(c.send(wire::record(42, 0, "whatever") + wire::record(wire::kStdin, 0, "x")));
    wire::ResponseReader reader(c);
    reader.read_until([&](const wire::Response&) { return reader.others().size() >= 2; }, 5s);
    ASSERT_EQ(reader.others().size(), 2u);
    for (const auto& [record, type] :
         {std::pair{reader.others()[0], 42}, {reader.others()[1], 5}}) {
        EXPECT_EQ(record.type, 11);  // FCGI_UNKNOWN_TYPE
        ASSERT_EQ(record.content.size(), 8u);
        EXPECT_EQ(static_cast<unsigned char>(record.content[0]), type);
    }
    const wire::Response r = wire::round_trip(c, get("/app/hello"));
    EXPECT_TRUE(r.ended) << r.error;
    expect_served();
}

// Record headers are checked for the whole request, not only the head.
TEST_F(HostileFastCgi, ABadRecordInTheBodyEndsTheConnectionAndNothingElse) {
    start();
    for (const std::string& bad :
         {wire::record(wire::kStdin, 1, "xx", 0, /*version=*/2),
          wire::record(wire::kStdin, 9, "xx"), wire::record(wire::kStdout, 1, "xx"),
          wire::record(wire::kParams, 1, "")}) {
        wire::Request r = get("/app/body");
        set_param(r.params, "CONTENT_LENGTH", "4");
        set_param(r.params, "REQUEST_METHOD", "POST");
        SocketClient c = connect();
        ASSERT_TRUE(c.send(wire::begin_request(1) + wire::params_stream(1, r.params) +
                           wire::record(wire::kStdin, 1, "ab") + bad));
        wire::ResponseReader reader(c);
        reader.read_until([](const wire::Response& x) { return x.connection_closed; }, 5s);
        const wire::Response& out = reader.response();
        EXPECT_TRUE(out.connection_closed);
        EXPECT_EQ(out.out.find("body="), std::string::npos) << out.out;
        expect_served();
    }
}

TEST_F(HostileFastCgi, AFloodOfManagementRecordsIsCutOff) {
    start();
    SocketClient c = connect();
    std::string flood;
    for (int i = 0; i < 1000; ++i)
        flood += wire::record(wire::kGetValues, 0, "");
    c.send(flood);
    EXPECT_TRUE(c.wait_closed(5s));
    expect_served();
}

// --max-params counts the pairs the front end sent: libfcgi's own FCGI_ROLE
// entry does not make 1,000 params a 431 over FastCGI.
TEST_F(HostileFastCgi, MaxParamsCountsThePairsTheFrontEndSent) {
    options_.limits.max_params = 40;
    start();
    for (const std::size_t pairs : {std::size_t{40}, std::size_t{41}}) {
        wire::Request r = get("/app/hello");
        for (std::size_t i = r.params.size(); i < pairs; ++i)
            r.params.emplace_back("HTTP_X_" + std::to_string(i), "v");
        ASSERT_EQ(r.params.size(), pairs);
        SocketClient c = connect();
        const wire::Response out = wire::round_trip(c, r);
        ASSERT_TRUE(out.ended) << out.error;
        EXPECT_EQ(wire::parse_cgi(out.out).status, pairs == 40 ? 200 : 431) << pairs;
    }
    expect_served();
}

// The same request, the same answer, as over SCGI and uwsgi: a variable
// sent twice is a 400 (here CONTENT_LENGTH "5" then "", which framed 5
// bytes elsewhere and showed an empty one); a header sent twice is joined.
TEST_F(HostileFastCgi, AVariableSentTwiceIsRefusedAndARepeatedHeaderJoined) {
    start();
    for (const auto& [name, first, second] : {std::tuple{"CONTENT_LENGTH", "5", ""},
                                              {"REQUEST_URI", "/app/hello", "/app/other"},
                                              {"HTTP_HOST", "a.example", "b.example"}}) {
        wire::Request r = get("/app/body");
        set_param(r.params, "REQUEST_METHOD", "POST");
        r.params.emplace_back(name, first);
        r.params.emplace_back(name, second);
        r.body = "hello";
        SocketClient c = connect();
        const wire::Response out = wire::round_trip(c, r);
        ASSERT_TRUE(out.ended) << name << ": " << out.error;
        EXPECT_EQ(wire::parse_cgi(out.out).status, 400) << name;
        expect_served();
    }
    wire::Request r = get("/app/hello");
    r.params.emplace_back("HTTP_X_TWICE", "1");
    r.params.emplace_back("HTTP_X_TWICE", "2");
    SocketClient c = connect();
    const wire::Response out = wire::round_trip(c, r);
    ASSERT_TRUE(out.ended) << out.error;
    EXPECT_EQ(wire::parse_cgi(out.out).body, "Hello, world!\n");
}

}  // namespace
}  // namespace postern
