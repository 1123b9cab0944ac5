// core/connection: the overload answer (--max-connections reached), built
// once for every protocol, against exact bytes.
#include "core/connection.hpp"

#include <gtest/gtest.h>

#include <string>

namespace postern {
namespace {

TEST(OverloadedResponse, CgiExactBytes) {
    EXPECT_EQ(overloaded_cgi_response(),
              "Status: 503 Service Unavailable\r\n"
              "Content-Type: text/plain; charset=utf-8\r\n"
              "Content-Length: 24\r\nRetry-After: 1\r\n\r\n"
              "503 Service Unavailable\n");
}

TEST(OverloadedResponse, HttpExactBytes) {
    EXPECT_EQ(overloaded_http_response(false),
              "HTTP/1.1 503 Service Unavailable\r\n"
              "Content-Type: text/plain; charset=utf-8\r\n"
              "Retry-After: 1\r\nContent-Length: 24\r\n\r\n"
              "503 Service Unavailable\n");
    EXPECT_EQ(overloaded_http_response(true),
              "HTTP/1.1 503 Service Unavailable\r\n"
              "Content-Type: text/plain; charset=utf-8\r\n"
              "Retry-After: 1\r\nContent-Length: 24\r\nConnection: close\r\n\r\n"
              "503 Service Unavailable\n");
}

TEST(OverloadedResponse, HeadersGiveTheBodysLength) {
    const HeaderList want = {{"Content-Type", "text/plain; charset=utf-8"},
                             {"Content-Length", std::to_string(kOverloadedBody.size())},
                             {"Retry-After", "1"}};
    EXPECT_EQ(overloaded_headers(), want);
}

}  // namespace
}  // namespace postern
