#include "postern/request.hpp"

#include <gtest/gtest.h>

#include "recording_sink.hpp"

namespace postern {
namespace {

Environ sample() {
    return {{"REQUEST_METHOD", "POST"},
            {"SCRIPT_NAME", "/app"},
            {"PATH_INFO", "/x"},
            {"QUERY_STRING", "a=1"},
            {"CONTENT_TYPE", "text/plain"},
            {"CONTENT_LENGTH", "11"},
            {"HTTP_X_FORWARDED_FOR", "1.2.3.4"},
            {"HTTPS", "on"},
            {"SERVER_NAME", "example.org"}};
}

TEST(Request, TypedAccessors) {
    test::StringBody body("hello world");
    Request req("fastcgi", sample(), body);
    EXPECT_EQ(req.protocol(), "fastcgi");
    EXPECT_EQ(req.method(), "POST");
    EXPECT_EQ(req.script_name(), "/app");
    EXPECT_EQ(req.path_info(), "/x");
    EXPECT_EQ(req.query_string(), "a=1");
    EXPECT_TRUE(req.https());
    EXPECT_EQ(req.content_length(), 11u);
    EXPECT_EQ(req.server_name(), "example.org");
    EXPECT_EQ(req.remote_addr(), "");
}

TEST(Request, HeadersAreCaseInsensitive) {
    test::StringBody body("");
    Request req("http", sample(), body);
    EXPECT_EQ(req.header("content-type"), "text/plain");
    EXPECT_EQ(req.header("Content-Length"), "11");
    EXPECT_EQ(req.header("X-FORWARDED-FOR"), "1.2.3.4");
    EXPECT_FALSE(req.header("X-Missing").has_value());
    auto all = req.headers();
    ASSERT_EQ(all.size(), 3u);
    EXPECT_EQ(all[0].first, "content-type");
    EXPECT_EQ(all[2].first, "x-forwarded-for");
}

TEST(Request, EmptyContentVariablesAreNoHeaders) {
    test::StringBody body("");
    Request req("fastcgi", {{"CONTENT_TYPE", ""}, {"CONTENT_LENGTH", ""}}, body);
    EXPECT_FALSE(req.header("Content-Type").has_value());
    EXPECT_FALSE(req.content_length().has_value());
    EXPECT_TRUE(req.headers().empty());
}

TEST(Request, BodyReadsInPieces) {
    test::StringBody body("hello world", 3);
    Request req("http", sample(), body);
    char buf[100];
    EXPECT_EQ(req.read(buf, sizeof(buf)), 3u);
    EXPECT_EQ(req.read_all(100), "lo world");
    EXPECT_EQ(req.body_bytes_read(), 11u);
    EXPECT_EQ(req.read(buf, sizeof(buf)), 0u);
}

TEST(Request, ReadAllRefusesBeyondLimit) {
    test::StringBody body(std::string(100, 'x'));
    Request req("http", sample(), body);
    try {
        req.read_all(50);
        FAIL() << "expected RequestError";
    } catch (const RequestError& e) {
        EXPECT_EQ(e.status(), 413);
    }
}

}  // namespace
}  // namespace postern
