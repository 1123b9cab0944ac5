// Hostile: the route is chosen on the path the front end routed on. Each
// rule of normalise_path (gateway/src/core/router.hpp) paired with its
// input, every refusal with its offset; MountRouter::route on the paths that
// bypassed nginx's and Apache's access rules (issue 12, item 2); and
// App::handle, the one function every adapter hands its requests to, giving
// the same split whatever the protocol, refusing with 400, and serving the
// next request.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>

#include "recording_sink.hpp"
#include "core/app.hpp"
#include "core/environ.hpp"
#include "core/router.hpp"

namespace postern {
namespace {

using test::RecordingSink;
using test::StringBody;

// ---------------------------------------------------------------- normalise_path

struct Normalises {
    std::string raw;
    std::string normalised;
};

void PrintTo(const Normalises& c, std::ostream* os) {
    *os << ::testing::PrintToString(c.raw) << " -> " << ::testing::PrintToString(c.normalised);
}

class NormalisePath : public ::testing::TestWithParam<Normalises> {};

TEST_P(NormalisePath, GivesThePathTheFrontEndRoutedOn) {
    const NormalisedPath r = normalise_path(GetParam().raw);
    ASSERT_TRUE(r.ok()) << r.reason << " at " << r.offset;
    EXPECT_EQ(r.path, GetParam().normalised);
    // Idempotent: the normalised path is its own normal form (unless it
    // holds a decoded byte that is refused raw: a control byte, '#').
    const bool refused_raw = std::any_of(r.path.begin(), r.path.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u < 0x20 || u == 0x7F || c == '#';
    });
    if (!refused_raw) {
        const NormalisedPath again = normalise_path(r.path);
        ASSERT_TRUE(again.ok()) << again.reason;
        EXPECT_EQ(again.path, r.path);
    }
}

INSTANTIATE_TEST_SUITE_P(
    Rules, NormalisePath,
    ::testing::Values(
        // Nothing to do.
        Normalises{"/", "/"}, Normalises{"/a", "/a"}, Normalises{"/a/", "/a/"},
        Normalises{"/a/b.c", "/a/b.c"},
        // Repeated slashes merge (nginx merge_slashes, Apache MergeSlashes).
        Normalises{"//", "/"}, Normalises{"//a", "/a"}, Normalises{"/a//b", "/a/b"},
        Normalises{"/a///", "/a/"}, Normalises{"///a///b///", "/a/b/"},
        // RFC 3986 §5.2.4: "." segments.
        Normalises{"/.", "/"}, Normalises{"/./", "/"}, Normalises{"/a/.", "/a/"},
        Normalises{"/a/./b", "/a/b"}, Normalises{"/./a/./", "/a/"},
        // ".." segments.
        Normalises{"/a/..", "/"}, Normalises{"/a/../", "/"}, Normalises{"/a/b/../c", "/a/c"},
        Normalises{"/a/b/../../c", "/c"}, Normalises{"/a/./../b", "/b"},
        Normalises{"/a//..//b", "/b"}, Normalises{"/a/../b/./c//d/", "/b/c/d/"},
        // %2e is a dot, in either case, alone or mixed.
        Normalises{"/%2e", "/"}, Normalises{"/a/%2e%2e/b", "/b"}, Normalises{"/a/%2E%2E/b", "/b"},
        Normalises{"/a/.%2e/b", "/b"}, Normalises{"/a/%2e./b", "/b"},
        Normalises{"/a/%2e/b", "/a/b"},
        // Not dot segments.
        Normalises{"/a/...", "/a/..."}, Normalises{"/a/.b", "/a/.b"},
        Normalises{"/a/b..", "/a/b.."}, Normalises{"/a/..;/b", "/a/..;/b"},
        Normalises{"/a/.%20", "/a/. "},
        // Escapes decoded, but %2F and %25, kept as upper-case escapes.
        Normalises{"/%41%62", "/Ab"}, Normalises{"/a%20b", "/a b"}, Normalises{"/a%2Fb", "/a%2Fb"},
        Normalises{"/a%2fb", "/a%2Fb"}, Normalises{"/a%25b", "/a%25b"},
        Normalises{"/a%252e%252e", "/a%252e%252e"}, Normalises{"/a%2F..%2Fb", "/a%2F..%2Fb"},
        Normalises{"/a%3Fb", "/a?b"}, Normalises{"/a%23b", "/a#b"}, Normalises{"/a+b", "/a+b"},
        // Decoded control bytes pass, as nginx passes them (only NUL is
        // refused); bytes above 0x7F pass raw or decoded.
        Normalises{"/a%0Ab", "/a\nb"}, Normalises{"/a%7F", "/a\x7F"},
        Normalises{"/\xC3\xA9t\xC3\xA9", "/\xC3\xA9t\xC3\xA9"}, Normalises{"/%FF", "/\xFF"},
        Normalises{"/\xFF/..", "/"}));

struct Refused {
    std::string raw;
    std::size_t offset;
};

void PrintTo(const Refused& c, std::ostream* os) {
    *os << ::testing::PrintToString(c.raw) << " at " << c.offset;
}

class NormalisePathRefuses : public ::testing::TestWithParam<Refused> {};

TEST_P(NormalisePathRefuses, WithAReasonAndTheOffset) {
    const NormalisedPath r = normalise_path(GetParam().raw);
    ASSERT_FALSE(r.ok()) << "normalised to " << ::testing::PrintToString(r.path);
    EXPECT_NE(std::string(r.reason), "");
    EXPECT_EQ(r.offset, GetParam().offset) << r.reason;
    EXPECT_EQ(r.path, "");
}

INSTANTIATE_TEST_SUITE_P(Rules, NormalisePathRefuses,
                         ::testing::Values(
                             // Not a path.
                             Refused{"", 0}, Refused{"a/b", 0}, Refused{"*", 0}, Refused{"%2Fa", 0},
                             // Climbing above "/".
                             Refused{"/..", 1}, Refused{"/../a", 1}, Refused{"/a/../..", 6},
                             Refused{"/%2e%2e", 1}, Refused{"/a/%2E%2E/%2e%2e/x", 10},
                             Refused{"//..//", 2}, Refused{"/./..", 3},
                             // Malformed escapes.
                             Refused{"/%", 1}, Refused{"/a%4", 2}, Refused{"/%zz", 1},
                             Refused{"/%4g", 1}, Refused{"/%%41", 1},
                             // NUL, raw or encoded.
                             Refused{"/%00", 1}, Refused{std::string("/a\0b", 4), 2},
                             // Raw control characters, and '#'.
                             Refused{"/a\rb", 2}, Refused{"/a\nb", 2}, Refused{"/a\tb", 2},
                             Refused{"/a\x7F", 2}, Refused{"/a\x01", 2}, Refused{"/a#b", 2},
                             Refused{"/a#/../b", 2}));

// Linear in the input however it is built: every case here takes
// microseconds; a quadratic normaliser takes minutes on the dot segments.
TEST(NormalisePathLong, IsLinearInTheInput) {
    const auto start = std::chrono::steady_clock::now();
    std::string deep;
    for (int i = 0; i < 200000; ++i)
        deep += "/a";
    NormalisedPath r = normalise_path(deep);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.path, deep);

    std::string up = deep;
    for (int i = 0; i < 200000; ++i)
        up += "/..";
    r = normalise_path(up);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.path, "/");
    r = normalise_path(up + "/..");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.offset, up.size() + 1);

    r = normalise_path(std::string(1 << 20, '/'));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.path, "/");

    std::string dots;
    for (int i = 0; i < 100000; ++i)
        dots += "/x/%2e%2e/%2E";
    r = normalise_path(dots + "/end");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.path, "/end");

    // One segment of 1 MiB of escapes.
    std::string wide = "/";
    for (int i = 0; i < (1 << 18); ++i)
        wide += "%41";
    r = normalise_path(wide);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.path, "/" + std::string(1 << 18, 'A'));

    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

// Every single byte, raw and escaped, after a segment and alone: never a
// crash, and either refused or normalised to a path that begins with '/'
// and holds no dot segment, no "//", and no '%' but %2F and %25.
TEST(NormalisePathBytes, EveryByteHasADefinedOutcome) {
    auto well_formed = [](const std::string& p) {
        if (p.empty() || p.front() != '/' || p.find("//") != std::string::npos)
            return false;
        if (p.find("/./") != std::string::npos || p.find("/../") != std::string::npos)
            return false;
        if (p.size() >= 2 && p.compare(p.size() - 2, 2, "/.") == 0)
            return false;
        if (p.size() >= 3 && p.compare(p.size() - 3, 3, "/..") == 0)
            return false;
        for (std::size_t i = p.find('%'); i != std::string::npos; i = p.find('%', i + 1))
            if (p.compare(i, 3, "%2F") != 0 && p.compare(i, 3, "%25") != 0)
                return false;
        return true;
    };
    static const char hex[] = "0123456789ABCDEF";
    for (int b = 0; b < 256; ++b) {
        const char c = static_cast<char>(b);
        const std::string escaped = std::string("%") + hex[b >> 4] + hex[b & 15];
        for (const std::string& raw :
             {"/a/" + std::string(1, c) + "/b", "/" + std::string(1, c), "/a/" + escaped + "/..",
              "/" + escaped + escaped, "/a/." + escaped}) {
            const NormalisedPath r = normalise_path(raw);
            if (r.ok()) {
                EXPECT_TRUE(well_formed(r.path))
                    << ::testing::PrintToString(raw) << " -> " << ::testing::PrintToString(r.path);
            } else {
                EXPECT_LT(r.offset, raw.size()) << ::testing::PrintToString(raw);
            }
        }
    }
}

// ---------------------------------------------------------------- MountRouter::route

Handler noop = [](Request&, Response&) {};

struct Routed {
    std::string raw;
    std::string mount;  ///< "" none, "status" the status page, "400" refused
    std::string script_name;
    std::string path_info;
};

void PrintTo(const Routed& c, std::ostream* os) {
    *os << ::testing::PrintToString(c.raw) << " -> " << c.mount;
}

class RouteOnTheNormalisedPath : public ::testing::TestWithParam<Routed> {
  protected:
    MountRouter router{{{"/", noop, "root"}, {"/echo", noop, "echo"}, {"/f", noop, "f"}},
                       "/postern-status"};
};

TEST_P(RouteOnTheNormalisedPath, ChoosesTheMountTheFrontEndChose) {
    const Routed& c = GetParam();
    MountRouter::Match m;
    try {
        m = router.route(c.raw);
    } catch (const RequestError& e) {
        EXPECT_EQ(c.mount, "400") << "refused: " << e.what();
        EXPECT_EQ(e.status(), 400);
        return;
    }
    ASSERT_NE(c.mount, "400") << "routed, not refused";
    if (c.mount == "status") {
        EXPECT_TRUE(m.status_page);
        EXPECT_EQ(m.mount, nullptr);
        return;
    }
    EXPECT_FALSE(m.status_page);
    ASSERT_NE(m.mount, nullptr);
    EXPECT_EQ(m.mount->name, c.mount);
    EXPECT_EQ(m.script_name, c.script_name);
    EXPECT_EQ(m.path_info, c.path_info);
}

INSTANTIATE_TEST_SUITE_P(
    Bypasses, RouteOnTheNormalisedPath,
    ::testing::Values(
        // nginx `location /echo { deny all; }` saw /f/x for each of these.
        Routed{"/echo/../f/x", "f", "/f", "/x"}, Routed{"/echo/%2e%2e/f/x", "f", "/f", "/x"},
        Routed{"/echo/%2E%2e/f/x", "f", "/f", "/x"}, Routed{"/echo/.%2e/f/x", "f", "/f", "/x"},
        Routed{"/echo/./../f/./x", "f", "/f", "/x"}, Routed{"/echo/x/../../f/x", "f", "/f", "/x"},
        // ... and /echo for these, where the raw path would have missed it.
        Routed{"//echo", "echo", "/echo", ""}, Routed{"//echo//x", "echo", "/echo", "/x"},
        Routed{"/f/../echo", "echo", "/echo", ""}, Routed{"/%65cho/x", "echo", "/echo", "/x"},
        Routed{"/echo/.", "echo", "/echo", "/"}, Routed{"/./echo", "echo", "/echo", ""},
        // The status page on the same path as the front end's location =.
        Routed{"/postern-status", "status", "", ""}, Routed{"//postern-status", "status", "", ""},
        Routed{"/f/../postern-status", "status", "", ""},
        Routed{"/f/%2e%2e/postern-status", "status", "", ""},
        Routed{"/postern%2Dstatus", "status", "", ""},
        Routed{"/postern-status/", "root", "", "/postern-status/"},
        Routed{"/postern-statusx", "root", "", "/postern-statusx"},
        // Climbing above "/".
        Routed{"/..", "400", "", ""}, Routed{"/echo/../../f", "400", "", ""},
        Routed{"/%2e%2e/echo", "400", "", ""},
        // %2F: never a segment boundary, decoded once into PATH_INFO when
        // both readings reach the same mount ...
        Routed{"/f/a%2Fb", "f", "/f", "/a/b"}, Routed{"/f/a%2F", "f", "/f", "/a/"},
        Routed{"/f/%252F", "f", "/f", "/%2F"}, Routed{"/f/%25", "f", "/f", "/%"},
        // ... refused when nginx's reading (%2F as '/') differs.
        Routed{"/echo%2Fx", "400", "", ""}, Routed{"/x%2F..%2Fecho", "400", "", ""},
        Routed{"/f/..%2F..%2Fecho", "400", "", ""}, Routed{"/f/a%2F%2Fb", "400", "", ""},
        Routed{"/%2Fecho", "400", "", ""},
        Routed{"/postern-status%2F", "root", "", "/postern-status/"},
        Routed{"/f/.%2Fx", "400", "", ""},
        // Hostile bytes.
        Routed{"/f/%00", "400", "", ""}, Routed{"/f/\r\n", "400", "", ""},
        Routed{"/f#/../echo", "400", "", ""}, Routed{"f/x", "400", "", ""},
        Routed{"/f/%0A", "f", "/f", "/\n"}));

TEST(RouteWithoutARootMount, AnEncodedSlashBothReadingsAgreeOn) {
    MountRouter r{{{"/f", noop, "f"}}};
    EXPECT_EQ(r.route("/x%2Fy").mount, nullptr);
    EXPECT_EQ(r.route("/").mount, nullptr);
    EXPECT_EQ(r.route("*").mount, nullptr);
    EXPECT_THROW(r.route("/f%2Fy"), RequestError);
}

// ---------------------------------------------------------------- App::handle

class SameSplitEveryProtocol : public ::testing::TestWithParam<const char*> {
  protected:
    App make() {
        std::vector<Mount> mounts;
        auto record = [this](std::string name) {
            return [this, name](Request& req, Response& res) {
                seen_mount = name;
                seen_script = std::string(req.script_name());
                seen_path = std::string(req.path_info());
                seen_uri = std::string(req.request_uri());
                res.write(name);
            };
        };
        mounts.push_back({"/echo", record("echo"), "echo"});
        mounts.push_back({"/f", record("f"), "f"});
        return App(std::move(mounts), Limits{}, "/postern-status");
    }
    Environ env(std::string uri) {
        Environ e;
        add_param(e, "REQUEST_METHOD", "GET");
        add_param(e, "REQUEST_URI", uri);
        add_param(e, "SERVER_PROTOCOL", "HTTP/1.1");
        return e;
    }
    Outcome run(App& app, Environ e, RecordingSink& sink) {
        seen_mount.clear();
        StringBody body("");
        return app.handle(GetParam(), std::move(e), body, sink, peer);
    }

    Peer peer{"127.0.0.1", "5555", "127.0.0.1", "9000", false};
    std::string seen_mount, seen_script, seen_path, seen_uri;
};

TEST_P(SameSplitEveryProtocol, FromTheNormalisedPathWithTheRawRequestUri) {
    App app = make();
    for (const char* uri : {"/echo/../f/x?q=1", "/echo/%2e%2e/f/x", "//echo/..//f//x"}) {
        RecordingSink sink;
        const Outcome out = run(app, env(uri), sink);
        EXPECT_EQ(out.status, 200) << uri;
        EXPECT_EQ(seen_mount, "f") << uri;
        EXPECT_EQ(seen_script, "/f") << uri;
        EXPECT_EQ(seen_path, "/x") << uri;
        EXPECT_EQ(seen_uri, uri) << "REQUEST_URI stays raw";
    }
}

TEST_P(SameSplitEveryProtocol, ReplacesTheFrontEndsOwnSplit) {
    // nginx's stock fastcgi_params send SCRIPT_NAME, DOCUMENT_URI; a CGI
    // host sends SCRIPT_NAME and PATH_INFO: none of them routes.
    App app = make();
    Environ e = env("/echo/../f/x");
    add_param(e, "SCRIPT_NAME", "/echo");
    add_param(e, "PATH_INFO", "/../f/x");
    add_param(e, "PATH_TRANSLATED", "/srv/echo/../f/x");
    add_param(e, "DOCUMENT_URI", "/echo");
    RecordingSink sink;
    run(app, std::move(e), sink);
    EXPECT_EQ(seen_mount, "f");
    EXPECT_EQ(seen_script, "/f");
    EXPECT_EQ(seen_path, "/x");
}

TEST_P(SameSplitEveryProtocol, WithoutRequestUriRoutesTheRebuiltTarget) {
    // A CGI host without REQUEST_URI: SCRIPT_NAME and PATH_INFO are decoded
    // already and are not decoded twice.
    App app = make();
    Environ e;
    add_param(e, "REQUEST_METHOD", "GET");
    add_param(e, "SCRIPT_NAME", "/f");
    add_param(e, "PATH_INFO", "/100%/a?b");
    RecordingSink sink;
    const Outcome out = run(app, std::move(e), sink);
    EXPECT_EQ(out.status, 200);
    EXPECT_EQ(seen_mount, "f");
    EXPECT_EQ(seen_path, "/100%/a?b");
}

TEST_P(SameSplitEveryProtocol, RefusesWith400AndServesTheNextRequest) {
    App app = make();
    for (const char* uri : {"/..", "/echo/../../f", "/f/%00", "/echo%2Fx", "/x%2F..%2Fecho",
                            "/f/%zz", "/f#/../echo"}) {
        RecordingSink bad;
        const Outcome out = run(app, env(uri), bad);
        EXPECT_EQ(out.status, 400) << uri;
        EXPECT_EQ(bad.status, 400) << uri;
        EXPECT_TRUE(out.reusable) << uri;
        EXPECT_EQ(seen_mount, "") << uri << " reached a callback";

        RecordingSink good;
        EXPECT_EQ(run(app, env("/f/next"), good).status, 200) << "after " << uri;
        EXPECT_EQ(seen_path, "/next");
    }
}

TEST_P(SameSplitEveryProtocol, TheStatusPageOnTheNormalisedPath) {
    // No status board is attached in this process: the page answers 503,
    // which still shows the request reached it and no mount.
    App app = make();
    for (const char* uri : {"/postern-status", "//postern-status", "/f/../postern-status"}) {
        RecordingSink sink;
        const Outcome out = run(app, env(uri), sink);
        EXPECT_EQ(out.status, 503) << uri;
        EXPECT_EQ(seen_mount, "") << uri;
    }
}

INSTANTIATE_TEST_SUITE_P(Protocols, SameSplitEveryProtocol,
                         ::testing::Values("http", "fastcgi", "ajp", "scgi", "uwsgi", "cgi"));

}  // namespace
}  // namespace postern
