#include "core/environ.hpp"

#include <gtest/gtest.h>

namespace postern {
namespace {

TEST(Environ, RepeatedHeaderParamsJoin) {
    Environ env;
    add_param(env, "HTTP_X_TAG", "a");
    add_param(env, "HTTP_X_TAG", "b");
    add_param(env, "HTTP_COOKIE", "a=1");
    add_param(env, "HTTP_COOKIE", "b=2");
    add_param(env, "SERVER_PORT", "80");
    add_param(env, "SERVER_PORT", "81");
    EXPECT_EQ(*find_var(env, "HTTP_X_TAG"), "a, b");
    EXPECT_EQ(*find_var(env, "HTTP_COOKIE"), "a=1; b=2");
    EXPECT_EQ(*find_var(env, "SERVER_PORT"), "81");
}

TEST(Environ, HeadersMapToVariables) {
    Environ env;
    add_header(env, "Content-Type", "text/plain");
    add_header(env, "Content-Length", "5");
    add_header(env, "X-Forwarded-For", "10.0.0.1");
    add_header(env, "x-forwarded-for", "10.0.0.2");
    add_header(env, "Cookie", "a=1");
    add_header(env, "Cookie", "b=2");
    add_header(env, "X_Sneaky", "1");
    add_header(env, "Proxy", "http://evil");
    EXPECT_EQ(*find_var(env, "CONTENT_TYPE"), "text/plain");
    EXPECT_EQ(*find_var(env, "CONTENT_LENGTH"), "5");
    EXPECT_EQ(*find_var(env, "HTTP_X_FORWARDED_FOR"), "10.0.0.1, 10.0.0.2");
    EXPECT_EQ(*find_var(env, "HTTP_COOKIE"), "a=1; b=2");
    EXPECT_EQ(find_var(env, "HTTP_X_SNEAKY"), nullptr) << "underscored names could pose as others";
    EXPECT_EQ(find_var(env, "HTTP_PROXY"), nullptr) << "httpoxy";
}

TEST(Environ, HopByHopHeadersAreDropped) {
    Environ env;
    add_header(env, "Transfer-Encoding", "chunked");
    add_header(env, "Connection", "keep-alive");
    add_param(env, "HTTP_KEEP_ALIVE", "timeout=5");
    add_param(env, "HTTP_TE", "trailers");
    add_param(env, "HTTP_PROXY_CONNECTION", "close");
    add_header(env, "X-Kept", "1");
    ASSERT_EQ(env.size(), 1u);
    EXPECT_EQ(env[0].first, "HTTP_X_KEPT");
}

TEST(Environ, ProxyParamDropped) {
    Environ env;
    add_param(env, "HTTP_PROXY", "http://evil");
    EXPECT_EQ(find_var(env, "HTTP_PROXY"), nullptr);
}

// nginx sends Content-Type and Content-Length as HTTP_* params besides
// CONTENT_TYPE and CONTENT_LENGTH; RFC 3875 §4.1.18 keeps only the latter.
TEST(Environ, ContentHeadersOnlyAsCgiVariables) {
    Environ env;
    add_param(env, "CONTENT_TYPE", "text/plain");
    add_param(env, "CONTENT_LENGTH", "3");
    add_param(env, "HTTP_CONTENT_TYPE", "text/plain");
    add_param(env, "HTTP_CONTENT_LENGTH", "3");
    Environ built;
    ParamBuilder b(built);
    for (const auto& [n, v] : env)
        b.add(n, v);
    b.add("HTTP_CONTENT_TYPE", "text/plain");
    EXPECT_EQ(env, (Environ{{"CONTENT_TYPE", "text/plain"}, {"CONTENT_LENGTH", "3"}}));
    EXPECT_EQ(built, env);
}

TEST(Environ, HeaderNames) {
    EXPECT_EQ(header_name_of("HTTP_X_FORWARDED_FOR"), "x-forwarded-for");
    EXPECT_EQ(header_name_of("CONTENT_TYPE"), "content-type");
    EXPECT_EQ(header_name_of("SERVER_NAME"), "");
    // Not spelled as a header's variable: names no header.
    EXPECT_EQ(header_name_of("HTTP_x_lower"), "");
    EXPECT_EQ(header_name_of("HTTP_X-DASH"), "");
    EXPECT_EQ(header_name_of("HTTP_"), "");
}

TEST(Environ, SetAndErase) {
    Environ env;
    set_var(env, "A", "1");
    set_var(env, "A", "2");
    EXPECT_EQ(env.size(), 1u);
    EXPECT_EQ(*find_var(env, "A"), "2");
    erase_var(env, "A");
    EXPECT_TRUE(env.empty());
}

// ParamBuilder is add_param without a scan per name: the same table for any
// sequence of params, repeats, dropped names and filter collisions included.
TEST(Environ, ParamBuilderMatchesAddParam) {
    std::vector<std::pair<std::string, std::string>> params = {
        {"REQUEST_METHOD", "GET"},  {"REQUEST_URI", "/a"},      {"HTTP_ACCEPT", "a"},
        {"HTTP_COOKIE", "x=1"},     {"REMOTE_ADDR", "1.2.3.4"}, {"REMOTE_PORT", "1"},
        {"SERVER_ADDR", "5.6.7.8"}, {"SERVER_PORT", "80"},      {"HTTP_ACCEPT", "b"},
        {"HTTP_PROXY", "evil"},     {"HTTP_CONNECTION", "x"},   {"HTTP_COOKIE", "y=2"},
        {"REQUEST_METHOD", "POST"}, {"CONTENT_LENGTH", ""},     {"X", "1"},
        {"", "empty name"},         {"HTTP_ACCEPT", ""},        {"Y", "2"}};
    // Enough distinct names to fill the 128-bit filter and force collisions.
    for (int i = 0; i < 300; ++i) {
        params.emplace_back("HTTP_X_" + std::to_string(i), std::to_string(i));
        if (i % 7 == 0)
            params.emplace_back("HTTP_X_" + std::to_string(i / 2), "again");
    }
    Environ expected;
    for (const auto& [n, v] : params)
        add_param(expected, n, v);
    Environ built{{"GATEWAY_INTERFACE", "preset"}};
    Environ expected_with_preset{{"GATEWAY_INTERFACE", "preset"}};
    for (const auto& [n, v] : params)
        add_param(expected_with_preset, n, v);
    ParamBuilder builder(built);
    for (const auto& [n, v] : params)
        builder.add(n, v);
    EXPECT_EQ(built, expected_with_preset);
    ASSERT_NE(find_var(expected, "HTTP_ACCEPT"), nullptr);
    EXPECT_EQ(*find_var(expected, "HTTP_ACCEPT"), "a, b, ");
    EXPECT_EQ(*find_var(expected, "HTTP_COOKIE"), "x=1; y=2");
    EXPECT_EQ(*find_var(expected, "REQUEST_METHOD"), "POST");
    EXPECT_EQ(find_var(expected, "HTTP_PROXY"), nullptr);
    EXPECT_EQ(*find_var(expected, "HTTP_X_3"), "3, again");
}

}  // namespace
}  // namespace postern
