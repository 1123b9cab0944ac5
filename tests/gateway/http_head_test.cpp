// core/http_head: the one HTTP/1.1 response-head encoder (HTTP adapter,
// uwsgi, the overload answer), against exact bytes.
#include "core/http_head.hpp"

#include <gtest/gtest.h>

#include <string>

namespace postern {
namespace {

using Connection = HttpFraming::Connection;

std::string head(int status, const HeaderList* headers, const HttpFraming& framing) {
    std::string out;
    append_http_head(out, status, headers, framing);
    return out;
}

TEST(HttpHead, StatusLineHeadersInOrderAndTheBlankLine) {
    const HeaderList headers = {{"Content-Type", "text/plain"}, {"X-A", "1"}, {"X-B", ""}};
    EXPECT_EQ(head(404, &headers, {}),
              "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nX-A: 1\r\nX-B: \r\n\r\n");
    EXPECT_EQ(head(204, nullptr, {}), "HTTP/1.1 204 No Content\r\n\r\n");
}

TEST(HttpHead, FramingIsTheEncodersAloneAndComesAfterTheHeaders) {
    const HeaderList headers = {{"content-length", "999"},
                                {"X-A", "1"},
                                {"Transfer-Encoding", "gzip"},
                                {"Retry-After", "1"}};
    HttpFraming length;
    length.content_length = 5;
    EXPECT_EQ(head(200, &headers, length),
              "HTTP/1.1 200 OK\r\nX-A: 1\r\nRetry-After: 1\r\nContent-Length: 5\r\n\r\n");
    HttpFraming chunked;
    chunked.chunked = true;
    chunked.connection = Connection::keep_alive;
    EXPECT_EQ(head(200, &headers, chunked),
              "HTTP/1.1 200 OK\r\nX-A: 1\r\nRetry-After: 1\r\n"
              "Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n");
    HttpFraming close;
    close.content_length = 0;
    close.connection = Connection::close;
    EXPECT_EQ(
        head(500, nullptr, close),
        "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
}

TEST(HttpHead, DateIsAddedOnlyWhenAskedAndAbsent) {
    HttpFraming framing;
    framing.date = true;
    const std::string with = head(200, nullptr, framing);
    // "Date: Sun, 06 Dec 2026 02:30:00 GMT\r\n" (IMF-fixdate, RFC 9110 §5.6.7).
    ASSERT_EQ(with.rfind("HTTP/1.1 200 OK\r\nDate: ", 0), 0u) << with;
    const std::string date = with.substr(17, with.size() - 17 - 2);
    EXPECT_EQ(date.size(), 37u) << date;
    EXPECT_EQ(date.substr(date.size() - 6), " GMT\r\n");
    const HeaderList own = {{"date", "Thu, 01 Jan 1970 00:00:00 GMT"}};
    EXPECT_EQ(head(200, &own, framing),
              "HTTP/1.1 200 OK\r\ndate: Thu, 01 Jan 1970 00:00:00 GMT\r\n\r\n");
    EXPECT_EQ(head(200, nullptr, {}), "HTTP/1.1 200 OK\r\n\r\n");
}

}  // namespace
}  // namespace postern
