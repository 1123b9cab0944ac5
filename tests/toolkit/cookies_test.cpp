// Tests gateway/src/toolkit/cookies.cpp: Request::cookie() and
// Response::set_cookie().
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "recording_sink.hpp"
#include "postern/request.hpp"
#include "postern/response.hpp"

namespace postern {
namespace {

using test::RecordingSink;
using test::StringBody;

struct WithCookies {
    explicit WithCookies(std::string header)
        : req("http", {{"HTTP_COOKIE", std::move(header)}}, body) {}
    StringBody body{""};
    Request req;
};

TEST(RequestCookie, FindsEachPair) {
    WithCookies c("sid=abc123; theme=dark;lang=en");
    EXPECT_EQ(c.req.cookie("sid"), "abc123");
    EXPECT_EQ(c.req.cookie("theme"), "dark");
    EXPECT_EQ(c.req.cookie("lang"), "en");
    EXPECT_FALSE(c.req.cookie("missing").has_value());
    EXPECT_FALSE(c.req.cookie("SID").has_value()) << "names are case-sensitive";
    EXPECT_FALSE(c.req.cookie("").has_value());
}

TEST(RequestCookie, WithoutACookieHeaderFindsNothing) {
    StringBody body("");
    Request req("http", {{"REQUEST_METHOD", "GET"}}, body);
    EXPECT_FALSE(req.cookie("sid").has_value());
}

TEST(RequestCookie, TheFirstOfANameWins) {
    // RFC 6265 §5.4: the cookie with the longer path comes first; and the
    // gateway joins repeated Cookie headers with "; " in their order.
    WithCookies c("sid=first; other=1; sid=second");
    EXPECT_EQ(c.req.cookie("sid"), "first");
}

TEST(RequestCookie, TrimsAndUnquotes) {
    WithCookies c("  a = 1 ;\tb=\"quoted value\";c=\"\";d=\";e= ;f=x=y");
    EXPECT_EQ(c.req.cookie("a"), "1");
    EXPECT_EQ(c.req.cookie("b"), "quoted value");
    EXPECT_EQ(c.req.cookie("c"), "");
    EXPECT_EQ(c.req.cookie("d"), "\"") << "a lone quote is no quoting";
    EXPECT_EQ(c.req.cookie("e"), "");
    EXPECT_EQ(c.req.cookie("f"), "x=y") << "only the first '=' splits";
}

TEST(RequestCookie, ValuesAreViewsIntoTheRequest) {
    WithCookies c("sid=abc");
    const std::string_view v = *c.req.cookie("sid");
    const std::string& header = c.req.environ().front().second;
    EXPECT_GE(v.data(), header.data());
    EXPECT_LE(v.data() + v.size(), header.data() + header.size());
}

TEST(RequestCookie, SurvivesGarbage) {
    WithCookies c(";;;=;==;novalue;  ;\x01\x7f\xff;=x;sid=ok;;;\"\";;a");
    EXPECT_EQ(c.req.cookie("sid"), "ok");
    EXPECT_FALSE(c.req.cookie("novalue").has_value()) << "a piece without '=' is no cookie";
    EXPECT_FALSE(c.req.cookie("a").has_value());
}

TEST(RequestCookie, AnEightKibHeaderIsSearchedToTheEnd) {
    std::string header;
    for (int i = 0; header.size() < 8 * 1024; ++i)
        header += "c" + std::to_string(i) + "=" + std::string(40, 'v') + "; ";
    header += "garbage; last=found";
    ASSERT_GE(header.size(), 8u * 1024);
    WithCookies c(header);
    EXPECT_EQ(c.req.cookie("last"), "found");
    EXPECT_EQ(c.req.cookie("c0"), std::string(40, 'v'));
    EXPECT_FALSE(c.req.cookie("garbage").has_value());
    // One cookie of 8 KiB.
    WithCookies big("big=" + std::string(8192, 'x'));
    EXPECT_EQ(big.req.cookie("big")->size(), 8192u);
}

std::vector<std::string> set_cookies(const Response& res) {
    std::vector<std::string> out;
    for (const auto& [name, value] : res.headers())
        if (name == "Set-Cookie")
            out.push_back(value);
    return out;
}

TEST(SetCookie, FormatsEveryAttribute) {
    RecordingSink sink;
    Response res(sink, false);
    res.set_cookie({.name = "sid",
                    .value = "abc123",
                    .path = "/app",
                    .domain = "example.org",
                    .max_age = 3600,
                    .secure = true,
                    .http_only = true,
                    .same_site = SameSite::lax});
    res.set_cookie({.name = "theme", .value = "dark"});
    res.set_cookie({.name = "s", .value = "1", .secure = true, .same_site = SameSite::none});
    res.set_cookie({.name = "t", .value = "\"quoted\"", .same_site = SameSite::strict});
    EXPECT_EQ(set_cookies(res),
              (std::vector<std::string>{
                  "sid=abc123; Max-Age=3600; Domain=example.org; Path=/app; Secure; HttpOnly; "
                  "SameSite=Lax",
                  "theme=dark", "s=1; Secure; SameSite=None", "t=\"quoted\"; SameSite=Strict"}));
    ASSERT_TRUE(res.finish());
    EXPECT_EQ(std::count_if(sink.headers.begin(), sink.headers.end(),
                            [](const auto& h) { return h.first == "Set-Cookie"; }),
              4)
        << "each cookie its own header, none merged";
}

TEST(SetCookie, MaxAgeZeroOrLessDeletes) {
    RecordingSink sink;
    Response res(sink, false);
    res.set_cookie({.name = "a", .value = "", .max_age = 0});
    res.set_cookie({.name = "b", .value = "", .max_age = -5});
    EXPECT_EQ(set_cookies(res), (std::vector<std::string>{"a=; Max-Age=0", "b=; Max-Age=0"}));
}

TEST(SetCookie, RefusesWhatABrowserWouldMisread) {
    const std::vector<Cookie> bad = {
        {.name = "", .value = "v"},
        {.name = "a b", .value = "v"},
        {.name = "a=b", .value = "v"},
        {.name = "a;b", .value = "v"},
        {.name = "a\r\nSet-Cookie: x", .value = "v"},
        {.name = "a", .value = "two words"},
        {.name = "a", .value = "x;y"},
        {.name = "a", .value = "x,y"},
        {.name = "a", .value = "back\\slash"},
        {.name = "a", .value = "\"unbalanced"},
        {.name = "a", .value = "in\"side"},
        {.name = "a", .value = "\r\n"},
        {.name = "a", .value = std::string("nul\0", 4)},
        {.name = "a", .value = "\xc3\xa9"},
        {.name = "a", .value = "v", .path = "relative"},
        {.name = "a", .value = "v", .path = "/a;Domain=evil.example"},
        {.name = "a", .value = "v", .path = "/a\tb"},
        {.name = "a", .value = "v", .path = "/\xc3\xa9"},
        {.name = "a", .value = "v", .domain = "evil.example; Secure"},
        {.name = "a", .value = "v", .domain = "a b.example"},
        {.name = "a", .value = "v", .domain = "ex\xc3\xa4mple.org"},
        {.name = "a", .value = "v", .same_site = SameSite::none},
        {.name = "__Secure-a", .value = "v"},
        {.name = "__Host-a", .value = "v", .path = "/"},
        {.name = "__Host-a", .value = "v", .path = "/x", .secure = true},
        {.name = "__Host-a", .value = "v", .path = "/", .domain = "example.org", .secure = true},
    };
    for (std::size_t i = 0; i < bad.size(); ++i) {
        RecordingSink sink;
        Response res(sink, false);
        EXPECT_THROW(res.set_cookie(bad[i]), std::invalid_argument) << "case " << i;
        EXPECT_TRUE(res.headers().empty()) << "case " << i;
    }
}

TEST(SetCookie, TakesThePrefixedCookiesDoneRight) {
    RecordingSink sink;
    Response res(sink, false);
    res.set_cookie({.name = "__Secure-a", .value = "v", .secure = true});
    res.set_cookie({.name = "__Host-b", .value = "v", .path = "/", .secure = true});
    res.set_cookie({.name = "c", .value = "", .path = "/", .domain = ".example.org"});
    EXPECT_EQ(set_cookies(res).size(), 3u);
}

}  // namespace
}  // namespace postern
