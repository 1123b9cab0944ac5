#include "core/app.hpp"

#include <gtest/gtest.h>

#include "core/environ.hpp"
#include "core/log.hpp"
#include "recording_sink.hpp"

namespace postern {
namespace {

using test::RecordingSink;
using test::StringBody;

class AppTest : public ::testing::Test {
  protected:
    void SetUp() override { log::open_access_log("off"); }

    App make(Limits limits = {}) {
        std::vector<Mount> mounts;
        mounts.push_back({"/app",
                          [this](Request& req, Response& res) {
                              seen_script = std::string(req.script_name());
                              seen_path = std::string(req.path_info());
                              seen_query = std::string(req.query_string());
                              res.header("Content-Type", "text/plain");
                              res.write("ok");
                          },
                          "app"});
        mounts.push_back(
            {"/throw", [](Request&, Response&) { throw std::runtime_error("boom"); }, "thrower"});
        mounts.push_back({"/late-throw",
                          [](Request&, Response& res) {
                              res.write("partial");
                              res.flush();
                              throw std::runtime_error("late boom");
                          },
                          "late"});
        mounts.push_back({"/refuse",
                          [](Request&, Response&) { throw RequestError(422, "no thanks"); },
                          "refuse"});
        mounts.push_back({"/read",
                          [](Request& req, Response& res) { res.write(req.read_all(1 << 20)); },
                          "read"});
        mounts.push_back(
            {"/ignore", [](Request&, Response& res) { res.write("ignored the body"); }, "ignore"});
        return App(std::move(mounts), limits);
    }

    Environ env(std::string method, std::string uri) {
        Environ e;
        add_param(e, "REQUEST_METHOD", method);
        add_param(e, "REQUEST_URI", uri);
        add_param(e, "SERVER_PROTOCOL", "HTTP/1.1");
        return e;
    }

    Peer peer{"127.0.0.1", "5555", "127.0.0.1", "9000", false};
    std::string seen_script, seen_path, seen_query;
};

TEST_F(AppTest, RoutesAndDerivesTheSplit) {
    App app = make();
    RecordingSink sink;
    StringBody body("");
    Outcome out = app.handle("fastcgi", env("GET", "/app/a%20b?x=1"), body, sink, peer);
    EXPECT_EQ(out.status, 200);
    EXPECT_TRUE(out.reusable);
    EXPECT_EQ(seen_script, "/app");
    EXPECT_EQ(seen_path, "/a b");
    EXPECT_EQ(seen_query, "x=1");
    EXPECT_EQ(sink.body, "ok");
}

TEST_F(AppTest, FrontEndSplitIsReplaced) {
    App app = make();
    RecordingSink sink;
    StringBody body("");
    Environ e = env("GET", "/app/x");
    add_param(e, "SCRIPT_NAME", "/app/x");
    add_param(e, "PATH_INFO", "");
    app.handle("fastcgi", std::move(e), body, sink, peer);
    EXPECT_EQ(seen_script, "/app");
    EXPECT_EQ(seen_path, "/x");
}

TEST_F(AppTest, NoMountIs404) {
    App app = make();
    RecordingSink sink;
    StringBody body("");
    Outcome out = app.handle("http", env("GET", "/nothing"), body, sink, peer);
    EXPECT_EQ(out.status, 404);
    EXPECT_EQ(sink.status, 404);
    EXPECT_EQ(sink.body, "404 Not Found\n");
    EXPECT_TRUE(out.reusable);
}

TEST_F(AppTest, BadEscapeIs400) {
    App app = make();
    RecordingSink sink;
    StringBody body("");
    Outcome out = app.handle("http", env("GET", "/app/%zz"), body, sink, peer);
    EXPECT_EQ(out.status, 400);
}

TEST_F(AppTest, ThrowBecomes500AndTheNextRequestSucceeds) {
    App app = make();
    {
        RecordingSink sink;
        StringBody body("");
        Outcome out = app.handle("http", env("GET", "/throw"), body, sink, peer);
        EXPECT_EQ(out.status, 500);
        EXPECT_EQ(sink.status, 500);
        EXPECT_TRUE(out.reusable) << "nothing was sent: the connection is still in step";
    }
    RecordingSink sink;
    StringBody body("");
    EXPECT_EQ(app.handle("http", env("GET", "/app"), body, sink, peer).status, 200);
}

TEST_F(AppTest, ThrowAfterHeadIsCutOff) {
    App app = make();
    RecordingSink sink;
    StringBody body("");
    Outcome out = app.handle("http", env("GET", "/late-throw"), body, sink, peer);
    EXPECT_EQ(sink.status, 200);
    EXPECT_EQ(sink.aborts, 1);
    EXPECT_EQ(sink.finishes, 0);
    EXPECT_FALSE(out.reusable);
}

TEST_F(AppTest, RequestErrorKeepsItsStatus) {
    App app = make();
    RecordingSink sink;
    StringBody body("");
    Outcome out = app.handle("http", env("GET", "/refuse"), body, sink, peer);
    EXPECT_EQ(out.status, 422);
    EXPECT_TRUE(out.reusable) << "a refusal with the body intact keeps the connection";
}

TEST_F(AppTest, BodyOverTheLimitIs413) {
    Limits limits;
    limits.max_body_bytes = 10;
    App app = make(limits);
    {
        RecordingSink sink;
        StringBody body(std::string(20, 'x'));
        Environ e = env("POST", "/read");
        add_param(e, "CONTENT_LENGTH", "20");
        Outcome out = app.handle("http", std::move(e), body, sink, peer);
        EXPECT_EQ(out.status, 413);
        EXPECT_FALSE(out.reusable);
    }
    {
        // Unknown length (chunked): counted while read.
        RecordingSink sink;
        StringBody body(std::string(20, 'x'));
        Outcome out = app.handle("http", env("POST", "/read"), body, sink, peer);
        EXPECT_EQ(out.status, 413);
        EXPECT_FALSE(out.reusable);
    }
}

TEST_F(AppTest, UnreadBodyIsDrained) {
    App app = make();
    RecordingSink sink;
    StringBody body(std::string(1000, 'x'));
    Environ e = env("POST", "/ignore");
    add_param(e, "CONTENT_LENGTH", "1000");
    Outcome out = app.handle("http", std::move(e), body, sink, peer);
    EXPECT_EQ(out.status, 200);
    EXPECT_TRUE(out.reusable);
    EXPECT_EQ(body.consumed(), 1000u);
}

TEST_F(AppTest, HeadHasNoBody) {
    App app = make();
    RecordingSink sink;
    StringBody body("");
    app.handle("http", env("HEAD", "/app"), body, sink, peer);
    EXPECT_TRUE(sink.head_only);
    EXPECT_EQ(*sink.content_length, 2u);
    EXPECT_EQ(sink.body, "");
}

TEST_F(AppTest, RefuseWritesAnErrorPage) {
    App app = make();
    RecordingSink sink;
    EXPECT_TRUE(app.refuse(sink, 431, "too many params", peer, "fastcgi"));
    EXPECT_EQ(sink.status, 431);
    EXPECT_EQ(sink.body, "431 Request Header Fields Too Large\n");
}

}  // namespace
}  // namespace postern
