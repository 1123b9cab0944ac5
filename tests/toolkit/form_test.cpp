// Tests gateway/src/toolkit/form.cpp: Request::query() and Request::form().
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "recording_sink.hpp"
#include "postern/request.hpp"

namespace postern {
namespace {

using test::StringBody;

Environ post(std::string content_type, std::string query = "",
             std::optional<std::size_t> length = std::nullopt) {
    Environ env{{"REQUEST_METHOD", "POST"}, {"QUERY_STRING", std::move(query)}};
    if (!content_type.empty())
        env.emplace_back("CONTENT_TYPE", std::move(content_type));
    if (length)
        env.emplace_back("CONTENT_LENGTH", std::to_string(*length));
    return env;
}

template <class F>
int refusal_status(F&& f) {
    try {
        f();
    } catch (const RequestError& e) {
        return e.status();
    }
    ADD_FAILURE() << "expected RequestError";
    return 0;
}

TEST(Query, IsDecodedOnceAndCached) {
    StringBody body("");
    const Request req("http", post("", "a=1&b=x+y&a=2"), body);
    const Params& q = req.query();
    EXPECT_EQ(q.get("b"), "x y");
    EXPECT_EQ(q.all("a").size(), 2u);
    EXPECT_EQ(&req.query(), &q) << "the second call returns the same Params";
}

TEST(Query, WithoutAQueryStringIsEmpty) {
    StringBody body("");
    const Request req("http", {{"REQUEST_METHOD", "GET"}}, body);
    EXPECT_TRUE(req.query().empty());
}

TEST(Query, AMalformedEscapeIs400EveryTime) {
    StringBody body("");
    const Request req("http", post("", "a=1&b=%zz"), body);
    for (int i = 0; i < 2; ++i) {
        try {
            req.query();
            FAIL() << "expected RequestError";
        } catch (const RequestError& e) {
            EXPECT_EQ(e.status(), 400);
            EXPECT_NE(std::string(e.what()).find("query string"), std::string::npos) << e.what();
        }
    }
}

TEST(Query, TenThousandPairsAre400) {
    std::string q;
    for (int i = 0; i < 10'000; ++i)
        q += "k" + std::to_string(i) + "=1&";
    StringBody body("");
    const Request req("http", post("", q), body);
    EXPECT_EQ(refusal_status([&] { req.query(); }), 400);
}

TEST(Form, DecodesAnUrlencodedBodyAndCachesIt) {
    const std::string data = "name=J%C3%B6rg+M&tags=a&tags=b";
    StringBody body(data, 3);
    Request req("http", post("application/x-www-form-urlencoded", "", data.size()), body);
    const Params& f = req.form();
    EXPECT_EQ(f.get("name"), "J\xc3\xb6rg M");
    EXPECT_EQ(f.all("tags"), (std::vector<std::string_view>{"a", "b"}));
    EXPECT_EQ(&req.form(), &f) << "the second call returns the cache";
    EXPECT_EQ(req.body_bytes_read(), data.size());
}

TEST(Form, TakesParametersAndAnyCaseInTheContentType) {
    for (const char* type :
         {"application/x-www-form-urlencoded; charset=UTF-8", "Application/X-WWW-Form-URLEncoded",
          " application/x-www-form-urlencoded ;"}) {
        StringBody body("a=1");
        Request req("http", post(type), body);
        EXPECT_EQ(req.form().get("a"), "1") << type;
    }
}

TEST(Form, AnotherContentTypeIs415AndTheBodyIsLeft) {
    for (const char* type : {"multipart/form-data; boundary=x", "text/plain", "application/json",
                             "application/x-www-form-urlencodedx", "application/x-www-form"}) {
        StringBody body("a=1");
        Request req("http", post(type), body);
        EXPECT_EQ(refusal_status([&] { req.form(); }), 415) << type;
        EXPECT_EQ(refusal_status([&] { req.form(); }), 415) << "again: " << type;
        EXPECT_EQ(body.consumed(), 0u) << type;
    }
}

TEST(Form, NoContentTypeAndNoBodyIsAnEmptyForm) {
    StringBody body("");
    Request req("http", {{"REQUEST_METHOD", "GET"}}, body);
    EXPECT_TRUE(req.form().empty());
    EXPECT_TRUE(req.form().empty());
}

TEST(Form, NoContentTypeWithABodyIs415) {
    StringBody body("a=1");
    Request req("http", post(""), body);
    EXPECT_EQ(refusal_status([&] { req.form(); }), 415);
    EXPECT_EQ(refusal_status([&] { req.form(); }), 415);
}

TEST(Form, ABodyOverTheBoundIs413) {
    const std::string data = "a=" + std::string(Request::kMaxFormBytes, 'x');
    {
        // Length unknown (chunked): refused once the bound is passed.
        StringBody body(data, 16384);
        Request req("http", post("application/x-www-form-urlencoded"), body);
        EXPECT_EQ(refusal_status([&] { req.form(); }), 413);
        EXPECT_LE(body.consumed(), Request::kMaxFormBytes + 16384);
    }
    {
        // Declared too long: refused before a byte is read.
        StringBody body(data);
        Request req("http", post("application/x-www-form-urlencoded", "", data.size()), body);
        EXPECT_EQ(refusal_status([&] { req.form(); }), 413);
        EXPECT_EQ(body.consumed(), 0u);
    }
    {
        // Exactly the bound is taken.
        const std::string fits = "a=" + std::string(Request::kMaxFormBytes - 2, 'x');
        StringBody body(fits, 65536);
        Request req("http", post("application/x-www-form-urlencoded", "", fits.size()), body);
        EXPECT_EQ(req.form().get("a")->size(), Request::kMaxFormBytes - 2);
    }
}

TEST(Form, AMalformedBodyIs400) {
    StringBody body("a=%4");
    Request req("http", post("application/x-www-form-urlencoded"), body);
    try {
        req.form();
        FAIL() << "expected RequestError";
    } catch (const RequestError& e) {
        EXPECT_EQ(e.status(), 400);
        EXPECT_NE(std::string(e.what()).find("form body"), std::string::npos) << e.what();
    }
}

TEST(Form, AfterTheBodyWasReadIsTheCallersError) {
    StringBody body("a=1&b=2");
    Request req("http", post("application/x-www-form-urlencoded"), body);
    char c;
    ASSERT_EQ(req.read(&c, 1), 1u);
    EXPECT_THROW(req.form(), std::logic_error);
}

}  // namespace
}  // namespace postern
