#include "postern/response.hpp"

#include <gtest/gtest.h>

#include "core/cgi_head.hpp"
#include "recording_sink.hpp"

namespace postern {
namespace {

using test::RecordingSink;

TEST(ReasonPhrase, FollowsTheStatus) {
    EXPECT_EQ(reason_phrase(200), "OK");
    EXPECT_EQ(reason_phrase(404), "Not Found");
    EXPECT_EQ(reason_phrase(413), "Content Too Large");
    EXPECT_EQ(reason_phrase(431), "Request Header Fields Too Large");
    EXPECT_EQ(reason_phrase(599), "Unknown");
}

TEST(StatusHasBody, FalseFor1xx204And304Only) {
    // RFC 9110 §6.4.1.
    for (int status : {100, 101, 103, 199, 204, 304})
        EXPECT_FALSE(status_has_body(status)) << status;
    for (int status :
         {200, 201, 203, 205, 206, 299, 300, 301, 303, 305, 307, 400, 404, 500, 503, 599, 999})
        EXPECT_TRUE(status_has_body(status)) << status;
}

TEST(Response, WholeBodyGoesOutWithContentLength) {
    RecordingSink sink;
    Response res(sink, false);
    res.header("Content-Type", "text/plain");
    res.write("Hello, ");
    res.write("world!\n");
    EXPECT_EQ(sink.heads, 0) << "nothing is sent before the callback returns or flushes";
    ASSERT_TRUE(res.finish());
    EXPECT_EQ(sink.status, 200);
    ASSERT_TRUE(sink.content_length.has_value());
    EXPECT_EQ(*sink.content_length, 14u);
    EXPECT_EQ(sink.body, "Hello, world!\n");
    EXPECT_EQ(sink.finishes, 1);
}

TEST(Response, FlushStreamsWithoutLength) {
    RecordingSink sink;
    Response res(sink, false);
    res.write("a");
    ASSERT_TRUE(res.flush());
    EXPECT_EQ(sink.heads, 1);
    EXPECT_FALSE(sink.content_length.has_value());
    EXPECT_EQ(sink.body, "a");
    res.write("b");
    ASSERT_TRUE(res.finish());
    EXPECT_EQ(sink.body, "ab");
    EXPECT_EQ(sink.events,
              (std::vector<std::string>{"head", "body:1", "flush", "body:1", "finish"}));
}

TEST(Response, DeclaredLengthIsUsedWhenStreaming) {
    RecordingSink sink;
    Response res(sink, false);
    res.header("Content-Length", "4");
    res.write("ab");
    ASSERT_TRUE(res.flush());
    ASSERT_TRUE(sink.content_length.has_value());
    EXPECT_EQ(*sink.content_length, 4u);
    res.write("cd");
    EXPECT_TRUE(res.finish());
    EXPECT_EQ(sink.aborts, 0);
}

TEST(Response, ShortOfDeclaredLengthIsCutOff) {
    RecordingSink sink;
    Response res(sink, false);
    res.header("Content-Length", "10");
    res.write("ab");
    res.flush();
    EXPECT_FALSE(res.finish());
    EXPECT_EQ(sink.aborts, 1);
}

TEST(Response, BeyondDeclaredLengthThrows) {
    RecordingSink sink;
    Response res(sink, false);
    res.header("Content-Length", "1");
    res.flush();
    res.write("abc");
    EXPECT_THROW(res.finish(), std::logic_error);
}

TEST(Response, LargeBodyStreamsByItself) {
    RecordingSink sink;
    Response res(sink, false, 1024);
    std::string piece(300, 'x');
    for (int i = 0; i < 10; ++i)
        ASSERT_TRUE(res.write(piece));
    EXPECT_EQ(sink.heads, 1) << "the buffer limit starts streaming";
    EXPECT_FALSE(sink.content_length.has_value());
    EXPECT_LE(sink.body.size(), 3000u);
    res.finish();
    EXPECT_EQ(sink.body, std::string(3000, 'x'));
}

TEST(Response, HeadSendsLengthWithoutBody) {
    RecordingSink sink;
    Response res(sink, true);
    res.write("twelve bytes");
    ASSERT_TRUE(res.finish());
    EXPECT_TRUE(sink.head_only);
    EXPECT_EQ(*sink.content_length, 12u);
    EXPECT_EQ(sink.body, "");
}

TEST(Response, HeadSendsTheDeclaredLengthNotTheBufferedOne) {
    // A HEAD handler that declares the length a GET would have (1 GiB) and
    // writes nothing: the head carries the declared length, never 0.
    RecordingSink sink;
    Response res(sink, true);
    res.header("Content-Length", "1073741824");
    ASSERT_TRUE(res.finish());
    EXPECT_TRUE(sink.head_only);
    ASSERT_TRUE(sink.content_length.has_value());
    EXPECT_EQ(*sink.content_length, 1073741824u);
    EXPECT_EQ(sink.body, "");

    // Some bytes written anyway: still the declared length, no body.
    RecordingSink sink2;
    Response res2(sink2, true);
    res2.header("Content-Length", "100");
    res2.write("abc");
    ASSERT_TRUE(res2.finish());
    EXPECT_EQ(*sink2.content_length, 100u);
    EXPECT_EQ(sink2.body, "");
}

TEST(Response, ABufferedBodyThatDoesNotMatchTheDeclaredLengthIsTheCallbacksError) {
    // Fewer and more bytes than declared, with nothing sent yet: a
    // logic_error (the barrier answers 500), nothing on the wire, never a
    // Content-Length rewritten to fit.
    for (const std::string& body : {std::string(), std::string("short"), std::string(11, 'x')}) {
        RecordingSink sink;
        Response res(sink, false);
        res.header("Content-Length", "10");
        res.write(body);
        EXPECT_THROW(res.finish(), std::logic_error) << body.size();
        EXPECT_EQ(sink.heads, 0) << body.size();
        EXPECT_EQ(sink.body, "");
        // The barrier's error page replaces it.
        res.reset();
        res.status(500);
        res.write("500 Internal Server Error\n");
        ASSERT_TRUE(res.finish());
        EXPECT_EQ(sink.status, 500);
        EXPECT_EQ(*sink.content_length, 26u);
    }
    // The declared length written exactly: sent as declared.
    RecordingSink sink;
    Response res(sink, false);
    res.header("Content-Length", "5");
    res.write("exact");
    ASSERT_TRUE(res.finish());
    EXPECT_EQ(*sink.content_length, 5u);
    EXPECT_EQ(sink.body, "exact");
    // A status without content ignores it (RFC 9110 §8.6).
    RecordingSink sink304;
    Response res304(sink304, false);
    res304.status(304);
    res304.header("Content-Length", "5");
    ASSERT_TRUE(res304.finish());
    EXPECT_FALSE(sink304.content_length.has_value());
}

TEST(Response, NoContentHasNoLength) {
    RecordingSink sink;
    Response res(sink, false);
    res.status(204);
    res.finish();
    EXPECT_FALSE(sink.content_length.has_value());
}

TEST(Response, RefusesBadHeaders) {
    RecordingSink sink;
    Response res(sink, false);
    EXPECT_THROW(res.header("X-Bad\r\nInjected", "v"), std::invalid_argument);
    EXPECT_THROW(res.header("X-Ok", "line\r\nInjected: yes"), std::invalid_argument);
    EXPECT_THROW(res.header("X-Ok", std::string("nul\0byte", 8)), std::invalid_argument);
    EXPECT_THROW(res.header("X Space", "v"), std::invalid_argument);
    EXPECT_THROW(res.header("", "v"), std::invalid_argument);
    EXPECT_THROW(res.header("Transfer-Encoding", "chunked"), std::invalid_argument);
    EXPECT_THROW(res.header("Connection", "close"), std::invalid_argument);
    EXPECT_THROW(res.header("Content-Length", "12x"), std::invalid_argument);
    EXPECT_THROW(res.status(42), std::invalid_argument);
    res.header("X-Fine", "ok");
    EXPECT_EQ(res.get_header("x-fine"), "ok");
}

TEST(Response, SetHeaderReplacesEveryCopy) {
    RecordingSink sink;
    Response res(sink, false);
    res.header("Set-Cookie", "a=1");
    res.header("Set-Cookie", "b=2");
    EXPECT_EQ(res.headers().size(), 2u);
    res.set_header("set-cookie", "c=3");
    ASSERT_EQ(res.headers().size(), 1u);
    EXPECT_EQ(res.headers()[0].second, "c=3");
}

TEST(Response, ClientGoneIsReported) {
    RecordingSink sink;
    Response res(sink, false);
    res.write("x");
    sink.gone = true;
    EXPECT_FALSE(res.flush());
    EXPECT_TRUE(res.client_gone());
    EXPECT_FALSE(res.write("more"));
}

TEST(Response, HeadersCannotChangeAfterCommit) {
    RecordingSink sink;
    Response res(sink, false);
    res.flush();
    EXPECT_THROW(res.header("X-Late", "1"), std::logic_error);
    EXPECT_THROW(res.status(500), std::logic_error);
    EXPECT_THROW(res.reset(), std::logic_error);
}

TEST(CgiHead, ExactBytes) {
    HeaderList h{{"Content-Type", "text/plain"}, {"X-A", "1"}};
    ResponseHead head;
    head.status = 404;
    head.headers = &h;
    head.content_length = 5;
    EXPECT_EQ(
        cgi_head(head),
        "Status: 404 Not Found\r\nContent-Type: text/plain\r\nX-A: 1\r\nContent-Length: 5\r\n\r\n");
    head.content_length.reset();
    head.status = 200;
    EXPECT_EQ(cgi_head(head), "Status: 200 OK\r\nContent-Type: text/plain\r\nX-A: 1\r\n\r\n");
}

}  // namespace
}  // namespace postern
