// Tests gateway/src/toolkit/responses.cpp: Response::json() and
// Response::redirect().
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "recording_sink.hpp"
#include "postern/response.hpp"

namespace postern {
namespace {

using test::RecordingSink;

TEST(Json, SetsStatusTypeAndBody) {
    RecordingSink sink;
    Response res(sink, false);
    res.json(R"({"id":7})", 201);
    ASSERT_TRUE(res.finish());
    EXPECT_EQ(sink.status, 201);
    EXPECT_EQ(res.get_header("Content-Type"), "application/json");
    EXPECT_EQ(sink.body, R"({"id":7})");
    EXPECT_EQ(sink.content_length, 8u);
}

TEST(Json, ReplacesAnEarlierContentTypeAndDefaultsTo200) {
    RecordingSink sink;
    Response res(sink, false);
    res.header("Content-Type", "text/plain");
    res.json("[]");
    ASSERT_TRUE(res.finish());
    EXPECT_EQ(sink.status, 200);
    int types = 0;
    for (const auto& [name, value] : sink.headers)
        types += name == "Content-Type";
    EXPECT_EQ(types, 1);
    EXPECT_EQ(res.get_header("Content-Type"), "application/json");
}

TEST(Json, AnInvalidStatusThrowsAndWritesNothing) {
    RecordingSink sink;
    Response res(sink, false);
    EXPECT_THROW(res.json("{}", 99), std::invalid_argument);
    EXPECT_THROW(res.json("{}", 1000), std::invalid_argument);
    EXPECT_FALSE(res.get_header("Content-Type"));
    ASSERT_TRUE(res.finish());
    EXPECT_EQ(sink.body, "");
}

TEST(Json, OnHeadSendsTheLengthWithoutTheBody) {
    RecordingSink sink;
    Response res(sink, true);
    res.json("{\"a\":1}");
    ASSERT_TRUE(res.finish());
    EXPECT_EQ(sink.content_length, 7u);
    EXPECT_EQ(sink.body, "");
}

TEST(Redirect, SetsLocationAndAnEscapedLink) {
    RecordingSink sink;
    Response res(sink, false);
    res.redirect("/search?q=<script>&a='1'&b=\"2\"");
    ASSERT_TRUE(res.finish());
    EXPECT_EQ(sink.status, 302);
    EXPECT_EQ(res.get_header("Location"), "/search?q=<script>&a='1'&b=\"2\"");
    EXPECT_EQ(res.get_header("Content-Type"), "text/html; charset=utf-8");
    const std::string escaped = "/search?q=&lt;script&gt;&amp;a=&#39;1&#39;&amp;b=&quot;2&quot;";
    EXPECT_NE(sink.body.find("<a href=\"" + escaped + "\">" + escaped + "</a>"), std::string::npos)
        << sink.body;
    EXPECT_EQ(sink.body.find("<script>"), std::string::npos);
}

TEST(Redirect, TakesEveryRedirectStatus) {
    for (int status : {301, 302, 303, 307, 308}) {
        RecordingSink sink;
        Response res(sink, false);
        res.redirect("https://example.org/x", status);
        ASSERT_TRUE(res.finish());
        EXPECT_EQ(sink.status, status);
        EXPECT_EQ(res.get_header("Location"), "https://example.org/x");
    }
}

TEST(Redirect, ASecondRedirectReplacesTheLocation) {
    RecordingSink sink;
    Response res(sink, false);
    res.redirect("/a");
    res.reset();
    res.redirect("/b", 303);
    ASSERT_TRUE(res.finish());
    EXPECT_EQ(sink.status, 303);
    int locations = 0;
    for (const auto& [name, value] : sink.headers)
        locations += name == "Location";
    EXPECT_EQ(locations, 1);
}

TEST(Redirect, RefusesAnotherStatusOrABadLocationAndLeavesTheResponse) {
    struct Case {
        std::string location;
        int status;
    };
    for (const Case& c : std::vector<Case>{{"/x", 200},
                                           {"/x", 300},
                                           {"/x", 304},
                                           {"/x", 305},
                                           {"/x", 404},
                                           {"", 302},
                                           {"/x\r\nSet-Cookie: a=b", 302},
                                           {"/x\n", 302},
                                           {std::string("/x\0y", 4), 302},
                                           {"/x\ty", 302},
                                           {"/x\x7f", 302}}) {
        RecordingSink sink;
        Response res(sink, false);
        EXPECT_THROW(res.redirect(c.location, c.status), std::invalid_argument) << c.status;
        EXPECT_EQ(res.status(), 200);
        EXPECT_TRUE(res.headers().empty());
    }
}

TEST(HtmlEscape, EscapesTheFiveCharactersAndKeepsTheRest) {
    EXPECT_EQ(html_escape("<a href=\"x?a=1&b='2'\">caf\xC3\xA9</a>"),
              "&lt;a href=&quot;x?a=1&amp;b=&#39;2&#39;&quot;&gt;caf\xC3\xA9&lt;/a&gt;");
    EXPECT_EQ(html_escape(""), "");
    EXPECT_EQ(html_escape(std::string_view("a\0b", 3)), std::string("a\0b", 3));
}

}  // namespace
}  // namespace postern
