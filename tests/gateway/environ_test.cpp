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

TEST(Environ, HeaderNames) {
    EXPECT_EQ(header_name_of("HTTP_X_FORWARDED_FOR"), "x-forwarded-for");
    EXPECT_EQ(header_name_of("CONTENT_TYPE"), "content-type");
    EXPECT_EQ(header_name_of("SERVER_NAME"), "");
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

}  // namespace
}  // namespace postern
