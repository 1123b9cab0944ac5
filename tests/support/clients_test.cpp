// Tests tests/support's request encoders against exact bytes (SCGI netstring,
// uwsgi packet, AJP13 FORWARD_REQUEST and body packets, HTTP/1.1 text), and
// ProtocolClient's split of a request into head, body and trickled pieces.
// The adapters' suites then speak them to a real gateway.
#include <gtest/gtest.h>

#include <string>

#include "ajp_client.hpp"
#include "http1_client.hpp"
#include "protocol_client.hpp"
#include "scgi_client.hpp"
#include "test_data.hpp"
#include "uwsgi_client.hpp"

namespace postern::test {
namespace {

using namespace std::string_literals;

TEST(ScgiClient, NetstringOfNulSeparatedPairs) {
    EXPECT_EQ(scgi::netstring({{"CONTENT_LENGTH", "0"}, {"SCGI", "1"}}),
              "24:CONTENT_LENGTH\0"s
              "0\0SCGI\0"s
              "1\0,"s);
    EXPECT_EQ(scgi::netstring({}), "0:,");
    const std::string r = scgi::request("POST", "/a", "xyz");
    EXPECT_EQ(r.substr(r.find(':') + 1, 17),
              "CONTENT_LENGTH\0"s
              "3\0"s);
    EXPECT_EQ(r.substr(r.size() - 4), ",xyz");
}

TEST(UwsgiClient, HeaderThenLittleEndianLengthPrefixedPairs) {
    EXPECT_EQ(uwsgi::packet({{"A", "bc"}}),
              "\x00\x07\x00\x00\x01\x00"s
              "A\x02\x00"s
              "bc");
    EXPECT_EQ(uwsgi::packet({}, 5, 1), "\x05\x00\x00\x01"s);
    const std::string big(300, 'v');
    EXPECT_EQ(uwsgi::packet({{"K", big}}).substr(0, 8), "\x00\x31\x01\x00\x01\x00K\x2c"s);
    EXPECT_THROW(uwsgi::packet({{"K", std::string(70'000, 'v')}}), std::length_error);
    const std::string r = uwsgi::request("POST", "/a", "xyz");
    EXPECT_EQ(r.substr(r.size() - 3), "xyz");
    EXPECT_NE(r.find("\x0e\x00"
                     "CONTENT_LENGTH\x01\x00"
                     "3"s),
              std::string::npos);
}

TEST(AjpClient, ForwardRequestWithTheSecret) {
    ajp::ForwardRequest r;
    r.method = "GET";
    r.uri = "/a";
    r.remote_addr = "1.2.3.4";
    r.server_name = "h";
    r.headers = {{"Host", "h"}, {"X-Y", "z"}};
    r.query_string = "q=1";
    r.secret = "s";
    const std::string payload =
        "\x02\x02"              // FORWARD_REQUEST, GET
        "\x00\x08HTTP/1.1\x00"  // protocol
        "\x00\x02/a\x00"        // req_uri
        "\x00\x07"
        "1.2.3.4\x00"                   // remote_addr
        "\xff\xff"                      // remote_host: null
        "\x00\x01h\x00"                 // server_name
        "\x00\x50"                      // server_port 80
        "\x00"                          // is_ssl
        "\x00\x02"                      // two headers
        "\xa0\x0b\x00\x01h\x00"         // Host (coded)
        "\x00\x03X-Y\x00\x00\x01z\x00"  // X-Y (named)
        "\x05\x00\x03q=1\x00"           // query_string
        "\x0c\x00\x01s\x00"             // secret
        "\xff"s;                        // are_done
    const std::string length = {static_cast<char>(payload.size() >> 8),
                                static_cast<char>(payload.size() & 0xff)};
    EXPECT_EQ(ajp::forward_request(r), "\x12\x34"s + length + payload);
}

TEST(AjpClient, AnUnknownMethodIsStored) {
    ajp::ForwardRequest r = ajp::request("BREW", "/pot", std::nullopt);
    const std::string bytes = ajp::forward_request(r);
    EXPECT_EQ(static_cast<unsigned char>(bytes.at(5)), 0xffu);
    EXPECT_NE(bytes.find("\x0d\x00\x04"
                         "BREW\x00"s),
              std::string::npos);
}

TEST(AjpClient, BodyPacketsOfAtMostAPacket) {
    EXPECT_EQ(ajp::body_packet("ab"),
              "\x12\x34\x00\x04\x00\x02"
              "ab"s);
    EXPECT_EQ(ajp::body_packet(""), "\x12\x34\x00\x02\x00\x00"s);
    const auto packets = ajp::body_packets(std::string(ajp::kMaxBodyChunk + 1, 'x'), true);
    ASSERT_EQ(packets.size(), 3u);
    EXPECT_EQ(packets[0].size(), ajp::kPacketSize);
    EXPECT_EQ(packets[1], ajp::body_packet("x"));
    EXPECT_EQ(packets[2], ajp::kEmptyPacket);
}

TEST(Http1Client, RequestText) {
    EXPECT_EQ(http1::request("GET", "/a?b", "", {{"X-Y", "z"}}),
              "GET /a?b HTTP/1.1\r\nHost: test.example\r\nX-Y: z\r\n\r\n");
    EXPECT_EQ(http1::request("POST", "/a", "xyz", {}, false),
              "POST /a HTTP/1.1\r\nHost: test.example\r\nContent-Length: 3\r\n"
              "Connection: close\r\n\r\nxyz");
}

class ProtocolClientSplit : public ::testing::TestWithParam<const char*> {};

TEST_P(ProtocolClientSplit, HeadAndBodyMakeTheRequestAndPiecesMakeItAgain) {
    const ProtocolClient client(GetParam());
    ProtocolRequest r;
    r.method = "POST";
    r.target = "/app/sum?x=1";
    r.body = deterministic_bytes(1000, 3);
    r.headers = {{"X-Test", "1"}};
    const std::string whole = client.encode(r);
    EXPECT_EQ(whole, client.head(r) + client.body(r));
    EXPECT_NE(client.body(r).find(r.body), std::string::npos);
    EXPECT_EQ(client.head(r).find(r.body), std::string::npos);
    for (std::size_t piece : {std::size_t{1}, std::size_t{7}, whole.size()}) {
        std::string again;
        for (const std::string& p : pieces(whole, piece)) {
            EXPECT_LE(p.size(), piece);
            again += p;
        }
        EXPECT_EQ(again, whole) << piece;
    }
}

INSTANTIATE_TEST_SUITE_P(Protocols, ProtocolClientSplit,
                         ::testing::Values("http", "fastcgi", "ajp", "scgi", "uwsgi"),
                         [](const auto& info) { return std::string(info.param); });

TEST(TestData, DeterministicBytesAndFnv1a) {
    EXPECT_EQ(deterministic_bytes(64, 7), deterministic_bytes(64, 7));
    EXPECT_NE(deterministic_bytes(64, 7), deterministic_bytes(64, 8));
    // FNV-1a's published test vectors (64 bits).
    EXPECT_EQ(fnv1a(""), 0xcbf29ce484222325ull);
    EXPECT_EQ(fnv1a("a"), 0xaf63dc4c8601ec8cull);
    EXPECT_EQ(fnv1a("foobar"), 0x85944171f73967e8ull);
    EXPECT_EQ(fnv1a("bar", fnv1a("foo")), fnv1a("foobar"));
}

}  // namespace
}  // namespace postern::test
