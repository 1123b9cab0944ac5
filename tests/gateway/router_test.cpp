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
    MountRouter router{{{"/", noop, "root"},
                        {"/app", noop, "app"},
                        {"/app/admin/", noop, "admin"},
                        {"/f", noop, "f"}}};
};

TEST_P(RouterTest, SplitsScriptNameAndPathInfo) {
    const RouteCase& c = GetParam();
    auto m = router.route(c.path);
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
                      // Routed on the decoded path, as nginx and Apache route.
                      RouteCase{"/ap%70/x", "app", "/app", "/x"},
                      RouteCase{"/app/x/../y", "app", "/app", "/y"},
                      RouteCase{"/f/../app//x", "app", "/app", "/x"}));

TEST(MountRouter, NoMountNoMatch) {
    MountRouter r{{{"/app", noop, "app"}}};
    EXPECT_EQ(r.route("/other").mount, nullptr);
    EXPECT_EQ(r.route("/").mount, nullptr);
    EXPECT_EQ(r.route("*").mount, nullptr);
}

TEST(MountRouter, MalformedEscapeIs400) {
    MountRouter r{{{"/", noop, "root"}}};
    for (const char* path : {"/a%2", "/a%", "/a%zz", "/a%00b", "%g0"}) {
        try {
            r.route(path);
            ADD_FAILURE() << path << " was routed";
        } catch (const RequestError& e) {
            EXPECT_EQ(e.status(), 400) << path;
        }
    }
    EXPECT_EQ(r.route("/a+b").path_info, "/a+b");
}

}  // namespace
}  // namespace postern
