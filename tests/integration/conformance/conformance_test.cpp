// Integration test: conformance (issue 5). One matrix of requests goes
// through every topology the project ships (stack.hpp's
// shipped_topologies(): nginx with each of its snippets, Apache with each of
// its snippets and the CGI build, and direct HTTP) to the echo module at
// /app, and what the callback saw is compared key by key with what it saw
// over direct HTTP, the reference: the same request, no front end between.
//
// The answers must be the same apart from `protocol` and the differences
// each topology's table below documents: a front end answering a request
// itself (a refusal, with its status), or a key of the echo's JSON that the
// front end makes different (a value it adds, merges or drops). Every entry
// is asserted: the topology must show it, and must show it on at least one
// request, so a table that no longer describes a front end fails too.
// Anything else that differs fails, naming the topology, the request and
// the key.
//
// Values that belong to the connection, not the request, are compared as
// what they must be: the port the client connected to (SERVER_PORT), the
// address it sent as Host, and its own port (REMOTE_PORT where the protocol
// carries it) are replaced by <port>, <address> and <client port> in both
// answers when they are exactly that.
#include <gtest/gtest.h>

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "echo_reply.hpp"
#include "http_client.hpp"
#include "stack.hpp"
#include "stack_suite.hpp"

namespace postern::test {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t kMiB = std::size_t{1} << 20;
/// A value missing from an answer.
constexpr const char* kAbsent = "<absent>";

// ---------------------------------------------------------------- the matrix

/// One request of the matrix.
struct Case {
    std::string name;
    std::string method;
    std::string target;
    Headers headers;
    std::size_t body = 0;   ///< payload(body) is sent
    std::size_t chunk = 0;  ///< 0: with Content-Length; else chunked, pieces this size
    /// What every topology's callback must see (checked on the reference).
    std::string path_info;
    std::string query;
    /// What the tables below select cases by; a case also has its name.
    std::set<std::string> tags;
};

std::vector<Case> matrix() {
    std::vector<Case> m;
    auto add = [&m](Case c) {
        c.tags.insert(c.name);
        if (c.chunk != 0)
            c.tags.insert("chunked");
        // The client sends neither Content-Length nor a body.
        if (c.chunk == 0 && c.body == 0 && (c.method == "GET" || c.method == "HEAD"))
            c.tags.insert("no length");
        if (c.target.find("%2F") != std::string::npos)
            c.tags.insert("%2F");
        m.push_back(std::move(c));
    };
    // A GET without a body: name, target, and what the callback must see.
    auto get = [&add](std::string name, std::string target, std::string path_info,
                      std::string query, Headers headers = {}) {
        Case c;
        c.name = std::move(name);
        c.method = "GET";
        c.target = std::move(target);
        c.headers = std::move(headers);
        c.path_info = std::move(path_info);
        c.query = std::move(query);
        add(std::move(c));
    };

    for (const char* method : {"GET", "HEAD", "DELETE", "OPTIONS"})
        add({method, method, "/app/m?x=1", {}, 0, 0, "/m", "x=1", {}});
    const Headers text = {{"Content-Type", "text/plain"}};
    for (const char* method : {"POST", "PUT", "PATCH"})
        add({method, method, "/app/m?x=1", text, 3, 0, "/m", "x=1", {}});

    get("path %20", "/app/a%20b", "/a b", "");
    // %2F reaches the gateway encoded and is decoded once, into PATH_INFO.
    get("path %2F", "/app/a%2Fb", "/a/b", "");
    get("query %2F", "/app/q?c=%2F", "/q", "c=%2F");
    get("path UTF-8", "/app/caf%C3%A9/%E2%82%AC", "/caf\xC3\xA9/\xE2\x82\xAC", "");
    get("mount /app", "/app", "", "");
    get("mount /app/", "/app/", "/", "");
    // A query of 8 KiB: a direct client's request gets through; nginx and
    // Apache bound the whole request line by default and refuse it (their
    // tables). 8000 bytes fit, and go through every topology.
    const std::string kib8 = "x=" + std::string(8190, 'q');
    get("query 8 KiB", "/app/q?" + kib8, "/q", kib8);
    const std::string query = "x=" + std::string(7998, 'q');
    get("query 8000 B", "/app/q?" + query, "/q", query);

    Headers hundred;
    for (int i = 0; i < 100; ++i)
        hundred.emplace_back("X-H-" + std::to_string(i), "v" + std::to_string(i));
    get("100 headers", "/app/h", "/h", "", hundred);
    // Host and 99 more: as many fields as Apache takes (LimitRequestFields
    // 100), so that the Apache topologies are seen passing many headers too.
    hundred.pop_back();
    get("99 headers and Host", "/app/h", "/h", "", hundred);
    get("6 KB header", "/app/h", "/h", "", {{"X-Big", std::string(6 * 1024, 'b')}});
    get("repeated headers", "/app/h", "/h", "",
        {{"X-Rep", "a"}, {"X-Rep", "b"}, {"Cookie", "c=1"}, {"Cookie", "d=2"}});

    // A POST of `size` bytes, with Content-Length (chunk 0) or chunked.
    auto post = [&add](std::string name, std::size_t size, std::size_t chunk) {
        const Headers octets = {{"Content-Type", "application/octet-stream"}};
        add({std::move(name), "POST", "/app/body", octets, size, chunk, "/body", "", {}});
    };
    for (const std::size_t size : {std::size_t{0}, std::size_t{1}, kMiB, 32 * kMiB}) {
        const std::string n =
            size >= kMiB ? std::to_string(size / kMiB) + " MiB" : std::to_string(size) + " B";
        post("body " + n, size, 0);
        post("body " + n + " chunked", size, 64 * 1024);
    }
    return m;
}

// ---------------------------------------------------------------- what each topology does

/// A front end answering the request itself: the selected cases get
/// `status` from it, never an answer from the echo.
struct Refusal {
    const char* tag;  ///< the cases: a tag or a case name
    int status;
    const char* why;
};

/// A key of the echo's answer that the front end makes different: on the
/// selected cases, its value matches `value`, whatever the reference says.
/// `value` is an ECMAScript regex over the whole value, where {size} is the
/// case's body size, {content-type} and {content-length} the headers the
/// client sent (kAbsent when it sent none); kAbsent: the key is missing.
struct Difference {
    const char* tag;  ///< the cases: "*" for all, a tag or a case name
    std::string key;  ///< "environ.SERVER_SOFTWARE", "headers.cookie", ...
    std::string value;
    const char* why;
};

struct Expectations {
    std::vector<Refusal> refusals;
    std::vector<Difference> differences;
};

using Differences = std::vector<Difference>;

Differences& operator+=(Differences& to, const Differences& more) {
    to.insert(to.end(), more.begin(), more.end());
    return to;
}

/// The request's own header, named in the environ and in `headers`.
Differences header(const char* tag, const char* name, const char* var, const char* value,
                   const char* why) {
    return {{tag, name, value, why}, {tag, var, value, why}};
}

// --- nginx

/// nginx's bound on the request line (large_client_header_buffers 4 8k).
const Refusal kNginxLineLimit = {"query 8 KiB", 414,
                                 "the request line does not fit in one 8 KiB header buffer"};

/// The variables the shipped postern_{fastcgi,scgi,uwsgi}_params send that a
/// direct HTTP client's request has no counterpart for.
const Differences kNginxParams = {
    {"*", "environ.SERVER_SOFTWARE", "nginx/[0-9.]+",
     "params: SERVER_SOFTWARE nginx/$nginx_version"},
    {"*", "environ.SERVER_ADDR", "127\\.0\\.0\\.1", "params: SERVER_ADDR $server_addr"},
    {"*", "environ.REQUEST_SCHEME", "http", "params: REQUEST_SCHEME $scheme"},
};

/// nginx reads a chunked body whole before passing the request on (request
/// buffering, its default at /app), then sends it with its length.
const Differences kNginxChunkedGetsALength =
    header("chunked", "headers.content-length", "environ.CONTENT_LENGTH", "{size}",
           "nginx buffers a chunked body and sends its length");

// --- Apache

/// Apache's own limits on the request, whatever the module.
const Refusal kApacheLineLimit = {"query 8 KiB", 414, "LimitRequestLine (8190 by default)"};
const Refusal kApacheFieldLimit = {
    "100 headers", 400,
    "LimitRequestFields (100 by default) counts Host: 101 fields are refused by Apache itself"};

/// Apache merges a repeated request header into one, with ", ", before any
/// module sees it, Cookie included; nginx and a direct client pass the
/// copies apart and the gateway joins cookies with "; " (RFC 6265 §5.4).
/// Other headers ("X-Rep: a, b") come out the same either way.
const Differences kApacheMergesCookies =
    header("repeated headers", "headers.cookie", "environ.HTTP_COOKIE", "c=1, d=2",
           "Apache joins repeated Cookie headers with \", \"");

/// The CGI variables Apache adds itself (ap_add_common_vars and
/// ap_add_cgi_vars) where it speaks CGI-like protocols: mod_proxy_fcgi,
/// mod_proxy_scgi, mod_proxy_uwsgi and mod_cgid.
Differences apache_cgi_vars(const char* script_filename, const char* context_document_root,
                            const char* context_prefix) {
    return {
        {"*", "environ.SERVER_SOFTWARE", "Apache/2\\.4\\..*", "Apache's SERVER_SOFTWARE"},
        {"*", "environ.SERVER_ADDR", "127\\.0\\.0\\.1", "Apache's SERVER_ADDR"},
        {"*", "environ.REQUEST_SCHEME", "http", "Apache's REQUEST_SCHEME"},
        {"*", "environ.DOCUMENT_ROOT", "/.+", "Apache's DocumentRoot (its default here)"},
        {"*", "environ.CONTEXT_DOCUMENT_ROOT", context_document_root,
         "Apache's CONTEXT_DOCUMENT_ROOT"},
        {"*", "environ.CONTEXT_PREFIX", context_prefix, "Apache's CONTEXT_PREFIX"},
        {"*", "environ.SERVER_ADMIN", "\\[no address given\\]", "no ServerAdmin configured"},
        {"*", "environ.SERVER_SIGNATURE", "", "ServerSignature Off"},
        {"*", "environ.SCRIPT_FILENAME", script_filename, "Apache's SCRIPT_FILENAME"},
    };
}

/// mod_proxy_fcgi, _scgi and _uwsgi send Apache's own PATH too (mod_cgid
/// does, and postern-cgi removes it from its environment).
const Differences kApachePath = {
    {"*", "environ.PATH", ".+", "Apache's PATH, sent as a CGI variable"}};

/// Both HTTP proxies say where the request came from in X-Forwarded-*
/// headers, and the gateway (--trusted-proxy) believes them: the client's
/// address and port it connected to are those of a direct client, but its
/// own port is not forwarded, so REMOTE_PORT is empty rather than the
/// proxy's.
Differences forwarded(std::vector<std::pair<const char*, const char*>> headers) {
    Differences d = {
        {"*", "environ.REMOTE_PORT", "", "an HTTP proxy does not forward the client's port"}};
    for (const auto& [name, value] : headers) {
        std::string var = "environ.HTTP_";
        for (const char* c = name; *c != '\0'; ++c)
            var +=
                *c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(*c)));
        d.push_back({"*", "headers." + std::string(name), value, "set by the proxy"});
        d.push_back({"*", var, value, "set by the proxy"});
    }
    return d;
}

/// The documented differences of each topology, by name.
const std::map<std::string, Expectations>& expectations() {
    static const std::map<std::string, Expectations> table = [] {
        std::map<std::string, Expectations> t;

        // The reference itself: nothing may differ from one run to the next.
        t["direct_http"] = {};

        // nginx, each snippet as shipped (nginx-conf/).
        for (const auto& topology : shipped_topologies()) {
            if (topology.front_end == FrontEnd::nginx)
                t[topology.name].refusals.push_back(kNginxLineLimit);
        }
        t["nginx_fastcgi"].differences += kNginxParams;
        t["nginx_fastcgi"].differences += kNginxChunkedGetsALength;

        t["nginx_http"].differences += forwarded({{"x-forwarded-for", "127\\.0\\.0\\.1"},
                                                  {"x-forwarded-proto", "http"},
                                                  {"x-forwarded-port", "<port>"}});
        t["nginx_http"].differences += kNginxChunkedGetsALength;

        t["nginx_scgi"].differences += kNginxParams;
        t["nginx_scgi"].differences += kNginxChunkedGetsALength;
        // SCGI requires CONTENT_LENGTH on every request: nginx sends "0"
        // where the client sent no length (RFC 3875 §4.1.2: the same).
        t["nginx_scgi"].differences +=
            header("no length", "headers.content-length", "environ.CONTENT_LENGTH", "0",
                   "SCGI always carries CONTENT_LENGTH");

        t["nginx_uwsgi"].differences += kNginxParams;
        t["nginx_uwsgi"].differences += kNginxChunkedGetsALength;

        // Apache, each snippet as shipped (apache-conf/).
        for (const auto& topology : shipped_topologies()) {
            if (topology.front_end != FrontEnd::apache)
                continue;
            t[topology.name].refusals.push_back(kApacheLineLimit);
            t[topology.name].refusals.push_back(kApacheFieldLimit);
            t[topology.name].differences += kApacheMergesCookies;
        }

        auto& fcgi = t["apache_proxy_fcgi"].differences;
        // ProxyFCGIBackendType GENERIC: the path, not a file.
        fcgi += apache_cgi_vars("/app.*", "/.+", "");
        fcgi += kApachePath;
        // mod_proxy_fcgi, like mod_proxy_http, reads what has already
        // arrived of a chunked body (up to a small bound) before it passes
        // the request on: a body that ended within it (a small request
        // arrives in one piece here) goes on with its length; the 1 MiB and
        // 32 MiB ones stream on without.
        for (const char* c : {"body 0 B chunked", "body 1 B chunked"}) {
            fcgi += header(c, "headers.content-length", "environ.CONTENT_LENGTH", "{size}",
                           "mod_proxy_fcgi gives a small chunked body its length");
        }

        auto& http = t["apache_proxy_http"].differences;
        http += forwarded({{"x-forwarded-for", "127\\.0\\.0\\.1"},
                           {"x-forwarded-host", "<address>"},
                           {"x-forwarded-server", "localhost"},
                           {"x-forwarded-proto", "http"},
                           {"x-forwarded-port", "<port>"}});
        // mod_proxy_http prefetches a chunked body the same way: a body that
        // ended within what it read goes on with Content-Length, the 1 MiB
        // and 32 MiB ones go on chunked.
        for (const char* c : {"body 0 B chunked", "body 1 B chunked"}) {
            http += header(c, "headers.content-length", "environ.CONTENT_LENGTH", "{size}",
                           "mod_proxy_http gives a small chunked body its length");
        }

        auto& jk = t["apache_mod_jk"];
        jk.refusals.push_back(
            {"query 8000 B", 413,
             "an 8000-byte query and what mod_jk adds overflow its request packet "
             "(max_packet_size 8192; mod_jk.log: \"failed appending the activation state\")"});
        jk.differences.push_back({"*", "environ.SERVER_ADDR", "127\\.0\\.0\\.1",
                                  "from mod_jk's AJP_LOCAL_ADDR attribute"});
        jk.differences += header("no length", "headers.content-length", "environ.CONTENT_LENGTH",
                                 "0", "mod_jk sends content-length: 0 on a request without one");

        t["apache_proxy_ajp"].differences.push_back(
            {"*", "environ.SERVER_ADDR", "127\\.0\\.0\\.1",
             "from mod_proxy_ajp's AJP_LOCAL_ADDR attribute"});

        auto& scgi = t["apache_proxy_scgi"];
        scgi.refusals.push_back(
            {"chunked", 411, "mod_proxy_scgi needs a length up front and does not spool"});
        scgi.differences += apache_cgi_vars("proxy:scgi://127\\.0\\.0\\.1:[0-9]+/app.*", "/.+", "");
        scgi.differences += kApachePath;
        scgi.differences += header("no length", "headers.content-length", "environ.CONTENT_LENGTH",
                                   "0", "SCGI always carries CONTENT_LENGTH");

        auto& uwsgi = t["apache_proxy_uwsgi"];
        uwsgi.refusals.push_back({"%2F", 500,
                                  "mod_proxy_uwsgi decodes the URL itself and gives up on %2F "
                                  "(AH10100), path or query"});
        uwsgi.refusals.push_back(
            {"chunked", 411, "mod_proxy_uwsgi needs a length up front and does not spool"});
        // SCRIPT_FILENAME is the decoded URL, query included.
        uwsgi.differences +=
            apache_cgi_vars("proxy:uwsgi://127\\.0\\.0\\.1:[0-9]+/app.*", "/.+", "");
        uwsgi.differences += kApachePath;

        // The CGI build: the ScriptAlias maps /app to the program.
        t["apache_cgi"].differences +=
            apache_cgi_vars(".*/bin/postern-cgi", ".*/bin/postern-cgi", "/app");
        return t;
    }();
    return table;
}

// ---------------------------------------------------------------- observing

/// What one topology answered to one case.
struct Observed {
    int status = 0;
    std::string content_type;
    std::size_t body_size = 0;
    std::string excerpt;  ///< the start of the body, for messages
    /// The echo's JSON flattened: "method", "headers.host",
    /// "environ.REQUEST_URI", ...; empty unless a 200 to a request other
    /// than HEAD.
    std::map<std::string, std::string> fields;
};

std::string scalar(const Poco::Dynamic::Var& v) {
    return v.isString() ? v.extract<std::string>() : v.toString();
}

std::map<std::string, std::string> flatten(const std::string& json) {
    Poco::JSON::Parser parser;
    const auto root = parser.parse(json).extract<Poco::JSON::Object::Ptr>();
    std::map<std::string, std::string> out;
    for (const auto& [key, value] : *root) {
        if (value.type() == typeid(Poco::JSON::Object::Ptr)) {
            const auto inner = value.extract<Poco::JSON::Object::Ptr>();
            for (const auto& [k, v] : *inner)
                out[key + "." + k] = scalar(v);
        } else {
            out[key] = scalar(value);
        }
    }
    return out;
}

Observed observe(const Stack::Endpoint& endpoint, const Case& c) {
    HttpConnection conn(endpoint.address, endpoint.address);
    HttpRequest req;
    req.method = c.method;
    req.target = c.target;
    req.headers = c.headers;
    req.body_ref = &payload(c.body);
    req.chunk_size = c.chunk;
    const HttpResponse res = conn.request(req, 180s);
    Observed o;
    o.status = res.status;
    o.content_type = res.header("Content-Type").value_or(kAbsent);
    o.body_size = res.body.size();
    o.excerpt = res.body.substr(0, 300);
    if (res.status != 200 || c.method == "HEAD")
        return o;
    o.fields = flatten(res.body);
    // What belongs to the connection, not the request (see the top).
    const std::string port = std::to_string(endpoint.port);
    const std::string client_port = std::to_string(conn.local_port());
    for (auto& [key, value] : o.fields) {
        if (value == endpoint.address)
            value = "<address>";
        else if (value == port)
            value = "<port>";
        else if (value == client_port)
            value = "<client port>";
    }
    return o;
}

std::string quoted(const std::string& s) {
    return s == kAbsent ? s : "\"" + (s.size() > 120 ? s.substr(0, 120) + "..." : s) + "\"";
}

// ---------------------------------------------------------------- the stack

/// The stack and the reference answers, started once for the whole binary
/// (a gtest environment) and shared by its tests.
struct Shared {
    std::unique_ptr<Stack> stack;
    std::map<std::string, Observed> reference;  ///< by case name
    std::string startup_error;
    bool failed = false;
};
Shared shared;

class StackEnvironment : public ::testing::Environment {
  public:
    void SetUp() override {
        try {
            shared.stack = std::make_unique<Stack>(shipped_topologies());
            // The reference: every case over direct HTTP, once.
            const auto endpoint = shared.stack->endpoint(shipped_topologies().front());
            for (const auto& c : matrix())
                shared.reference[c.name] = observe(endpoint, c);
        } catch (const std::exception& e) {
            shared.startup_error = e.what();
        }
    }

    void TearDown() override { end_shared_stack(shared.stack, shared.failed); }
};

[[maybe_unused]] ::testing::Environment* const environment =
    ::testing::AddGlobalTestEnvironment(new StackEnvironment);

class WithStack {
  protected:
    static void require_stack() {
        ASSERT_NE(shared.stack, nullptr) << "the stack did not start: " << shared.startup_error;
        ASSERT_EQ(shared.startup_error, "") << "the reference (direct HTTP) failed";
    }
};

const std::string& sha256_of_payload(std::size_t size) {
    static std::map<std::size_t, std::string> cache;
    auto& hex = cache[size];
    if (hex.empty())
        hex = sha256_hex(payload(size));
    return hex;
}

// ---------------------------------------------------------------- the reference

class ConformanceReference : public ::testing::Test, protected WithStack {
  protected:
    void SetUp() override { require_stack(); }
    void TearDown() override {
        if (HasFailure())
            shared.failed = true;
    }
};

TEST_F(ConformanceReference, IsWhatTheClientSent) {
    // Direct HTTP is checked against the matrix itself, so that "the same as
    // the reference" means right, not merely alike.
    for (const auto& c : matrix()) {
        SCOPED_TRACE("direct HTTP, request \"" + c.name + "\"");
        const Observed& r = shared.reference.at(c.name);
        ASSERT_EQ(r.status, 200) << r.excerpt;
        EXPECT_EQ(r.content_type, "application/json");
        if (c.method == "HEAD") {
            EXPECT_EQ(r.body_size, 0u);
            continue;
        }
        auto field = [&](const std::string& key) {
            const auto it = r.fields.find(key);
            return it == r.fields.end() ? std::string(kAbsent) : it->second;
        };
        EXPECT_EQ(field("protocol"), "http");
        EXPECT_EQ(field("method"), c.method);
        EXPECT_EQ(field("script_name"), "/app");
        EXPECT_EQ(field("path_info"), c.path_info);
        EXPECT_EQ(field("query_string"), c.query);
        EXPECT_EQ(field("environ.REQUEST_URI"), c.target);
        EXPECT_EQ(field("server_name"), "127.0.0.1");
        EXPECT_EQ(field("server_port"), "<port>");
        EXPECT_EQ(field("headers.host"), "<address>");
        EXPECT_EQ(field("remote_addr"), "127.0.0.1");
        EXPECT_EQ(field("environ.REMOTE_PORT"), "<client port>");
        EXPECT_EQ(field("body_length"), std::to_string(c.body));
        EXPECT_EQ(field("body_sha256"), sha256_of_payload(c.body));
        EXPECT_EQ(field("environ.CONTENT_LENGTH"),
                  c.chunk != 0 || c.tags.count("no length") ? kAbsent : std::to_string(c.body));
        std::map<std::string, std::string> sent;
        for (const auto& [name, value] : c.headers) {
            std::string lower;
            for (const char ch : name)
                lower += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
            auto& joined = sent[lower];
            joined += joined.empty() ? value : (lower == "cookie" ? "; " : ", ") + value;
        }
        for (const auto& [name, value] : sent)
            EXPECT_EQ(field("headers." + name), value) << name;
    }
}

// ---------------------------------------------------------------- every topology

class Conformance : public ::testing::TestWithParam<Topology>, protected WithStack {
  protected:
    void SetUp() override { require_stack(); }
    void TearDown() override {
        if (HasFailure())
            shared.failed = true;
    }
};

bool selects(const char* tag, const Case& c) {
    return std::string(tag) == "*" || c.tags.count(tag) != 0;
}

/// `text` as a regex that matches exactly it.
std::string regex_escape(const std::string& text) {
    std::string out;
    for (const char ch : text) {
        if (std::string_view("\\^$.|?*+()[]{}").find(ch) != std::string_view::npos)
            out += '\\';
        out += ch;
    }
    return out;
}

/// The header the case sends, or kAbsent.
std::string sent_header(const Case& c, const std::string& name) {
    for (const auto& [n, v] : c.headers)
        if (n == name)
            return v;
    if (name == "Content-Length" && c.chunk == 0 && !c.tags.count("no length"))
        return std::to_string(c.body);  // HttpConnection adds it
    return kAbsent;
}

std::string pattern_for(const Difference& d, const Case& c) {
    std::string p = d.value;
    const std::pair<std::string, std::string> placeholders[] = {
        {"{size}", std::to_string(c.body)},
        {"{content-type}", sent_header(c, "Content-Type")},
        {"{content-length}", sent_header(c, "Content-Length")},
    };
    for (const auto& [name, value] : placeholders) {
        for (auto at = p.find(name); at != std::string::npos; at = p.find(name))
            p.replace(at, name.size(), regex_escape(value));
    }
    return p;
}

TEST_P(Conformance, SameAnswerAsDirectHttp) {
    const Topology& topology = GetParam();
    const Expectations& expect = expectations().at(topology.name);
    Stack::Endpoint endpoint;
    try {
        endpoint = shared.stack->endpoint(topology);
    } catch (const std::exception& e) {
        FAIL() << "cannot start the front end of " << topology.name << ": " << e.what();
    }
    std::vector<int> refusals_seen(expect.refusals.size());
    std::vector<int> differences_seen(expect.differences.size());

    for (const auto& c : matrix()) {
        const std::string where = std::string(topology.name) + ", request \"" + c.name + "\"";
        const Observed& want = shared.reference.at(c.name);
        Observed got;
        try {
            got = observe(endpoint, c);
        } catch (const std::exception& e) {
            ADD_FAILURE() << where << ": " << e.what();
            continue;
        }

        const Refusal* refusal = nullptr;
        for (std::size_t i = 0; i < expect.refusals.size() && refusal == nullptr; ++i) {
            if (selects(expect.refusals[i].tag, c)) {
                refusal = &expect.refusals[i];
                ++refusals_seen[i];
            }
        }
        if (refusal != nullptr) {
            EXPECT_EQ(got.status, refusal->status)
                << where << ": documented as refused by the front end (" << refusal->why
                << "), but the status was " << got.status << ": " << got.excerpt;
            continue;
        }
        if (got.status != want.status) {
            ADD_FAILURE() << where << ": status " << got.status << ", reference " << want.status
                          << ": " << got.excerpt;
            continue;
        }
        EXPECT_EQ(got.content_type, "application/json") << where;
        if (c.method == "HEAD") {
            EXPECT_EQ(got.body_size, 0u) << where << ": a body in the answer to HEAD";
            continue;
        }

        std::set<std::string> keys;
        for (const auto& [k, v] : want.fields)
            keys.insert(k);
        for (const auto& [k, v] : got.fields)
            keys.insert(k);
        for (const auto& d : expect.differences)
            if (selects(d.tag, c))
                keys.insert(d.key);
        keys.erase("protocol");
        auto value = [](const Observed& o, const std::string& key) {
            const auto it = o.fields.find(key);
            return it == o.fields.end() ? std::string(kAbsent) : it->second;
        };
        for (const auto& key : keys) {
            const std::string g = value(got, key);
            const std::string w = value(want, key);
            std::size_t documented = expect.differences.size();
            for (std::size_t i = 0; i < expect.differences.size(); ++i) {
                if (key == expect.differences[i].key && selects(expect.differences[i].tag, c)) {
                    documented = i;
                    break;
                }
            }
            if (documented == expect.differences.size()) {
                EXPECT_EQ(g, w) << where << ", key " << key << ": got " << quoted(g)
                                << ", reference (direct HTTP) " << quoted(w);
                continue;
            }
            const Difference& d = expect.differences[documented];
            EXPECT_TRUE(std::regex_match(g, std::regex(pattern_for(d, c))))
                << where << ", key " << key << ": got " << quoted(g) << ", documented as "
                << pattern_for(d, c) << " (" << d.why << "); reference " << quoted(w);
            if (g != w)
                ++differences_seen[documented];
        }
        EXPECT_EQ(value(got, "protocol"), topology.protocol) << where;
    }

    for (std::size_t i = 0; i < expect.refusals.size(); ++i) {
        EXPECT_GT(refusals_seen[i], 0) << topology.name << ": the documented refusal of \""
                                       << expect.refusals[i].tag << "\" matched no request";
    }
    for (std::size_t i = 0; i < expect.differences.size(); ++i) {
        const Difference& d = expect.differences[i];
        EXPECT_GT(differences_seen[i], 0)
            << topology.name << ": the documented difference of " << d.key << " on \"" << d.tag
            << "\" (" << d.why << ") never differed from the reference";
    }
}

INSTANTIATE_TEST_SUITE_P(Shipped, Conformance, ::testing::ValuesIn(shipped_topologies()),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace postern::test
