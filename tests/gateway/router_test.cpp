#include <gtest/gtest.h>

#include "core/app.hpp"

namespace postern {
namespace {

Handler noop = [](Request&, Response&) {};

struct RouteCase {
    std::string path;
    std::string mount;  // "" = no match
    std::string script_name;
    std::string path_info;
};

class RouterTest : public ::testing::TestWithParam<RouteCase> {
  protected:
    Router router{{{"/", noop, "root"},
                   {"/app", noop, "app"},
                   {"/app/admin/", noop, "admin"},
                   {"/f", noop, "f"}}};
};

TEST_P(RouterTest, SplitsScriptNameAndPathInfo) {
    const RouteCase& c = GetParam();
    auto m = router.match(c.path);
    ASSERT_NE(m.mount, nullptr);
    EXPECT_EQ(m.mount->name, c.mount);
    EXPECT_EQ(m.script_name, c.script_name);
    EXPECT_EQ(m.path_info, c.path_info);
}

INSTANTIATE_TEST_SUITE_P(
    Mounts, RouterTest,
    ::testing::Values(RouteCase{"/app", "app", "/app", ""}, RouteCase{"/app/", "app", "/app", "/"},
                      RouteCase{"/app/x/y", "app", "/app", "/x/y"},
                      RouteCase{"/apple", "root", "", "/apple"},
                      RouteCase{"/app/admin/users", "admin", "/app/admin", "/users"},
                      RouteCase{"/app/adminx", "app", "/app", "/adminx"},
                      RouteCase{"/f/throw", "f", "/f", "/throw"}, RouteCase{"/", "root", "", "/"},
                      RouteCase{"/app/a%20b", "app", "/app", "/a b"},
                      RouteCase{"/app/a%2Fb", "app", "/app", "/a/b"},
                      RouteCase{"/app/%C3%A9t%C3%A9", "app", "/app", "/\xC3\xA9t\xC3\xA9"},
                      RouteCase{"/ap%70/x", "root", "", "/app/x"}));

TEST(Router, NoMountNoMatch) {
    Router r{{{"/app", noop, "app"}}};
    EXPECT_EQ(r.match("/other").mount, nullptr);
    EXPECT_EQ(r.match("/").mount, nullptr);
}

TEST(PercentDecode, RefusesMalformed) {
    EXPECT_THROW(percent_decode("/a%2"), RequestError);
    EXPECT_THROW(percent_decode("/a%"), RequestError);
    EXPECT_THROW(percent_decode("/a%zz"), RequestError);
    EXPECT_THROW(percent_decode("/a%00b"), RequestError);
    EXPECT_EQ(percent_decode("/a+b"), "/a+b");
    try {
        percent_decode("%g0");
    } catch (const RequestError& e) {
        EXPECT_EQ(e.status(), 400);
    }
}

}  // namespace
}  // namespace postern
