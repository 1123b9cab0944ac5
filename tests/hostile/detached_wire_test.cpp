// The hostile suite, detached responses on the wire: each socket protocol
// frames a stream written from another thread after the callback returned
// as its front ends expect, with its head held for the first write or
// already sent by the sink before detach(), against a real Server on
// 127.0.0.1:0 (in process, so the sanitizers see the channel and every
// adapter's framing):
//   HTTP     chunked, then the last chunk; the connection closes;
//   FastCGI  FCGI_STDOUT records of the request's id, none over 65535 bytes,
//            then the empty FCGI_STDOUT and FCGI_END_REQUEST
//            (FCGI_REQUEST_COMPLETE); the connection closes;
//   AJP13    SEND_HEADERS, SEND_BODY_CHUNKs within the packet size, each
//            write followed by an empty one (the flush), END_RESPONSE with
//            reuse=0; the connection closes;
//   SCGI     "Status:" and the CGI headers, the body raw, the close;
//   uwsgi    an HTTP/1.1 status line and headers, the body raw, the close.
// on_close runs once for each stream, and the next request is served.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "ajp/codec.hpp"
#include "ajp_client.hpp"
#include "fcgi_client.hpp"
#include "in_process_gateway.hpp"
#include "postern/postern.hpp"
#include "protocol_client.hpp"
#include "socket_client.hpp"
#include "wait.hpp"

namespace postern::test {
namespace {

using namespace std::chrono_literals;

/// What /app/detach sends: "start\n" (written before detach(), flushed
/// with ?flush=1), then from another thread "one\n", 70000 bytes (more
/// than a FastCGI record and an AJP packet hold), "two\n".
const std::string kBlock(70000, 'z');
std::string expected_body() {
    return "start\none\n" + kBlock + "two\n";
}

/// The data of a chunked body (RFC 9112 §7.1), without extensions; "<bad>"
/// when it does not parse.
std::string dechunk(std::string_view body) {
    std::string out;
    for (;;) {
        const std::size_t eol = body.find("\r\n");
        if (eol == std::string_view::npos)
            return "<bad>";
        const std::size_t size = std::stoul(std::string(body.substr(0, eol)), nullptr, 16);
        body.remove_prefix(eol + 2);
        if (size == 0)
            return body == "\r\n" ? out : "<bad>";
        if (body.size() < size + 2 || body.substr(size, 2) != "\r\n")
            return "<bad>";
        out += body.substr(0, size);
        body.remove_prefix(size + 2);
    }
}

class DetachedWire : public ::testing::TestWithParam<std::tuple<std::string, bool>> {
  protected:
    void SetUp() override {
        gateway_.app().extra = [this](Request& req, Response& res) {
            if (req.path_info() != "/detach")
                return false;
            res.header("Content-Type", "text/plain");
            res.header("X-Detached", "yes");
            res.write("start\n");
            if (req.query().get_int("flush", 0, 0, 1) == 1)
                res.flush();
            std::shared_ptr<Stream> stream = res.detach();
            stream->on_close([this] { closes_.fetch_add(1); });
            std::lock_guard lock(mutex_);
            writers_.emplace_back([stream] {
                stream->write("one\n");
                stream->write(kBlock);
                stream->write("two\n");
                stream->close();
            });
            return true;
        };
        gateway_.start();
    }

    void TearDown() override {
        std::lock_guard lock(mutex_);
        for (auto& t : writers_)
            t.join();
    }

    const std::string& protocol() const { return std::get<0>(GetParam()); }
    std::string target() const {
        return std::get<1>(GetParam()) ? "/app/detach?flush=1" : "/app/detach";
    }

    InProcessGateway gateway_{{"http", "fastcgi", "ajp", "scgi", "uwsgi"}};
    std::atomic<int> closes_{0};
    std::mutex mutex_;
    std::vector<std::thread> writers_;
};

TEST_P(DetachedWire, AStreamIsFramedAsTheProtocolFramesAResponse) {
    SocketClient c = gateway_.connect(protocol());
    if (protocol() == "fastcgi") {
        // A request id other than 1, asking to keep the connection: the
        // stream answers with that id and closes all the same.
        fcgi::Request req;
        req.id = 7;
        req.keep_conn = true;
        req.params = fcgi::cgi_params("GET", target());
        ASSERT_TRUE(c.send(fcgi::encode(req)));
        const std::string wire = c.recv_until_close(10s);
        ASSERT_TRUE(c.closed());
        std::vector<fcgi::Record> records;
        for (std::string_view rest = wire; !rest.empty();) {
            const fcgi::Decoded d = fcgi::decode_record(rest);
            ASSERT_EQ(d.status, fcgi::Decoded::Status::done) << d.error;
            records.push_back(d.record);
            rest.remove_prefix(d.consumed);
        }
        ASSERT_GE(records.size(), 3u);
        std::string out;
        bool full_record = false;
        for (std::size_t i = 0; i + 2 < records.size(); ++i) {
            EXPECT_EQ(records[i].type, fastcgi::kStdout);
            EXPECT_EQ(records[i].request_id, 7);
            EXPECT_FALSE(records[i].content.empty());
            full_record |= records[i].content.size() == fastcgi::kMaxContent;
            out += records[i].content;
        }
        EXPECT_TRUE(full_record) << "the 70000 bytes were not split at 65535";
        const fcgi::Record& stdout_end = records[records.size() - 2];
        EXPECT_EQ(stdout_end.type, fastcgi::kStdout);
        EXPECT_EQ(stdout_end.request_id, 7);
        EXPECT_EQ(stdout_end.content, "");
        const fcgi::Record& end = records.back();
        EXPECT_EQ(end.type, fastcgi::kEndRequest);
        EXPECT_EQ(end.request_id, 7);
        ASSERT_EQ(end.content.size(), 8u);
        EXPECT_EQ(end.content[4], static_cast<char>(fastcgi::kRequestComplete));
        const fcgi::CgiResponse cgi = fcgi::parse_cgi(out);
        EXPECT_EQ(cgi.status, 200);
        EXPECT_EQ(cgi.header("X-Detached").value_or(""), "yes");
        EXPECT_EQ(cgi.body, expected_body());
    } else if (protocol() == "ajp") {
        const ProtocolClient pc("ajp", "s3cret");
        ProtocolRequest r;
        r.target = target();
        ASSERT_TRUE(c.send(pc.encode(r)));
        const ajp::Exchange ex = ajp::read_exchange(c, {}, false, 10s);
        EXPECT_EQ(ex.status, 200);
        EXPECT_EQ(ex.header("X-Detached"), "yes");
        EXPECT_TRUE(ex.ended);
        EXPECT_FALSE(ex.reuse) << "a detached connection is never reused";
        EXPECT_EQ(ex.body, expected_body());
        int flushes = 0;
        for (const auto& chunk : ex.chunks) {
            EXPECT_LE(chunk.size(),
                      postern::ajp::max_response_chunk(postern::ajp::kDefaultPacketSize));
            flushes += chunk.empty() ? 1 : 0;
        }
        // Each of the stream's three writes is followed by a flush.
        EXPECT_GE(flushes, 3);
        EXPECT_TRUE(c.wait_closed(5s));
    } else {
        const ProtocolClient pc(protocol(), "s3cret");
        ProtocolRequest r;
        r.target = target();
        r.keep = false;
        ASSERT_TRUE(c.send(pc.encode(r)));
        const std::string wire = c.recv_until_close(10s);
        ASSERT_TRUE(c.closed());
        const std::size_t blank = wire.find("\r\n\r\n");
        ASSERT_NE(blank, std::string::npos) << wire.substr(0, 300);
        const std::string head = wire.substr(0, blank + 2);
        const std::string body = wire.substr(blank + 4);
        if (protocol() == "http") {
            EXPECT_EQ(head.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << head;
            EXPECT_NE(head.find("Transfer-Encoding: chunked\r\n"), std::string::npos) << head;
            EXPECT_TRUE(body.ends_with("\r\n0\r\n\r\n")) << "no last chunk";
            EXPECT_EQ(dechunk(body), expected_body());
        } else {
            const std::string status_line =
                protocol() == "scgi" ? "Status: 200 OK\r\n" : "HTTP/1.1 200 OK\r\n";
            EXPECT_EQ(head.rfind(status_line, 0), 0u) << head;
            EXPECT_EQ(head.find("Transfer-Encoding"), std::string::npos) << head;
            EXPECT_EQ(head.find("Content-Length"), std::string::npos) << head;
            EXPECT_EQ(body, expected_body());
        }
        EXPECT_NE(head.find("X-Detached: yes\r\n"), std::string::npos) << head;
    }
    EXPECT_TRUE(wait_until([&] { return closes_.load() == 1; }, 5s)) << closes_.load();
    // The next request is served.
    const ProtocolReply next =
        ProtocolClient(protocol(), "s3cret").exchange(gateway_.address(protocol()), [] {
            ProtocolRequest r;
            r.target = "/app/hello";
            return r;
        }());
    EXPECT_EQ(next.status, 200) << next.error;
    EXPECT_EQ(next.body, "Hello, world!\n");
    EXPECT_EQ(closes_.load(), 1);
}

TEST_P(DetachedWire, AHeadRequestGetsTheHeadAlone) {
    const ProtocolClient pc(protocol(), "s3cret");
    ProtocolRequest r;
    r.method = "HEAD";
    r.target = target();
    r.keep = false;
    SocketClient c = gateway_.connect(protocol());
    ASSERT_TRUE(c.send(pc.encode(r)));
    const std::string wire = c.recv_until_close(10s);
    EXPECT_TRUE(c.closed());
    // No byte of the body, whatever the stream wrote: the head ends the
    // response (HTTP, SCGI, uwsgi: the close; FastCGI: FCGI_END_REQUEST
    // right after the head; AJP: END_RESPONSE right after SEND_HEADERS).
    EXPECT_EQ(wire.find("zzzz"), std::string::npos) << wire.size() << " bytes";
    EXPECT_EQ(wire.find("start"), std::string::npos) << wire.size() << " bytes";
    EXPECT_EQ(wire.find("one\n"), std::string::npos) << wire.size() << " bytes";
    if (protocol() == "fastcgi" || protocol() == "ajp") {
        SocketClient again = gateway_.connect(protocol());
        ASSERT_TRUE(again.send(pc.encode(r)));
        const ProtocolReply reply = pc.read(again, 10s);
        EXPECT_TRUE(reply.answered) << reply.error;
        EXPECT_EQ(reply.status, 200);
        EXPECT_TRUE(reply.body.empty()) << reply.body.size() << " body bytes";
    } else {
        EXPECT_NE(wire.find("200 OK\r\n"), std::string::npos) << wire.substr(0, 300);
        EXPECT_TRUE(wire.ends_with("\r\n\r\n")) << wire.substr(0, 300);
    }
    EXPECT_TRUE(wait_until([&] { return closes_.load() >= 1; }, 5s));
}

INSTANTIATE_TEST_SUITE_P(Protocols, DetachedWire,
                         ::testing::Combine(::testing::Values("http", "fastcgi", "ajp", "scgi",
                                                              "uwsgi"),
                                            ::testing::Bool()),
                         [](const ::testing::TestParamInfo<std::tuple<std::string, bool>>& info) {
                             return std::get<0>(info.param) +
                                    (std::get<1>(info.param) ? "_flushed" : "_held");
                         });

}  // namespace
}  // namespace postern::test
