// The Router (gateway/src/toolkit/router.cpp): in memory over Requests
// built by hand, then end to end, mounted under /api in an in-process
// gateway, over HTTP, FastCGI and SCGI.
#include "postern/router.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "recording_sink.hpp"
#include "fcgi_client.hpp"
#include "http1_client.hpp"
#include "in_process_gateway.hpp"
#include "scgi_client.hpp"

// Params::get_int and Request::query() are another part of the toolkit
// (params.cpp, form.cpp). Until they are merged into this branch the test
// route below throws the RequestError get_int would throw itself; set this
// to 1 once they are, and the "get_int" route calls the real thing.
#ifndef POSTERN_ROUTER_TEST_REAL_GET_INT
#define POSTERN_ROUTER_TEST_REAL_GET_INT 1
#endif

namespace postern {
namespace {

// ---------------------------------------------------------------- in memory

/// What one request through a Router produced.
struct Outcome {
    int status = 0;
    HeaderList headers;
    std::string body;
    std::optional<std::uint64_t> content_length;
    bool head_only = false;
    std::optional<std::string> header(std::string_view name) const {
        for (const auto& [k, v] : headers)
            if (k == name)
                return v;
        return std::nullopt;
    }
};

/// A request as the gateway hands it to the mount "/api": REQUEST_URI raw,
/// SCRIPT_NAME the mount, PATH_INFO what the gateway would decode.
Environ env_for(std::string_view method, std::string_view uri, std::string_view script = "/api",
                std::string_view path_info = "") {
    Environ env{{"REQUEST_METHOD", std::string(method)},
                {"SCRIPT_NAME", std::string(script)},
                {"PATH_INFO", std::string(path_info)}};
    if (!uri.empty())
        env.emplace_back("REQUEST_URI", std::string(uri));
    // As every adapter does: the query of the target, without the '?'.
    const std::size_t q = uri.find('?');
    env.emplace_back("QUERY_STRING",
                     q == std::string_view::npos ? std::string() : std::string(uri.substr(q + 1)));
    return env;
}

Outcome run(const Handler& handler, Environ env) {
    test::StringBody body("");
    Request req("http", std::move(env), body);
    test::RecordingSink sink;
    Response res(sink, req.method() == "HEAD");
    handler(req, res);
    res.finish();
    return {sink.status, sink.headers, sink.body, sink.content_length, sink.head_only};
}

Outcome run(const Handler& handler, std::string_view method, std::string_view uri) {
    return run(handler, env_for(method, uri));
}

/// A route that answers "name=value;" for every capture.
void show_params(Request& req, Response& res) {
    res.header("Content-Type", "text/plain");
    for (const auto& [k, v] : req.params())
        res.write(k + "=" + v + ";");
}

Handler says(std::string text) {
    return [text](Request&, Response& res) { res.write(text); };
}

TEST(Router, CapturesASegment) {
    Router r;
    r.get("/items/{id}", [](Request& req, Response& res) { res.write(req.param("id")); });
    const Outcome out = run(r, "GET", "/api/items/42");
    EXPECT_EQ(out.status, 200);
    EXPECT_EQ(out.body, "42");
}

TEST(Router, CapturesSeveralSegmentsInPatternOrder) {
    Router r;
    r.get("/users/{user}/items/{item}", show_params);
    EXPECT_EQ(run(r, "GET", "/api/users/ann/items/7").body, "user=ann;item=7;");
}

TEST(Router, AnEncodedSlashStaysInsideItsSegmentAndIsDecoded) {
    Router r;
    r.get("/items/{id}", show_params);
    EXPECT_EQ(run(r, "GET", "/api/items/a%2Fb").body, "id=a/b;");
    EXPECT_EQ(run(r, "GET", "/api/items/a%2fb").body, "id=a/b;");
    EXPECT_EQ(run(r, "GET", "/api/items/50%25%20off").body, "id=50% off;");
    // '+' is a space only in a query string.
    EXPECT_EQ(run(r, "GET", "/api/items/a+b").body, "id=a+b;");
    EXPECT_EQ(run(r, "GET", "/api/items/a/b").status, 404);
}

TEST(Router, LiteralSegmentsAreComparedDecoded) {
    Router r;
    r.get("/caf%C3%A9/{x}", says("pattern escaped")).get("/hello world", says("space"));
    EXPECT_EQ(run(r, "GET", "/api/caf%c3%a9/1").body, "pattern escaped");
    EXPECT_EQ(run(r, "GET", "/api/caf\xC3\xA9/1").body, "pattern escaped");
    EXPECT_EQ(run(r, "GET", "/api/hello%20world").body, "space");
    EXPECT_EQ(run(r, "GET", "/api/%68ello%20world").body, "space");
}

TEST(Router, TheQueryStringIsNotPartOfThePath) {
    Router r;
    r.get("/items/{id}", show_params);
    EXPECT_EQ(run(r, "GET", "/api/items/9?next=/x/y&a=%zz").body, "id=9;");
}

TEST(Router, RoutesAreTriedInTheOrderTheyWereAdded) {
    Router r;
    r.get("/items/new", says("form")).get("/items/{id}", show_params);
    EXPECT_EQ(run(r, "GET", "/api/items/new").body, "form");
    EXPECT_EQ(run(r, "GET", "/api/items/3").body, "id=3;");
}

TEST(Router, ACaptureNeedsANonEmptySegmentAndATrailingSlashCounts) {
    Router r;
    r.get("/items/{id}", show_params).get("/list/", says("list/")).get("/list", says("list"));
    EXPECT_EQ(run(r, "GET", "/api/items/").status, 404);
    EXPECT_EQ(run(r, "GET", "/api/items").status, 404);
    EXPECT_EQ(run(r, "GET", "/api/list/").body, "list/");
    EXPECT_EQ(run(r, "GET", "/api/list").body, "list");
    EXPECT_EQ(run(r, "GET", "/api/items/1/").status, 404);
}

TEST(Router, SlashPatternIsTheMountItselfWithOrWithoutItsSlash) {
    Router r;
    r.get("/", says("root"));
    EXPECT_EQ(run(r, "GET", "/api").body, "root");
    EXPECT_EQ(run(r, "GET", "/api/").body, "root");
    EXPECT_EQ(run(r, "GET", "/api/x").status, 404);
}

TEST(Router, AtTheRootMountTheWholePathIsMatched) {
    Router r;
    r.get("/api/items/{id}", show_params).get("/", says("root"));
    EXPECT_EQ(run(r, env_for("GET", "/api/items/a%2Fb", "")).body, "id=a/b;");
    EXPECT_EQ(run(r, env_for("GET", "/", "")).body, "root");
}

TEST(Router, RepeatedSlashesAndDotSegmentsAreResolvedAsTheGatewayDoes) {
    Router r;
    r.get("/items/{id}", show_params);
    EXPECT_EQ(run(r, "GET", "/api//items///5").body, "id=5;");
    EXPECT_EQ(run(r, "GET", "/api/items/../items/./6").body, "id=6;");
    EXPECT_EQ(run(r, "GET", "/api/x/%2e%2E/items/7").body, "id=7;");
    // The mount's own segment counts as reached through the dot segments.
    EXPECT_EQ(run(r, "GET", "/other/../api/items/8").body, "id=8;");
}

TEST(Router, WithoutRequestUriThePathInfoIsMatched) {
    Router r;
    r.get("/items/{id}", show_params);
    // PATH_INFO is decoded already: it is not decoded again.
    EXPECT_EQ(run(r, env_for("GET", "", "/api", "/items/50%25")).body, "id=50%25;");
    EXPECT_EQ(run(r, env_for("GET", "", "/api", "/items/9")).body, "id=9;");
    // A REQUEST_URI that is not under SCRIPT_NAME (a request built by a
    // caller that rewrote the path): PATH_INFO too.
    EXPECT_EQ(run(r, env_for("GET", "/elsewhere/x", "/api", "/items/10")).body, "id=10;");
}

TEST(Router, NoRouteForThePathIs404) {
    Router r;
    r.get("/items/{id}", show_params);
    const Outcome out = run(r, "GET", "/api/nothing");
    EXPECT_EQ(out.status, 404);
    EXPECT_EQ(out.header("Content-Type"), "text/plain; charset=utf-8");
    EXPECT_EQ(out.body, "Not Found\n");
    EXPECT_EQ(run(r, "GET", "/api/items/1").status, 200);
}

TEST(Router, ARouteForThePathButNotTheMethodIs405WithAllow) {
    Router r;
    r.get("/items/{id}", show_params)
        .del("/items/{id}", says("gone"))
        .put("/items/{id}", says("put"))
        .post("/items", says("made"));
    Outcome out = run(r, "POST", "/api/items/1");
    EXPECT_EQ(out.status, 405);
    EXPECT_EQ(out.header("Allow"), "GET, HEAD, DELETE, PUT");
    EXPECT_EQ(out.body, "Method Not Allowed\n");
    out = run(r, "GET", "/api/items");
    EXPECT_EQ(out.status, 405);
    EXPECT_EQ(out.header("Allow"), "POST");
    // OPTIONS is a method like another: routed only when asked for.
    EXPECT_EQ(run(r, "OPTIONS", "/api/items").status, 405);
    EXPECT_EQ(run(r, "DELETE", "/api/items/1").body, "gone");
}

TEST(Router, AllowListsHeadOnceWhenThereIsAHeadRoute) {
    Router r;
    r.route("HEAD", "/x", says("")).get("/x", says("x"));
    EXPECT_EQ(run(r, "PATCH", "/api/x").header("Allow"), "HEAD, GET");
}

TEST(Router, HeadIsServedByTheGetRouteWithoutABody) {
    Router r;
    r.get("/big", [](Request& req, Response& res) {
        EXPECT_EQ(req.method(), "HEAD");
        res.header("Content-Type", "text/plain");
        res.write(std::string(1000, 'x'));
    });
    const Outcome out = run(r, "HEAD", "/api/big");
    EXPECT_EQ(out.status, 200);
    EXPECT_TRUE(out.head_only);
    EXPECT_EQ(out.content_length, 1000u);
    EXPECT_EQ(out.body, "");
}

TEST(Router, AHeadRouteIsPreferredToTheGetRouteWhateverTheOrder) {
    Router r;
    r.get("/x", says("get")).route("HEAD", "/x", [](Request&, Response& res) {
        res.header("X-Head", "1");
    });
    EXPECT_EQ(run(r, "HEAD", "/api/x").header("X-Head"), "1");
}

TEST(Router, OtherMethodTokensCanBeRouted) {
    Router r;
    r.route("PROPFIND", "/dav/{p}", show_params).patch("/dav/{p}", says("patched"));
    EXPECT_EQ(run(r, "PROPFIND", "/api/dav/a").body, "p=a;");
    EXPECT_EQ(run(r, "PATCH", "/api/dav/a").body, "patched");
    EXPECT_EQ(run(r, "propfind", "/api/dav/a").status, 405);  // methods are case-sensitive
}

/// A JSON error answer, as an API would give.
void json_error(int status, std::string_view reason, Response& res) {
    res.header("Content-Type", "application/json");
    res.write("{\"status\":" + std::to_string(status) + ",\"error\":\"" + std::string(reason) +
              "\"}");
}

TEST(Router, OnErrorAnswers404And405) {
    Router r;
    r.get("/items/{id}", show_params).on_error(json_error);
    Outcome out = run(r, "GET", "/api/none");
    EXPECT_EQ(out.status, 404);
    EXPECT_EQ(out.header("Content-Type"), "application/json");
    EXPECT_EQ(out.body, R"({"status":404,"error":"Not Found"})");
    out = run(r, "DELETE", "/api/items/1");
    EXPECT_EQ(out.status, 405);
    EXPECT_EQ(out.header("Allow"), "GET, HEAD");
    EXPECT_EQ(out.body, R"({"status":405,"error":"Method Not Allowed"})");
}

TEST(Router, OnErrorAnswersARequestErrorFromTheRouteOnAResetResponse) {
    Router r;
    r.get("/conflict", [](Request&, Response& res) {
         res.status(201);
         res.header("X-Half-Done", "1");
         res.write("partial");
         throw RequestError(409, "item exists");
     }).on_error(json_error);
    const Outcome out = run(r, "GET", "/api/conflict");
    EXPECT_EQ(out.status, 409);
    EXPECT_FALSE(out.header("X-Half-Done"));
    EXPECT_EQ(out.header("Content-Type"), "application/json");
    EXPECT_EQ(out.body, R"({"status":409,"error":"item exists"})");
}

TEST(Router, TheDefaultErrorAnswerIsTheReasonAsText) {
    Router r;
    r.get("/x", [](Request&, Response&) { throw RequestError(422, "field a: required"); });
    const Outcome out = run(r, "GET", "/api/x");
    EXPECT_EQ(out.status, 422);
    EXPECT_EQ(out.header("Content-Type"), "text/plain; charset=utf-8");
    EXPECT_EQ(out.body, "field a: required\n");
}

TEST(Router, AnEmptyOnErrorRestoresTheDefaultAnswer) {
    Router r;
    r.on_error(json_error).on_error(nullptr);
    EXPECT_EQ(run(r, "GET", "/api/x").body, "Not Found\n");
}

#if POSTERN_ROUTER_TEST_REAL_GET_INT
TEST(Router, OnErrorAnswersARequestErrorFromGetInt) {
    Router r;
    r.get("/count", [](Request& req, Response& res) {
         res.write(std::to_string(req.query().get_int("n", 0, 0, 100)));
     }).on_error(json_error);
    Outcome out = run(r, "GET", "/api/count?n=x");
    EXPECT_EQ(out.status, 400);
    EXPECT_EQ(out.header("Content-Type"), "application/json");
    out = run(r, "GET", "/api/count?n=7");
    EXPECT_EQ(out.status, 200);
    EXPECT_EQ(out.body, "7");
}
#endif

TEST(Router, AMalformedEscapeInTheRequestPathIs400ThroughOnError) {
    Router r;
    r.get("/items/{id}", show_params).on_error(json_error);
    for (const char* uri :
         {"/api/items/%zz", "/api/items/%4", "/api/items/a%", "/api/items/%g0", "/api/%zz/1"}) {
        SCOPED_TRACE(uri);
        const Outcome out = run(r, "GET", uri);
        EXPECT_EQ(out.status, 400);
        EXPECT_EQ(out.header("Content-Type"), "application/json");
        EXPECT_EQ(out.body,
                  R"({"status":400,"error":"malformed percent-escape in the request path"})");
    }
    const Outcome nul = run(r, "GET", "/api/items/a%00b");
    EXPECT_EQ(nul.status, 400);
    EXPECT_EQ(nul.body, R"({"status":400,"error":"encoded NUL (%00) in the request path"})");
    EXPECT_EQ(run(r, "GET", "/api/items/ok").body, "id=ok;");
}

TEST(Router, APathClimbingAboveTheRootIs400) {
    Router r;
    r.get("/items/{id}", show_params);
    const Outcome out = run(r, env_for("GET", "/../api/items/1", ""));
    EXPECT_EQ(out.status, 400);
    EXPECT_EQ(run(r, "GET", "/api/items/1").body, "id=1;");
}

TEST(Router, ARequestErrorAfterTheHeadWasSentIsRethrown) {
    Router r;
    bool on_error_called = false;
    r.get("/stream", [](Request&, Response& res) {
         res.write("first");
         res.flush();
         throw RequestError(400, "too late");
     }).on_error([&](int, std::string_view, Response&) { on_error_called = true; });
    test::StringBody body("");
    Request req("http", env_for("GET", "/api/stream"), body);
    test::RecordingSink sink;
    Response res(sink, false);
    EXPECT_THROW(r(req, res), RequestError);
    EXPECT_FALSE(on_error_called);
    EXPECT_EQ(sink.body, "first");
}

TEST(Router, AnyOtherExceptionFromARouteIsRethrownForTheGatewaysBarrier) {
    Router r;
    bool on_error_called = false;
    r.get("/boom", [](Request&, Response&) {
         throw std::runtime_error("bug");
     }).on_error([&](int, std::string_view, Response&) { on_error_called = true; });
    test::StringBody body("");
    Request req("http", env_for("GET", "/api/boom"), body);
    test::RecordingSink sink;
    Response res(sink, false);
    EXPECT_THROW(r(req, res), std::runtime_error);
    EXPECT_FALSE(on_error_called);
    EXPECT_EQ(sink.heads, 0);
}

TEST(Router, MalformedPatternsAndMethodsAreRefusedWhenAdded) {
    Router r;
    for (const char* p : {"", "items", "/a//b", "//", "/{}", "/{a}{b}", "/x{a}", "/{a}x", "/{a b}",
                          "/{a}/{a}", "/%zz", "/a}"}) {
        SCOPED_TRACE(p);
        EXPECT_THROW(r.get(p, says("")), std::invalid_argument);
    }
    EXPECT_THROW(r.route("", "/x", says("")), std::invalid_argument);
    EXPECT_THROW(r.route("GE T", "/x", says("")), std::invalid_argument);
    EXPECT_THROW(r.route("GET\r\n", "/x", says("")), std::invalid_argument);
    EXPECT_THROW(r.get("/x", Handler()), std::invalid_argument);
    // Nothing of the refused routes was kept.
    EXPECT_EQ(run(r, "GET", "/api/x").status, 404);
}

TEST(Router, CopiesShareTheRoutesAndARouterIsAHandler) {
    Router r;
    Handler h = r;
    Router copy = r;
    r.get("/late", says("late"));
    copy.on_error([](int status, std::string_view, Response& res) {
        res.write("custom " + std::to_string(status));
    });
    EXPECT_EQ(run(h, "GET", "/api/late").body, "late");
    EXPECT_EQ(run(r, "GET", "/api/none").body, "custom 404");
}

TEST(Router, MatchesOnManyThreadsAtOnce) {
    Router r;
    r.get("/a/{x}", show_params).get("/b/{y}/c", show_params);
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 500; ++i) {
                const std::string v = std::to_string(t * 1000 + i);
                if (run(r, "GET", "/api/a/" + v).body != "x=" + v + ";" ||
                    run(r, "GET", "/api/b/" + v + "/c").body != "y=" + v + ";" ||
                    run(r, "POST", "/api/a/" + v).status != 405)
                    ++wrong;
            }
        });
    for (auto& t : threads)
        t.join();
    EXPECT_EQ(wrong.load(), 0);
}

// ------------------------------------------------------------- end to end

/// A gateway serving a Router at /api (and the test application at /app),
/// over HTTP, FastCGI and SCGI.
class RouterGateway : public ::testing::Test {
  protected:
    void SetUp() override {
        Router r;
        r.get("/items/{id}",
              [](Request& req, Response& res) {
                  // (res.json is another part of the toolkit; this is what
                  // it does.)
                  res.header("Content-Type", "application/json");
                  res.write("{\"id\":\"" + std::string(req.param("id")) + "\"}");
              })
            .del("/items/{id}", [](Request&, Response& res) { res.status(204); })
            .get("/big",
                 [](Request&, Response& res) {
                     res.header("Content-Type", "text/plain");
                     res.write(std::string(1000, 'b'));
                 })
            .get("/count",
                 [](Request& req, Response& res) {
#if POSTERN_ROUTER_TEST_REAL_GET_INT
                     res.write(std::to_string(req.query().get_int("n", 0, 0, 100)));
#else
                     // Stands in for req.query().get_int("n", 0, 0, 100),
                     // which throws this for "n=x" (see the top of the file).
                     if (req.query_string() != "n=7")
                         throw RequestError(400, "parameter n: not an integer");
                     res.write("7");
#endif
                 })
            .get("/conflict", [](Request&, Response&) { throw RequestError(409, "item exists"); })
            .on_error([](int status, std::string_view reason, Response& res) {
                res.header("Content-Type", "application/json");
                res.write("{\"status\":" + std::to_string(status) + ",\"error\":\"" +
                          std::string(reason) + "\"}");
            });
        gw.options().mounts.push_back({"/api", r, "router"});
        gw.start();
    }

    /// One request over a kept HTTP connection.
    test::http1::HttpResponse http(test::SocketClient& c, test::http1::ResponseReader& reader,
                                   std::string_view method, std::string_view target) {
        EXPECT_TRUE(c.send(test::http1::request(method, target)));
        auto r = reader.next(method == "HEAD");
        if (!r) {
            ADD_FAILURE() << "no answer to " << method << " " << target;
            return {};
        }
        return *r;
    }

    test::InProcessGateway gw{{"http", "fastcgi", "scgi"}};
};

using test::http1::HttpResponse;

TEST_F(RouterGateway, OverHttpCapturesRefusesAndKeepsTheConnection) {
    test::SocketClient c = gw.connect("http");
    test::http1::ResponseReader reader(c);

    HttpResponse r = http(c, reader, "GET", "/api/items/42");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("content-type"), "application/json");
    EXPECT_EQ(r.body, R"({"id":"42"})");

    r = http(c, reader, "GET", "/api/items/a%2Fb");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, R"({"id":"a/b"})");

    r = http(c, reader, "GET", "/api/nothing/here");
    EXPECT_EQ(r.status, 404);
    EXPECT_EQ(r.header("content-type"), "application/json");
    EXPECT_EQ(r.body, R"({"status":404,"error":"Not Found"})");

    r = http(c, reader, "POST", "/api/items/42");
    EXPECT_EQ(r.status, 405);
    EXPECT_EQ(r.header("allow"), "GET, HEAD, DELETE");
    EXPECT_EQ(r.body, R"({"status":405,"error":"Method Not Allowed"})");

    r = http(c, reader, "GET", "/api/count?n=x");
    EXPECT_EQ(r.status, 400);
    // (The reason is get_int's own wording: only its start is asserted.)
    EXPECT_EQ(r.body.rfind(R"({"status":400,"error":")", 0), 0u) << r.body;
    r = http(c, reader, "GET", "/api/count?n=7");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "7");

    r = http(c, reader, "GET", "/api/conflict");
    EXPECT_EQ(r.status, 409);
    EXPECT_EQ(r.body, R"({"status":409,"error":"item exists"})");

    r = http(c, reader, "DELETE", "/api/items/42");
    EXPECT_EQ(r.status, 204);

    r = http(c, reader, "GET", "/api/items/1");
    EXPECT_EQ(r.status, 200);
    EXPECT_FALSE(c.closed());
}

TEST_F(RouterGateway, OverHttpHeadIsServedByGetWithItsLengthAndNoBody) {
    test::SocketClient c = gw.connect("http");
    test::http1::ResponseReader reader(c);
    HttpResponse r = http(c, reader, "HEAD", "/api/big");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("content-length"), "1000");
    EXPECT_EQ(r.body, "");
    // Nothing of a body came after the head: the next answer is the next
    // request's.
    r = http(c, reader, "GET", "/api/items/7");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, R"({"id":"7"})");
}

TEST_F(RouterGateway, AMalformedEscapeInThePathIsRefusedByTheGatewayBeforeTheRouter) {
    // The gateway decodes the path to choose the mount, so a malformed
    // escape never reaches the Router over the wire: it is the gateway's
    // own 400 (text/plain), not on_error's JSON.
    for (const char* target : {"/api/items/%zz", "/api/items/%4", "/api/items/%00"}) {
        SCOPED_TRACE(target);
        test::SocketClient c = gw.connect("http");
        test::http1::ResponseReader reader(c);
        HttpResponse r = http(c, reader, "GET", target);
        EXPECT_EQ(r.status, 400);
        EXPECT_EQ(r.header("content-type"), "text/plain; charset=utf-8");
        EXPECT_EQ(r.body, "400 Bad Request\n");
        if (!c.closed()) {
            r = http(c, reader, "GET", "/api/items/ok");
            EXPECT_EQ(r.status, 200);
        }
    }
    test::SocketClient c = gw.connect("http");
    test::http1::ResponseReader reader(c);
    EXPECT_EQ(http(c, reader, "GET", "/api/items/ok").body, R"({"id":"ok"})");
}

TEST_F(RouterGateway, DotSegmentsAreResolvedByTheGatewayAndTheRouterAlike) {
    struct Case {
        const char* target;
        int status;
        const char* body;
    };
    for (const Case& k : {
             Case{"/api/items/../items/5", 200, R"({"id":"5"})"},
             Case{"/app/../api/items/6", 200, R"({"id":"6"})"},
             Case{"/api/items/%2e%2E/items/7", 200, R"({"id":"7"})"},
             // Resolved to /api/x: the Router's own 404.
             Case{"/api/items/../x", 404, R"({"status":404,"error":"Not Found"})"},
             // Resolved to "/", outside every mount: the gateway's 404.
             Case{"/api/..", 404, "404 Not Found\n"},
             // Above the root, or a %2F beside a dot segment: the gateway
             // refuses them.
             Case{"/api/../../items/1", 400, "400 Bad Request\n"},
             Case{"/api/items/..%2F1", 400, "400 Bad Request\n"},
         }) {
        SCOPED_TRACE(k.target);
        test::SocketClient c = gw.connect("http");
        test::http1::ResponseReader reader(c);
        HttpResponse r = http(c, reader, "GET", k.target);
        EXPECT_EQ(r.status, k.status);
        EXPECT_EQ(r.body, k.body);
        if (!c.closed()) {
            EXPECT_EQ(http(c, reader, "GET", "/api/items/1").status, 200);
        }
    }
    test::SocketClient c = gw.connect("http");
    test::http1::ResponseReader reader(c);
    EXPECT_EQ(http(c, reader, "GET", "/api/items/1").status, 200);
}

/// One FastCGI request with `params`, on a new connection.
test::fcgi::CgiResponse fastcgi(const std::string& address, test::fcgi::Params params) {
    test::SocketClient c(address);
    test::fcgi::Request req;
    req.params = std::move(params);
    const test::fcgi::Response out = test::fcgi::round_trip(c, req);
    EXPECT_TRUE(out.ended);
    return test::fcgi::parse_cgi(out.out);
}

TEST_F(RouterGateway, OverFastCgi) {
    const std::string& address = gw.address("fastcgi");
    auto r = fastcgi(address, test::fcgi::cgi_params("GET", "/api/items/a%2Fb"));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, R"({"id":"a/b"})");

    r = fastcgi(address, test::fcgi::cgi_params("PUT", "/api/items/1"));
    EXPECT_EQ(r.status, 405);
    EXPECT_EQ(r.header("Allow"), "GET, HEAD, DELETE");
    EXPECT_EQ(r.body, R"({"status":405,"error":"Method Not Allowed"})");

    r = fastcgi(address, test::fcgi::cgi_params("HEAD", "/api/big"));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("Content-Length"), "1000");
    EXPECT_EQ(r.body, "");

    r = fastcgi(address, test::fcgi::cgi_params("GET", "/api/count?n=x"));
    EXPECT_EQ(r.status, 400);
    // (The reason is get_int's own wording: only its start is asserted.)
    EXPECT_EQ(r.body.rfind(R"({"status":400,"error":")", 0), 0u) << r.body;

    r = fastcgi(address, test::fcgi::cgi_params("GET", "/api/items/%zz"));
    EXPECT_EQ(r.status, 400);

    r = fastcgi(address, test::fcgi::cgi_params("GET", "/api/items/42"));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, R"({"id":"42"})");
}

TEST_F(RouterGateway, OverFastCgiWithoutRequestUriThePathInfoIsRouted) {
    // A front end that sends no REQUEST_URI: the gateway rebuilds it from
    // the decoded SCRIPT_NAME and PATH_INFO ('%' escaped again), so the
    // Router sees "50%" decoded once.
    test::fcgi::Params params = test::fcgi::cgi_params("GET", "/");
    std::erase_if(
        params, [](const auto& p) { return p.first == "REQUEST_URI" || p.first == "SCRIPT_NAME"; });
    params.emplace_back("SCRIPT_NAME", "/api");
    params.emplace_back("PATH_INFO", "/items/50%");
    auto r = fastcgi(gw.address("fastcgi"), params);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, R"({"id":"50%"})");
    r = fastcgi(gw.address("fastcgi"), test::fcgi::cgi_params("GET", "/api/items/2"));
    EXPECT_EQ(r.body, R"({"id":"2"})");
}

/// One SCGI request on a new connection; the answer ends with the close.
test::fcgi::CgiResponse scgi(const std::string& address, std::string_view method,
                             std::string_view uri) {
    test::SocketClient c(address);
    EXPECT_TRUE(c.send(test::scgi::request(method, uri)));
    return test::fcgi::parse_cgi(c.recv_until_close());
}

TEST_F(RouterGateway, OverScgi) {
    const std::string& address = gw.address("scgi");
    auto r = scgi(address, "GET", "/api/items/a%2Fb");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, R"({"id":"a/b"})");
    r = scgi(address, "GET", "/api/missing");
    EXPECT_EQ(r.status, 404);
    EXPECT_EQ(r.body, R"({"status":404,"error":"Not Found"})");
    r = scgi(address, "PATCH", "/api/big");
    EXPECT_EQ(r.status, 405);
    EXPECT_EQ(r.header("Allow"), "GET, HEAD");
    r = scgi(address, "GET", "/api/items/3");
    EXPECT_EQ(r.status, 200);
}

}  // namespace
}  // namespace postern
