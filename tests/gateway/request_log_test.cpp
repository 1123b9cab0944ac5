// Request::log: a callback's line in the gateway's own log format, with the
// request line attached and request data escaped.
#include <gtest/gtest.h>

#include <algorithm>
#include <regex>
#include <string>

#include "core/log.hpp"
#include "postern/request.hpp"
#include "recording_sink.hpp"
#include "stderr_capture.hpp"

namespace postern {
namespace {

/// Restores the log level a test changed.
class LevelGuard {
  public:
    LevelGuard() : was_(log::level()) {}
    ~LevelGuard() { log::set_level(was_); }

  private:
    log::Level was_;
};

TEST(RequestLog, TheGatewaysLineFormatWithTheRequestLineAttached) {
    LevelGuard guard;
    log::set_level(log::Level::info);
    test::StringBody body("");
    const Request req("fastcgi",
                      {{"REQUEST_METHOD", "GET"},
                       {"REQUEST_URI", "/items/7?q=1"},
                       {"PATH_INFO", "/7"},
                       {"REMOTE_ADDR", "192.0.2.7"}},
                      body);
    test::StderrCapture capture;
    req.log(Level::warn, "stock low for item 7");
    const std::string text = capture.text();
    // "2026-12-06T04:21:44Z postern[PID] warn: application: ... (request ...)"
    const std::regex line(
        R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ postern\[\d+\] warn: application: stock low for item 7 \(request "GET /items/7\?q=1" from 192\.0\.2\.7\)\n$)");
    EXPECT_TRUE(std::regex_match(text, line)) << text;
}

TEST(RequestLog, ControlCharactersAndQuotesAreEscapedOnOneLine) {
    LevelGuard guard;
    log::set_level(log::Level::info);
    test::StringBody body("");
    // What a forged request could hold (an AJP stored method, a raw target).
    const Request req("ajp",
                      {{"REQUEST_METHOD", "GE\nT"},
                       {"REQUEST_URI", "/a\"b\x1b[31m"},
                       {"REMOTE_ADDR", "192.0.2.7"}},
                      body);
    test::StderrCapture capture;
    req.log(Level::error, "line one\nforged line\r\t\\ \"quoted\"");
    const std::string text = capture.text();
    EXPECT_NE(text.find(" error: application: line one\\x0Aforged line\\x0D\\x09\\x5C "
                        "\\x22quoted\\x22 (request \"GE\\x0AT /a\\x22b\\x1B[31m\" from "
                        "192.0.2.7)\n"),
              std::string::npos)
        << text;
    EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
}

TEST(RequestLog, BelowTheLogLevelNothingIsWrittenAndWithoutATargetThePathIsNamed) {
    LevelGuard guard;
    log::set_level(log::Level::warn);
    test::StringBody body("");
    const Request req("cgi", {{"REQUEST_METHOD", "POST"}, {"PATH_INFO", "/form"}}, body);
    test::StderrCapture capture;
    req.log(Level::info, "not written");
    req.log(Level::debug, "nor this");
    req.log(Level::warn, "written");
    const std::string text = capture.text();
    EXPECT_EQ(text.find("not written"), std::string::npos) << text;
    EXPECT_EQ(text.find("nor this"), std::string::npos) << text;
    EXPECT_NE(text.find(" warn: application: written (request \"POST /form\""), std::string::npos)
        << text;
}

}  // namespace
}  // namespace postern
