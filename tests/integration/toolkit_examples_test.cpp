// Integration tests: the three toolkit examples (examples/rest, form, files)
// in the real `postern` executable, with their settings from a --config
// file's mount sections, behind nginx over FastCGI and Apache over
// mod_proxy_http, both rendered from the shipped snippets: a REST client's
// CRUD with every error in JSON, a form post with its cookie and redirect,
// an upload of a few MiB and its download with a Range; and the bad inputs
// (malformed JSON, a multipart body without its final boundary), each
// followed by a good request on the same gateway.
#include <gtest/gtest.h>

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "echo_reply.hpp"
#include "http_client.hpp"
#include "stack_suite.hpp"
#include "wait.hpp"

namespace postern::test {
namespace {

using namespace std::chrono_literals;

std::vector<Topology> toolkit_topologies() {
    std::vector<Topology> list;
    for (const Topology& t : shipped_topologies())
        if (std::string(t.name) == "nginx_fastcgi" || std::string(t.name) == "apache_proxy_http")
            list.push_back(t);
    return list;
}

/// The stack's gateway (one worker process: the REST example keeps its
/// items in the worker's memory) with the examples mounted and their
/// settings in a --config file, nginx and Apache in front of it.
class ToolkitExamplesTest : public StackSuite<ToolkitExamplesTest> {
  public:
    static std::unique_ptr<Stack> make_stack() {
        Stack::Options options;
        options.files = {{"postern.conf",
                          "# the gateway's own settings come before the first section\n"
                          "max-body-bytes = 67108864\n"
                          "[/api]\n"
                          "page-size = 2\n"
                          "max-items = 1000\n"
                          "[/tiny]\n"
                          "max-items = 1   # the second POST finds the store full\n"
                          "[/files]\n"
                          "dir = @DIR@/store\n"}};
        options.gateway_mounts = {"/api=rest", "/tiny=rest", "/form=form", "/files=files"};
        options.gateway_args = {"--config", "@DIR@/postern.conf", "--processes", "1"};
        auto stack = std::make_unique<Stack>(toolkit_topologies(), options);
        std::filesystem::create_directories(stack->dir().file("store"));
        return stack;
    }

  protected:
    static std::string store_dir() { return stack().dir().file("store"); }

    HttpResponse send(const std::string& method, const std::string& target,
                      const std::string& body = {}, Headers headers = {}) const {
        HttpRequest req;
        req.method = method;
        req.target = target;
        req.body = body;
        req.headers = std::move(headers);
        return http_request(endpoint_.address, "example.test", req);
    }
    HttpResponse get(const std::string& target, Headers headers = {}) const {
        return send("GET", target, {}, std::move(headers));
    }
    HttpResponse post_json(const std::string& target, const std::string& json,
                           const std::string& method = "POST") const {
        return send(method, target, json, {{"Content-Type", "application/json"}});
    }

    /// A name for this topology's files and items, so the cases of the two
    /// topologies (one gateway) never meet.
    std::string tag(const std::string& what) const { return std::string(GetParam().name) + what; }
};

Poco::JSON::Object::Ptr json_object(const HttpResponse& res) {
    EXPECT_EQ(res.header("Content-Type").value_or("").substr(0, 16), "application/json")
        << res.body;
    try {
        Poco::JSON::Parser parser;
        return parser.parse(res.body).extract<Poco::JSON::Object::Ptr>();
    } catch (const std::exception& e) {
        ADD_FAILURE() << "not a JSON object: " << res.body;
        return new Poco::JSON::Object;
    }
}

/// Checks an error answered in the REST example's JSON.
void expect_json_error(const HttpResponse& res, int status) {
    EXPECT_EQ(res.status, status) << res.body;
    const auto o = json_object(res);
    EXPECT_EQ(o->optValue<int>("status", 0), status) << res.body;
    EXPECT_FALSE(o->optValue<std::string>("error", "").empty()) << res.body;
}

// ---------------------------------------------------------------- rest

TEST_P(ToolkitExamplesTest, RestCrudThroughTheFrontEnd) {
    const std::string name = tag("-pen");
    auto created = post_json("/api/items", R"({"name": ")" + name + R"(", "quantity": 3})");
    ASSERT_EQ(created.status, 201) << created.body;
    const auto item = json_object(created);
    const long long id = item->getValue<long long>("id");
    const std::string where = "/api/items/" + std::to_string(id);
    EXPECT_EQ(created.header("Location").value_or(""), where);
    EXPECT_EQ(item->getValue<std::string>("name"), name);
    EXPECT_EQ(item->getValue<int>("quantity"), 3);

    auto shown = get(where);
    ASSERT_EQ(shown.status, 200) << shown.body;
    EXPECT_EQ(shown.body, created.body);

    auto put = post_json(where, R"({"name": ")" + name + R"(-2"})", "PUT");
    ASSERT_EQ(put.status, 200) << put.body;
    EXPECT_EQ(json_object(put)->getValue<int>("quantity"), 0);  // PUT replaces the whole item
    auto patched = post_json(where, R"({"quantity": 7})", "PATCH");
    ASSERT_EQ(patched.status, 200) << patched.body;
    EXPECT_EQ(json_object(patched)->getValue<std::string>("name"), name + "-2");
    EXPECT_EQ(json_object(patched)->getValue<int>("quantity"), 7);

    // page-size = 2 from the [/api] section; ?limit= overrides it.
    ASSERT_EQ(post_json("/api/items", R"({"name": "two"})").status, 201);
    ASSERT_EQ(post_json("/api/items", R"({"name": "three"})").status, 201);
    const auto page = json_object(get("/api/items"));
    EXPECT_EQ(page->getValue<int>("limit"), 2);
    EXPECT_EQ(page->getArray("items")->size(), 2u);
    EXPECT_GE(page->getValue<int>("total"), 3);
    EXPECT_EQ(json_object(get("/api/items?limit=1&offset=1"))->getArray("items")->size(), 1u);

    EXPECT_EQ(send("DELETE", where).status, 204);
    expect_json_error(get(where), 404);
    expect_json_error(send("DELETE", where), 404);
}

TEST_P(ToolkitExamplesTest, RestAnswersEveryErrorInJson) {
    // The router's own 404 and 405 (with Allow), get_int's 400, the route's
    // own refusals: all through on_error.
    expect_json_error(get("/api/nothing-here"), 404);
    const auto not_allowed = send("DELETE", "/api/items");
    expect_json_error(not_allowed, 405);
    const std::string allow = not_allowed.header("Allow").value_or("");
    EXPECT_NE(allow.find("GET"), std::string::npos) << allow;
    EXPECT_NE(allow.find("POST"), std::string::npos) << allow;
    expect_json_error(get("/api/items?limit=abc"), 400);
    expect_json_error(get("/api/items?limit=0"), 400);
    expect_json_error(get("/api/items/abc"), 404);
    expect_json_error(
        send("POST", "/api/items", R"({"name": "x"})", {{"Content-Type", "text/plain"}}), 415);
    expect_json_error(post_json("/api/items", R"({"quantity": 1})"), 400);  // no name
    expect_json_error(post_json("/api/items", R"({"name": 5})"), 400);
    expect_json_error(post_json("/api/items", R"([1, 2])"), 400);
    // Malformed JSON: 400 in JSON, and the next good request succeeds.
    expect_json_error(post_json("/api/items", R"({"name": "cut)"), 400);
    expect_json_error(post_json("/api/items", "{\"name\": \"x\",, }"), 400);
    const auto good = post_json("/api/items", R"({"name": "after the bad ones"})");
    EXPECT_EQ(good.status, 201) << good.body;
}

TEST_P(ToolkitExamplesTest, RestMountsHaveTheirOwnSettingsAndLogAWarning) {
    // /tiny is the same module with max-items = 1: its own store, so the
    // second POST (across both topologies) finds it full, and the route
    // logs a warning with the request line.
    HttpResponse res;
    for (int i = 0; i < 2 && res.status != 409; ++i)
        res = post_json("/tiny/items", R"({"name": "only one"})");
    expect_json_error(res, 409);
    EXPECT_TRUE(wait_until(
        [] {
            const std::string log = read_file(gateway().log_path());
            return log.find("item store full (max-items = 1)") != std::string::npos &&
                   log.find("POST /tiny/items") != std::string::npos;
        },
        5s))
        << tail_file(gateway().log_path());
    // /api's store is another one.
    EXPECT_EQ(post_json("/api/items", R"({"name": "elsewhere"})").status, 201);
}

// ---------------------------------------------------------------- form

TEST_P(ToolkitExamplesTest, FormPostSetsACookieAndRedirects) {
    const auto form = get("/form/");
    ASSERT_EQ(form.status, 200) << form.body;
    EXPECT_NE(form.body.find("<form method=\"post\" action=\"/form/\">"), std::string::npos)
        << form.body;

    const auto posted = send("POST", "/form/", "name=Ann+%3Cb%3E+O%27Neil&colour=green",
                             {{"Content-Type", "application/x-www-form-urlencoded"}});
    ASSERT_EQ(posted.status, 303) << posted.body;
    EXPECT_EQ(posted.header("Location").value_or(""), "/form/hello");
    const std::string cookie = posted.header("Set-Cookie").value_or("");
    EXPECT_EQ(cookie.substr(0, cookie.find(';')), "visitor=Ann%20%3Cb%3E%20O%27Neil.green")
        << cookie;
    EXPECT_NE(cookie.find("Path=/form"), std::string::npos) << cookie;
    EXPECT_NE(cookie.find("HttpOnly"), std::string::npos) << cookie;

    const auto hello =
        get("/form/hello", {{"Cookie", "theme=dark; " + cookie.substr(0, cookie.find(';'))}});
    ASSERT_EQ(hello.status, 200) << hello.body;
    EXPECT_NE(hello.body.find("Hello, Ann &lt;b&gt; O&#39;Neil!"), std::string::npos) << hello.body;
    EXPECT_NE(hello.body.find("Your colour is green."), std::string::npos) << hello.body;

    // Without the cookie: back to the form.
    const auto anonymous = get("/form/hello");
    EXPECT_EQ(anonymous.status, 302);
    EXPECT_EQ(anonymous.header("Location").value_or(""), "/form/");

    const auto forget =
        send("POST", "/form/forget", "", {{"Content-Type", "application/x-www-form-urlencoded"}});
    EXPECT_EQ(forget.status, 303);
    EXPECT_NE(forget.header("Set-Cookie").value_or("").find("Max-Age=0"), std::string::npos);
}

TEST_P(ToolkitExamplesTest, FormRefusesBadInputAndShowsTheFormAgain) {
    const Headers urlencoded{{"Content-Type", "application/x-www-form-urlencoded"}};
    // A mistake: the form again, with what was typed, escaped.
    const auto wrong = send("POST", "/form/", "name=%3Cscript%3E&colour=purple", urlencoded);
    EXPECT_EQ(wrong.status, 422);
    EXPECT_NE(wrong.body.find("value=\"&lt;script&gt;\""), std::string::npos) << wrong.body;
    EXPECT_EQ(wrong.body.find("<script>"), std::string::npos) << wrong.body;
    EXPECT_FALSE(wrong.header("Set-Cookie").has_value());
    // A malformed %-escape (400), another content type (415), a forged
    // cookie with a bad escape (400); then a good post.
    EXPECT_EQ(send("POST", "/form/", "name=%ZZ&colour=red", urlencoded).status, 400);
    EXPECT_EQ(send("POST", "/form/", "name=a&colour=red", {{"Content-Type", "text/plain"}}).status,
              415);
    EXPECT_EQ(get("/form/hello", {{"Cookie", "visitor=%E.red"}}).status, 400);
    EXPECT_EQ(send("PUT", "/form/", "", urlencoded).status, 405);
    EXPECT_EQ(send("POST", "/form/", "name=Bo&colour=red", urlencoded).status, 303);
}

TEST_P(ToolkitExamplesTest, FormEchoesTwentyFieldsInOrder) {
    std::string body;
    std::string want;
    for (int i = 0; i < 20; ++i) {
        body += (i == 0 ? "" : "&") + std::string("field") + std::to_string(i) + "=value+" +
                std::to_string(i) + "%21";
        want += "field" + std::to_string(i) + ": value " + std::to_string(i) + "!\n";
    }
    const auto res =
        send("POST", "/form/echo", body, {{"Content-Type", "application/x-www-form-urlencoded"}});
    ASSERT_EQ(res.status, 200);
    EXPECT_EQ(res.body, want);
}

// ---------------------------------------------------------------- files

struct FilePart {
    std::string name;
    std::string filename;
    const std::string* content;
};

std::string multipart_body(const std::string& boundary, const std::vector<FilePart>& parts,
                           bool final_boundary = true) {
    std::string body;
    for (const auto& p : parts) {
        body += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + p.name + "\"";
        if (!p.filename.empty())
            body += "; filename=\"" + p.filename + "\"";
        body += "\r\nContent-Type: application/octet-stream\r\n\r\n" + *p.content + "\r\n";
    }
    if (final_boundary)
        body += "--" + boundary + "--\r\n";
    return body;
}

std::set<std::string> entries(const std::string& dir) {
    std::set<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir))
        out.insert(e.path().filename().string());
    return out;
}

TEST_P(ToolkitExamplesTest, FilesUploadThenDownloadWithARange) {
    const std::string& data = payload(3 * 1024 * 1024 + 17);
    const std::string note = "a plain field, skipped";
    const std::string boundary = "----postern-test-boundary-42";
    // The client's filename is never a path: only its last component, made safe.
    const std::string name = tag("-upload.bin");
    const std::string body =
        multipart_body(boundary, {{"note", "", &note}, {"file", "../../" + name, &data}});
    const auto up = send("POST", "/files/", body,
                         {{"Content-Type", "multipart/form-data; boundary=" + boundary}});
    ASSERT_EQ(up.status, 201) << up.body;
    EXPECT_EQ(up.header("Location").value_or(""), "/files/" + name);
    EXPECT_NE(up.body.find("\"size\": " + std::to_string(data.size())), std::string::npos)
        << up.body;
    // Saved under the [/files] section's dir, nowhere else.
    const std::string saved = store_dir() + "/" + name;
    ASSERT_TRUE(std::filesystem::exists(saved));
    EXPECT_EQ(std::filesystem::file_size(saved), data.size());
    EXPECT_FALSE(std::filesystem::exists(stack().dir().path() + "/" + name));

    const auto listing = get("/files/");
    ASSERT_EQ(listing.status, 200);
    EXPECT_NE(listing.body.find("\"name\": \"" + name + "\""), std::string::npos) << listing.body;

    const auto whole = get("/files/" + name);
    ASSERT_EQ(whole.status, 200);
    EXPECT_EQ(whole.body.size(), data.size());
    EXPECT_EQ(sha256_hex(whole.body), sha256_hex(data));
    EXPECT_EQ(whole.header("Accept-Ranges").value_or(""), "bytes");
    EXPECT_NE(whole.header("Content-Disposition").value_or("").find(name), std::string::npos);

    // HEAD: the same head, no body (the GET route serves it); a client
    // holding this version gets 304.
    const auto head = send("HEAD", "/files/" + name);
    EXPECT_EQ(head.status, 200);
    EXPECT_EQ(head.header("Content-Length").value_or(""), std::to_string(data.size()));
    EXPECT_EQ(head.body, "");
    const std::string modified = whole.header("Last-Modified").value_or("");
    ASSERT_FALSE(modified.empty());
    EXPECT_EQ(get("/files/" + name, {{"If-Modified-Since", modified}}).status, 304);

    const auto part = get("/files/" + name, {{"Range", "bytes=1000000-1999999"}});
    ASSERT_EQ(part.status, 206);
    EXPECT_EQ(part.header("Content-Range").value_or(""),
              "bytes 1000000-1999999/" + std::to_string(data.size()));
    EXPECT_EQ(sha256_hex(part.body), sha256_hex(std::string_view(data).substr(1000000, 1000000)));
    const auto tail = get("/files/" + name, {{"Range", "bytes=-17"}});
    ASSERT_EQ(tail.status, 206);
    EXPECT_EQ(tail.body, data.substr(data.size() - 17));
    EXPECT_EQ(get("/files/" + name, {{"Range", "bytes=99999999-"}}).status, 416);

    EXPECT_EQ(send("DELETE", "/files/" + name).status, 204);
    EXPECT_EQ(get("/files/" + name).status, 404);
}

TEST_P(ToolkitExamplesTest, FilesRefuseACutUploadAndUnsafeNames) {
    const std::string& data = payload(512 * 1024);
    const std::string boundary = "cut-boundary";
    const std::string name = tag("-cut.bin");
    const auto before = entries(store_dir());
    // The body ends without the final boundary: 400, and nothing is left,
    // not the file, not a temporary beside it.
    const auto cut =
        send("POST", "/files/", multipart_body(boundary, {{"file", name, &data}}, false),
             {{"Content-Type", "multipart/form-data; boundary=" + boundary}});
    EXPECT_EQ(cut.status, 400) << cut.body;
    EXPECT_EQ(entries(store_dir()), before);
    // No boundary parameter; not multipart at all.
    EXPECT_EQ(send("POST", "/files/", "x", {{"Content-Type", "multipart/form-data"}}).status, 400);
    EXPECT_EQ(send("POST", "/files/", "x", {{"Content-Type", "text/plain"}}).status, 415);
    // Names that are not safe are refused, never looked up.
    EXPECT_EQ(get("/files/.hidden").status, 400);
    EXPECT_EQ(get("/files/a..b").status, 400);
    const std::string dots = "..";
    EXPECT_EQ(send("POST", "/files/", multipart_body(boundary, {{"file", "..", &dots}}),
                   {{"Content-Type", "multipart/form-data; boundary=" + boundary}})
                  .status,
              400);
    EXPECT_EQ(entries(store_dir()), before);

    // The next good upload succeeds.
    const auto good = send("POST", "/files/", multipart_body(boundary, {{"file", name, &data}}),
                           {{"Content-Type", "multipart/form-data; boundary=" + boundary}});
    ASSERT_EQ(good.status, 201) << good.body;
    EXPECT_EQ(sha256_hex(get("/files/" + name).body), sha256_hex(data));
    EXPECT_EQ(send("DELETE", "/files/" + name).status, 204);
}

INSTANTIATE_TEST_SUITE_P(Shipped, ToolkitExamplesTest, ::testing::ValuesIn(toolkit_topologies()),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace postern::test
