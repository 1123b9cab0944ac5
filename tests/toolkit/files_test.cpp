// Tests gateway/src/toolkit/files.cpp (Response::send_file, path_under, the
// Range reader) in memory over a recording sink, then end to end over real
// sockets (HTTP, FastCGI, SCGI, uwsgi) with the adapters' sendfile(2) paths.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/send_all.hpp"
#include "fcgi_client.hpp"
#include "http1_client.hpp"
#include "in_process_gateway.hpp"
#include "postern/postern.hpp"
#include "protocol_client.hpp"
#include "recording_sink.hpp"
#include "socket_client.hpp"
#include "test_data.hpp"
#include "toolkit/byte_range.hpp"
#include "wait.hpp"

namespace postern {
namespace {

namespace fs = std::filesystem;
using test::RecordingSink;
using test::StringBody;
using toolkit::ByteRange;
using toolkit::parse_byte_range;

// --- The Range reader (pure) --------------------------------------------------

struct RangeCase {
    const char* header;
    std::uint64_t size;
    ByteRange::Kind kind;
    std::uint64_t first = 0;
    std::uint64_t last = 0;
};

std::ostream& operator<<(std::ostream& os, const RangeCase& c) {
    return os << '"' << c.header << "\" of " << c.size;
}

class ByteRangeTest : public testing::TestWithParam<RangeCase> {};

TEST_P(ByteRangeTest, ReadsTheHeaderAsRfc9110Says) {
    const RangeCase& c = GetParam();
    const ByteRange r = parse_byte_range(c.header, c.size);
    EXPECT_EQ(r.kind, c.kind);
    if (c.kind == ByteRange::Kind::one) {
        EXPECT_EQ(r.first, c.first);
        EXPECT_EQ(r.last, c.last);
    }
}

constexpr auto kWhole = ByteRange::Kind::whole;
constexpr auto kOne = ByteRange::Kind::one;
constexpr auto kNone = ByteRange::Kind::unsatisfiable;

INSTANTIATE_TEST_SUITE_P(
    Cases, ByteRangeTest,
    testing::Values(
        // One satisfiable range.
        RangeCase{"bytes=0-0", 10, kOne, 0, 0}, RangeCase{"bytes=2-5", 10, kOne, 2, 5},
        RangeCase{"bytes=2-", 10, kOne, 2, 9}, RangeCase{"bytes=9-9", 10, kOne, 9, 9},
        RangeCase{"bytes=5-100", 10, kOne, 5, 9},  // last-pos clamped
        RangeCase{"bytes=-3", 10, kOne, 7, 9},     // suffix
        RangeCase{"bytes=-10", 10, kOne, 0, 9}, RangeCase{"bytes=-11", 10, kOne, 0, 9},
        RangeCase{"BYTES=1-2", 10, kOne, 1, 2},  // the unit is case-insensitive
        RangeCase{"bytes= 1-2 ", 10, kOne, 1, 2}, RangeCase{"bytes=1-2,", 10, kOne, 1, 2},
        RangeCase{"bytes=0-18446744073709551615", 10, kWhole},  // 20 digits: malformed
        RangeCase{"bytes=0-9999999999999999999", 10, kOne, 0, 9},
        // Unsatisfiable: 416.
        RangeCase{"bytes=10-", 10, kNone}, RangeCase{"bytes=10-20", 10, kNone},
        RangeCase{"bytes=-0", 10, kNone}, RangeCase{"bytes=99999-", 10, kNone},
        // Malformed, another unit, several ranges, an empty file: the whole.
        RangeCase{"", 10, kWhole}, RangeCase{"bytes", 10, kWhole}, RangeCase{"bytes=", 10, kWhole},
        RangeCase{"bytes=-", 10, kWhole}, RangeCase{"bytes=5-2", 10, kWhole},
        RangeCase{"bytes=a-b", 10, kWhole}, RangeCase{"bytes=1-2x", 10, kWhole},
        RangeCase{"bytes=+1-2", 10, kWhole}, RangeCase{"bytes=--1", 10, kWhole},
        RangeCase{"bytes=1--2", 10, kWhole}, RangeCase{"bytes=1 -2", 10, kWhole},
        RangeCase{"items=0-1", 10, kWhole}, RangeCase{"bytes=0-1,3-4", 10, kWhole},
        RangeCase{"bytes=0-1, 20-30", 10, kWhole}, RangeCase{"bytes=0-1", 0, kWhole},
        RangeCase{"bytes=-0", 0, kWhole}));

// --- path_under ---------------------------------------------------------------

TEST(PathUnder, JoinsPlainNamesAndRefusesDotSegments) {
    EXPECT_EQ(path_under("/srv/www", "/a/b.txt"), "/srv/www/a/b.txt");
    EXPECT_EQ(path_under("/srv/www/", "a//b.txt"), "/srv/www/a/b.txt");
    EXPECT_EQ(path_under("/", "/a"), "/a");
    EXPECT_EQ(path_under("/srv", "/..."), "/srv/...");  // a name, not a dot segment
    EXPECT_EQ(path_under("/srv", "/..a"), "/srv/..a");
    EXPECT_EQ(path_under("/srv", "/%2e%2e"), "/srv/%2e%2e") << "no second decoding";
    for (std::string_view bad :
         {"/../etc/passwd", "/a/../../x", "..", "/a/..", "/./a", "/a/.", "", "/", "//"})
        EXPECT_EQ(path_under("/srv", bad), std::nullopt) << bad;
    EXPECT_EQ(path_under("/srv", std::string_view("/a\0b", 4)), std::nullopt);
    EXPECT_EQ(path_under("", "/a"), std::nullopt);
}

// --- send_file over a recording sink -------------------------------------------

/// A temporary directory, removed with what it holds.
class TempDir {
  public:
    TempDir() {
        std::string pattern = (fs::temp_directory_path() / "postern-files-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr)
            throw std::runtime_error("mkdtemp failed");
        path_ = pattern;
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    const fs::path& path() const noexcept { return path_; }
    std::string write(const std::string& name, std::string_view bytes) const {
        const fs::path p = path_ / name;
        fs::create_directories(p.parent_path());
        std::ofstream(p, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
        return p.string();
    }

  private:
    fs::path path_;
};

/// The HTTP-date (IMF-fixdate) of `t`, written here without Poco.
std::string imf_date(std::time_t t) {
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    static const char* const kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday],
                  tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                  tm.tm_sec);
    return buf;
}

std::optional<std::string> header_of(const HeaderList& headers, std::string_view name) {
    for (const auto& [k, v] : headers)
        if (k.size() == name.size() &&
            std::equal(k.begin(), k.end(), name.begin(),
                       [](char a, char b) { return std::tolower(a) == std::tolower(b); }))
            return v;
    return std::nullopt;
}

class SendFile : public testing::Test {
  protected:
    void SetUp() override {
        content_ = test::deterministic_bytes(1000, 7);
        file_ = dir_.write("doc.txt", content_);
        // A fixed mtime in the past: 2001-09-09T01:46:40Z.
        set_mtime(file_, 1'000'000'000);
    }

    static void set_mtime(const std::string& path, std::time_t t) {
        const timespec times[2] = {{t, 0}, {t, 0}};
        ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
    }

    /// The callback `send_file(req, path, options)` for `method` with request
    /// headers `headers` (as CGI variables), then the core's finish().
    RecordingSink serve(const std::string& method, Environ headers = {},
                        const std::string& path = {}, const FileOptions& options = {},
                        int status = 200) {
        Environ env{{"REQUEST_METHOD", method}, {"PATH_INFO", "/doc.txt"}};
        env.insert(env.end(), headers.begin(), headers.end());
        StringBody body("");
        Request req("http", std::move(env), body);
        RecordingSink sink;
        Response res(sink, method == "HEAD");
        if (status != 200)
            res.status(status);
        res.send_file(req, path.empty() ? file_ : path, options);
        EXPECT_TRUE(res.finish());
        EXPECT_EQ(sink.aborts, 0);
        return sink;
    }

    TempDir dir_;
    std::string content_;
    std::string file_;
};

TEST_F(SendFile, SendsTheWholeFileWithItsLengthTypeAndDate) {
    const RecordingSink s = serve("GET");
    EXPECT_EQ(s.status, 200);
    ASSERT_TRUE(s.content_length);
    EXPECT_EQ(*s.content_length, content_.size());
    EXPECT_EQ(s.body, content_);
    EXPECT_EQ(header_of(s.headers, "Content-Type"), "text/plain");
    EXPECT_EQ(header_of(s.headers, "Last-Modified"), "Sun, 09 Sep 2001 01:46:40 GMT");
    EXPECT_EQ(header_of(s.headers, "Last-Modified"), imf_date(1'000'000'000));
    EXPECT_EQ(header_of(s.headers, "Accept-Ranges"), "bytes");
    EXPECT_EQ(header_of(s.headers, "Content-Disposition"), std::nullopt);
    EXPECT_EQ(header_of(s.headers, "Content-Range"), std::nullopt);
}

TEST_F(SendFile, OneRangeIs206WithItsBytes) {
    RecordingSink s = serve("GET", {{"HTTP_RANGE", "bytes=100-199"}});
    EXPECT_EQ(s.status, 206);
    EXPECT_EQ(*s.content_length, 100u);
    EXPECT_EQ(s.body, content_.substr(100, 100));
    EXPECT_EQ(header_of(s.headers, "Content-Range"), "bytes 100-199/1000");

    s = serve("GET", {{"HTTP_RANGE", "bytes=-10"}});
    EXPECT_EQ(s.status, 206);
    EXPECT_EQ(s.body, content_.substr(990));
    EXPECT_EQ(header_of(s.headers, "Content-Range"), "bytes 990-999/1000");

    s = serve("GET", {{"HTTP_RANGE", "bytes=995-"}});
    EXPECT_EQ(s.status, 206);
    EXPECT_EQ(s.body, content_.substr(995));

    s = serve("GET", {{"HTTP_RANGE", "bytes=998-5000"}});
    EXPECT_EQ(s.status, 206);
    EXPECT_EQ(s.body, content_.substr(998));
    EXPECT_EQ(header_of(s.headers, "Content-Range"), "bytes 998-999/1000");
}

TEST_F(SendFile, ARangePastTheEndOrBytesMinusZeroIs416) {
    for (const char* range : {"bytes=1000-", "bytes=1000-2000", "bytes=-0", "bytes=5000-6000"}) {
        const RecordingSink s = serve("GET", {{"HTTP_RANGE", range}});
        EXPECT_EQ(s.status, 416) << range;
        EXPECT_EQ(header_of(s.headers, "Content-Range"), "bytes */1000") << range;
        EXPECT_EQ(s.body.find(content_.substr(0, 50)), std::string::npos) << "no file bytes";
        EXPECT_EQ(*s.content_length, s.body.size());
    }
}

TEST_F(SendFile, AMalformedRangeOrSeveralRangesGetTheWholeFile) {
    for (const char* range : {"bytes=5-2", "bytes=abc", "items=0-1", "bytes=0-1,5-6", "bytes",
                              "bytes=1-2-3", "bytes=-"}) {
        const RecordingSink s = serve("GET", {{"HTTP_RANGE", range}});
        EXPECT_EQ(s.status, 200) << range;
        EXPECT_EQ(s.body, content_) << range;
        EXPECT_EQ(header_of(s.headers, "Content-Range"), std::nullopt);
    }
}

TEST_F(SendFile, IfRangeHonoursTheRangeOnlyForTheExactLastModified) {
    RecordingSink s =
        serve("GET", {{"HTTP_RANGE", "bytes=0-9"}, {"HTTP_IF_RANGE", imf_date(1'000'000'000)}});
    EXPECT_EQ(s.status, 206);
    EXPECT_EQ(s.body, content_.substr(0, 10));
    for (const std::string& other : {imf_date(1'000'000'001), imf_date(999'999'999),
                                     std::string("\"an-etag\""), std::string("garbage")}) {
        s = serve("GET", {{"HTTP_RANGE", "bytes=0-9"}, {"HTTP_IF_RANGE", other}});
        EXPECT_EQ(s.status, 200) << other;
        EXPECT_EQ(s.body, content_) << other;
    }
}

TEST_F(SendFile, IfModifiedSinceAtOrAfterTheFileIs304WithoutBody) {
    for (const std::string& since :
         {imf_date(1'000'000'000), imf_date(1'000'000'500),
          std::string("Sunday, 09-Sep-01 01:46:40 GMT"), std::string("Sun Sep  9 01:46:40 2001")}) {
        const RecordingSink s = serve("GET", {{"HTTP_IF_MODIFIED_SINCE", since}});
        EXPECT_EQ(s.status, 304) << since;
        EXPECT_EQ(s.body, "") << since;
        EXPECT_FALSE(s.content_length) << "RFC 9110 §8.6: no Content-Length on 304";
        EXPECT_EQ(header_of(s.headers, "Last-Modified"), imf_date(1'000'000'000));
        EXPECT_EQ(header_of(s.headers, "Content-Type"), std::nullopt);
    }
    // HEAD too.
    EXPECT_EQ(serve("HEAD", {{"HTTP_IF_MODIFIED_SINCE", imf_date(1'000'000'000)}}).status, 304);
}

TEST_F(SendFile, AnOlderOrMalformedIfModifiedSinceIsIgnored) {
    for (const std::string& since :
         {imf_date(999'999'999), std::string("garbage"), std::string("12"), std::string(""),
          imf_date(1'000'000'000) + " junk", std::string("Mon, 09 Sep 2001 01:46:40 GMT"),
          std::string("Sun, 09 Sep 2001 01:46:40 +0200"), std::string("2001-09-09T01:46:40Z"),
          std::string("Sun, 32 Sep 2001 01:46:40 GMT")}) {
        const RecordingSink s = serve("GET", {{"HTTP_IF_MODIFIED_SINCE", since}});
        EXPECT_EQ(s.status, 200) << since;
        EXPECT_EQ(s.body, content_) << since;
    }
    // RFC 9110 §13.1.3: ignored beside If-None-Match, and for POST.
    EXPECT_EQ(serve("GET", {{"HTTP_IF_MODIFIED_SINCE", imf_date(1'000'000'000)},
                            {"HTTP_IF_NONE_MATCH", "\"x\""}})
                  .status,
              200);
    EXPECT_EQ(serve("POST", {{"HTTP_IF_MODIFIED_SINCE", imf_date(1'000'000'000)}}).status, 200);
}

TEST_F(SendFile, DatesKeptFromTheLastRequestNeverAnswerTheNextOne) {
    // Each thread keeps the last date it formatted and the last
    // If-Modified-Since it read: answers in turn, on one thread, must be
    // those of each request alone.
    for (int round = 0; round < 2; ++round) {
        EXPECT_EQ(serve("GET", {{"HTTP_IF_MODIFIED_SINCE", imf_date(1'000'000'000)}}).status, 304);
        EXPECT_EQ(serve("GET", {{"HTTP_IF_MODIFIED_SINCE", "garbage"}}).status, 200);
        EXPECT_EQ(serve("GET", {{"HTTP_IF_MODIFIED_SINCE", imf_date(999'999'999)}}).status, 200);
        EXPECT_EQ(serve("GET", {{"HTTP_IF_MODIFIED_SINCE", imf_date(1'000'000'000)}}).status, 304);
        EXPECT_EQ(serve("GET", {{"HTTP_IF_MODIFIED_SINCE", imf_date(1'000'000'000)}}).status, 304);
    }
    // The file changes: its new date, and the old If-Modified-Since no
    // longer holds.
    set_mtime(file_, 1'100'000'000);
    const RecordingSink s = serve("GET", {{"HTTP_IF_MODIFIED_SINCE", imf_date(1'000'000'000)}});
    EXPECT_EQ(s.status, 200);
    EXPECT_EQ(header_of(s.headers, "Last-Modified"), imf_date(1'100'000'000));
    set_mtime(file_, 1'000'000'000);
    EXPECT_EQ(header_of(serve("GET").headers, "Last-Modified"), imf_date(1'000'000'000));
}

TEST_F(SendFile, HeadSendsTheLengthAndNeverReadsTheFile) {
    RecordingSink s = serve("HEAD");
    EXPECT_EQ(s.status, 200);
    EXPECT_TRUE(s.head_only);
    ASSERT_TRUE(s.content_length);
    EXPECT_EQ(*s.content_length, 1000u);
    EXPECT_EQ(s.body, "");
    // RFC 9110 §14.2: Range is for GET only.
    s = serve("HEAD", {{"HTTP_RANGE", "bytes=0-9"}});
    EXPECT_EQ(s.status, 200);
    EXPECT_EQ(*s.content_length, 1000u);
}

TEST(WriteFile, OnHeadSendsTheDeclaredLengthWithoutTouchingTheDescriptor) {
    RecordingSink sink;
    Response res(sink, true);
    res.set_header("Content-Length", "1073741824");
    // -1: any read would throw (EBADF).
    EXPECT_TRUE(res.write_file(-1, 0, 1073741824));
    EXPECT_TRUE(res.finish());
    EXPECT_EQ(*sink.content_length, 1073741824u);
    EXPECT_EQ(sink.body, "");
    EXPECT_EQ(sink.aborts, 0);
}

TEST_F(SendFile, OtherMethodsGetTheWholeFileWithoutRanges) {
    const RecordingSink s = serve("POST", {{"HTTP_RANGE", "bytes=0-9"}});
    EXPECT_EQ(s.status, 200);
    EXPECT_EQ(s.body, content_);
}

TEST_F(SendFile, AStatusTheCallbackSetIsKeptWithTheWholeFile) {
    const RecordingSink s = serve("GET", {{"HTTP_RANGE", "bytes=0-9"}}, {}, {}, 404);
    EXPECT_EQ(s.status, 404);
    EXPECT_EQ(s.body, content_);
}

TEST_F(SendFile, ALengthTheCallbackDeclaredIsReplaced) {
    for (const char* range : {"", "bytes=0-9", "bytes=5000-"}) {
        Environ env{{"REQUEST_METHOD", "GET"}};
        if (range[0] != '\0')
            env.emplace_back("HTTP_RANGE", range);
        StringBody body("");
        Request req("http", std::move(env), body);
        RecordingSink sink;
        Response res(sink, false);
        res.header("Content-Length", "3");
        res.send_file(req, file_);
        EXPECT_TRUE(res.finish()) << range;
        EXPECT_EQ(*sink.content_length, sink.body.size()) << range;
        EXPECT_EQ(sink.aborts, 0) << range;
    }
}

TEST_F(SendFile, TypeFromOptionsFromTheCallbackOrFromTheExtension) {
    EXPECT_EQ(header_of(serve("GET", {}, {}, {"application/x-thing", ""}).headers, "Content-Type"),
              "application/x-thing");
    const std::pair<const char*, const char*> cases[] = {
        {"a.html", "text/html"},
        {"a.css", "text/css"},
        {"a.js", "text/javascript"},
        {"a.json", "application/json"},
        {"A.PNG", "image/png"},
        {"a.jpg", "image/jpeg"},
        {"a.gif", "image/gif"},
        {"a.svg", "image/svg+xml"},
        {"a.pdf", "application/pdf"},
        {"a.wasm", "application/wasm"},
        {"a.zip", "application/zip"},
        {"a.tar.gz", "application/gzip"},
        {"a.mp4", "video/mp4"},
        {"a.webm", "video/webm"},
        {"a.woff2", "font/woff2"},
        {"a.xml", "application/xml"},
        {"a.bin", "application/octet-stream"},
        {"noext", "application/octet-stream"},
        {".hidden", "application/octet-stream"},
        {"dir.d/file", "application/octet-stream"},
    };
    for (const auto& [name, type] : cases) {
        const std::string path = dir_.write(name, "x");
        EXPECT_EQ(header_of(serve("GET", {}, path).headers, "Content-Type"), type) << name;
    }
    // A Content-Type the callback set stays.
    StringBody body("");
    Request req("http", {{"REQUEST_METHOD", "GET"}}, body);
    RecordingSink sink;
    Response res(sink, false);
    res.header("Content-Type", "text/plain; charset=iso-8859-1");
    res.header("Cache-Control", "max-age=60");
    res.send_file(req, file_);
    res.finish();
    EXPECT_EQ(header_of(sink.headers, "Content-Type"), "text/plain; charset=iso-8859-1");
    EXPECT_EQ(header_of(sink.headers, "Cache-Control"), "max-age=60");
}

TEST_F(SendFile, DownloadNameIsQuotedAndEncodedAsRfc6266Says) {
    auto disposition = [&](std::string name) {
        return header_of(serve("GET", {}, {}, {"", std::move(name)}).headers,
                         "Content-Disposition");
    };
    EXPECT_EQ(disposition("report.pdf"), "attachment; filename=\"report.pdf\"");
    EXPECT_EQ(disposition("a \"b\" \\c.txt"), "attachment; filename=\"a \\\"b\\\" \\\\c.txt\"");
    EXPECT_EQ(disposition("r\xC3\xA9sum\xC3\xA9 1.pdf"),
              "attachment; filename=\"r__sum__ 1.pdf\"; "
              "filename*=UTF-8''r%C3%A9sum%C3%A9%201.pdf");
    // CR and LF never reach the header.
    EXPECT_EQ(disposition("a\r\nSet-Cookie: x=1"),
              "attachment; filename=\"a__Set-Cookie: x=1\"; "
              "filename*=UTF-8''a%0D%0ASet-Cookie%3A%20x%3D1");
}

TEST_F(SendFile, AnEmptyFileIs200WithLengthZero) {
    const std::string empty = dir_.write("empty.txt", "");
    for (const char* range : {"", "bytes=0-", "bytes=-0"}) {
        const RecordingSink s =
            serve("GET", range[0] ? Environ{{"HTTP_RANGE", range}} : Environ{}, empty);
        EXPECT_EQ(s.status, 200) << range;
        EXPECT_EQ(*s.content_length, 0u);
        EXPECT_EQ(s.body, "");
    }
}

TEST_F(SendFile, AMissingFileOrADirectoryOrAFifoIs404) {
    ASSERT_EQ(::mkfifo((dir_.path() / "fifo").c_str(), 0600), 0);
    fs::create_directories(dir_.path() / "sub");
    for (const fs::path& p : {dir_.path() / "missing.txt", dir_.path() / "sub",
                              dir_.path() / "fifo", dir_.path() / "doc.txt" / "x"}) {
        StringBody body("");
        Request req("http", {{"REQUEST_METHOD", "GET"}}, body);
        RecordingSink sink;
        Response res(sink, false);
        try {
            res.send_file(req, p.string());
            ADD_FAILURE() << p << " was served";
        } catch (const RequestError& e) {
            EXPECT_EQ(e.status(), 404) << p;
        }
        EXPECT_EQ(sink.heads, 0) << "nothing sent: the barrier answers the status";
    }
}

TEST_F(SendFile, AnUnreadableFileIs403) {
    if (::geteuid() == 0)
        GTEST_SKIP() << "root opens any file; EACCES cannot happen";
    const std::string locked = dir_.write("locked.txt", "secret");
    ASSERT_EQ(::chmod(locked.c_str(), 0), 0);
    StringBody body("");
    Request req("http", {{"REQUEST_METHOD", "GET"}}, body);
    RecordingSink sink;
    Response res(sink, false);
    try {
        res.send_file(req, locked);
        ADD_FAILURE() << "served";
    } catch (const RequestError& e) {
        EXPECT_EQ(e.status(), 403);
    }
}

TEST_F(SendFile, AfterTheBodyWasStartedIsALogicError) {
    StringBody body("");
    Request req("http", {{"REQUEST_METHOD", "GET"}}, body);
    RecordingSink sink;
    Response res(sink, false);
    res.write("x");
    EXPECT_THROW(res.send_file(req, file_), std::logic_error);
}

TEST_F(SendFile, TheDescriptorIsClosedOnEveryPath) {
    // The lowest free descriptor is reused by the next open: the same
    // number before and after means nothing leaked.
    auto next_fd = [] {
        const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        ::close(fd);
        return fd;
    };
    const int before = next_fd();
    serve("GET");
    serve("HEAD");
    serve("GET", {{"HTTP_RANGE", "bytes=0-1"}});
    serve("GET", {{"HTTP_RANGE", "bytes=5000-"}});
    serve("GET", {{"HTTP_IF_MODIFIED_SINCE", imf_date(1'000'000'000)}});
    {
        StringBody body("");
        Request req("http", {{"REQUEST_METHOD", "GET"}}, body);
        RecordingSink sink;
        sink.gone = true;
        Response res(sink, false);
        res.send_file(req, file_);
    }
    EXPECT_EQ(next_fd(), before);
}

// --- End to end: a real gateway, the adapters' sinks ----------------------------

/// A response read back over any of the protocols, headers included.
struct Reply {
    int status = 0;
    std::map<std::string, std::string> headers;  ///< lowercased names
    std::string body;
    bool complete = false;

    std::optional<std::string> header(const std::string& name) const {
        auto it = headers.find(name);
        return it == headers.end() ? std::nullopt : std::optional(it->second);
    }
};

std::string lower(std::string s) {
    for (char& c : s)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

/// The protocols whose sinks this suite covers: HTTP, SCGI and uwsgi write
/// the body raw (sendfile), FastCGI frames it (the default, read and sent).
class FilesEndToEnd : public testing::TestWithParam<std::string> {
  protected:
    static void SetUpTestSuite() {
        dir_ = new TempDir;
        big_ = test::deterministic_bytes(8 << 20, 11);  // 8 MiB
        dir_->write("public/big.bin", big_);
        dir_->write("public/small.txt", "small file\n");
        dir_->write("secret.txt", "TOP SECRET\n");
        root_ = (dir_->path() / "public").string();
        gateway_ = new test::InProcessGateway({"http", "fastcgi", "scgi", "uwsgi"});
        gateway_->app().extra = [](Request& req, Response& res) {
            const std::string_view path = req.path_info();
            if (path.rfind("/files/", 0) == 0) {
                // The caller pattern: a path from the request, checked.
                auto file = path_under(root_, path.substr(6));
                if (!file)
                    throw RequestError(404, "no such file");
                res.send_file(req, *file);
                return true;
            }
            if (path == "/download") {
                // A name from the query string (raw: no escapes in these
                // tests), checked the same way.
                std::string_view name = req.query_string();
                if (name.rfind("name=", 0) != 0)
                    throw RequestError(400, "no name");
                auto file = path_under(root_, name.substr(5));
                if (!file)
                    throw RequestError(404, "no such file");
                res.send_file(req, *file);
                return true;
            }
            if (path == "/declared") {
                // The HEAD handler: a declared length, no body.
                res.header("Content-Type", "application/octet-stream");
                res.header("Content-Length", "1073741824");
                if (req.method() != "HEAD")
                    res.write("short");
                return true;
            }
            return false;
        };
        gateway_->start();
    }
    static void TearDownTestSuite() {
        delete gateway_;
        gateway_ = nullptr;
        delete dir_;
        dir_ = nullptr;
    }

    Reply exchange(const std::string& method, const std::string& target,
                   const std::vector<std::pair<std::string, std::string>>& headers = {}) {
        const std::string& protocol = GetParam();
        test::SocketClient c(gateway_->address(protocol));
        Reply reply;
        if (protocol == "http") {
            EXPECT_TRUE(c.send(test::http1::request(method, target, {}, headers, false)));
            test::http1::ResponseReader reader(c);
            auto r = reader.next(method == "HEAD", std::chrono::milliseconds(10000));
            if (!r)
                return reply;
            reply.status = r->status;
            reply.headers = r->headers;
            reply.body = r->body;
            reply.complete = r->complete;
            return reply;
        }
        test::ProtocolRequest pr;
        pr.method = method;
        pr.target = target;
        pr.headers = headers;
        pr.keep = false;
        EXPECT_TRUE(c.send(test::ProtocolClient(protocol).encode(pr)));
        std::string out;
        if (protocol == "fastcgi") {
            test::fcgi::ResponseReader reader(c);
            const test::fcgi::Response& r = reader.read_all(std::chrono::milliseconds(10000));
            reply.complete = r.ended;
            out = r.out;
        } else {
            out = c.recv_until_close(std::chrono::milliseconds(10000));
            reply.complete = c.closed();
        }
        // uwsgi answers with an HTTP/1.1 status line, the others with CGI's
        // "Status:" header.
        int status_line = 0;
        if (protocol == "uwsgi" && out.rfind("HTTP/1.1 ", 0) == 0 && out.size() > 12) {
            status_line = std::stoi(out.substr(9, 3));
            out.erase(0, out.find("\r\n") + 2);
        }
        const test::fcgi::CgiResponse cgi = test::fcgi::parse_cgi(out);
        reply.status = status_line != 0 ? status_line : cgi.status;
        reply.body = cgi.body;
        for (const auto& [k, v] : cgi.headers)
            reply.headers[lower(k)] = v;
        return reply;
    }

    /// The gateway still serves a good request.
    void expect_still_serving() {
        const Reply r = exchange("GET", "/app/files/small.txt");
        EXPECT_EQ(r.status, 200);
        EXPECT_EQ(r.body, "small file\n");
    }

    static TempDir* dir_;
    static std::string big_;
    static std::string root_;
    static test::InProcessGateway* gateway_;
};

TempDir* FilesEndToEnd::dir_ = nullptr;
std::string FilesEndToEnd::big_;
std::string FilesEndToEnd::root_;
test::InProcessGateway* FilesEndToEnd::gateway_ = nullptr;

TEST_P(FilesEndToEnd, TheWholeFileArrivesByteForByte) {
    const std::uint64_t before = sendfile_bytes();
    const Reply r = exchange("GET", "/app/files/big.bin");
    EXPECT_EQ(r.status, 200);
    EXPECT_TRUE(r.complete);
    EXPECT_EQ(r.header("content-length"), std::to_string(big_.size()));
    EXPECT_EQ(r.header("content-type"), "application/octet-stream");
    EXPECT_EQ(r.header("accept-ranges"), "bytes");
    EXPECT_TRUE(r.header("last-modified"));
    ASSERT_EQ(r.body.size(), big_.size());
    EXPECT_TRUE(r.body == big_) << "the bytes differ";
    // HTTP, SCGI and uwsgi write the body raw: the kernel sent it (sendfile(2),
    // counted by core/send_all.cpp); FastCGI frames it, so it was read.
    const std::uint64_t by_sendfile = sendfile_bytes() - before;
    if (GetParam() == "fastcgi")
        EXPECT_EQ(by_sendfile, 0u);
    else
        EXPECT_EQ(by_sendfile, big_.size());
}

TEST_P(FilesEndToEnd, OneRangeIs206WithTheRightBytes) {
    Reply r = exchange("GET", "/app/files/big.bin", {{"Range", "bytes=1000000-3999999"}});
    EXPECT_EQ(r.status, 206);
    EXPECT_EQ(r.header("content-range"), "bytes 1000000-3999999/" + std::to_string(big_.size()));
    EXPECT_EQ(r.header("content-length"), "3000000");
    EXPECT_TRUE(r.body == big_.substr(1000000, 3000000)) << "the bytes differ";

    r = exchange("GET", "/app/files/big.bin", {{"Range", "bytes=-100"}});
    EXPECT_EQ(r.status, 206);
    EXPECT_EQ(r.body, big_.substr(big_.size() - 100));
    expect_still_serving();
}

TEST_P(FilesEndToEnd, ARangePastTheEndAndBytesMinusZeroAre416) {
    for (const char* range : {"bytes=8388608-", "bytes=99999999-100000000", "bytes=-0"}) {
        const Reply r = exchange("GET", "/app/files/big.bin", {{"Range", range}});
        EXPECT_EQ(r.status, 416) << range;
        EXPECT_EQ(r.header("content-range"), "bytes */8388608") << range;
        EXPECT_LT(r.body.size(), 100u) << range;
    }
    expect_still_serving();
}

TEST_P(FilesEndToEnd, AMalformedRangeIsTheWholeFile) {
    const Reply r = exchange("GET", "/app/files/small.txt", {{"Range", "bytes=9-2"}});
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "small file\n");
    expect_still_serving();
}

TEST_P(FilesEndToEnd, IfModifiedSinceIs304WithoutBody) {
    const Reply first = exchange("GET", "/app/files/small.txt");
    ASSERT_TRUE(first.header("last-modified"));
    const Reply r = exchange("GET", "/app/files/small.txt",
                             {{"If-Modified-Since", *first.header("last-modified")}});
    EXPECT_EQ(r.status, 304);
    EXPECT_EQ(r.body, "");
    EXPECT_EQ(r.header("content-length"), std::nullopt);
    expect_still_serving();
}

TEST_P(FilesEndToEnd, HeadHasTheFileLengthAndNoBody) {
    const Reply r = exchange("HEAD", "/app/files/big.bin");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("content-length"), std::to_string(big_.size()));
    EXPECT_EQ(r.body, "");
    expect_still_serving();
}

TEST_P(FilesEndToEnd, AMissingFileIs404) {
    const Reply r = exchange("GET", "/app/files/nothing-here.txt");
    EXPECT_EQ(r.status, 404);
    expect_still_serving();
}

TEST_P(FilesEndToEnd, DotDotInAnyDisguiseNeverLeavesTheRoot) {
    // The gateway removes dot segments ("%2e" decoded) before routing, and
    // refuses a "%2F" that would make one once decoded; a path taken from
    // elsewhere (the query here) is path_under()'s to refuse.
    const std::pair<const char*, int> cases[] = {
        {"/app/files/../secret.txt", 404},          // -> /app/secret.txt: not under /files
        {"/app/files/%2e%2e/secret.txt", 404},      // the same, escaped
        {"/app/files/.%2E/secret.txt", 404},        // mixed
        {"/app/files/%252e%252e/secret.txt", 404},  // "%2e%2e" is a name: no such file
        {"/app/files/..%2Fsecret.txt", 400},        // refused by the gateway
        {"/app/files/%2e%2e%2fsecret.txt", 400},    // the same, all escaped
        {"/app/files/..%2f..%2fsecret.txt", 400},   // two levels
        {"/app/../../secret.txt", 400},             // climbs above "/"
        {"/app/download?name=../secret.txt", 404},  // path_under refuses
        {"/app/download?name=a/../../secret.txt", 404},
        {"/app/download?name=/../secret.txt", 404},
    };
    for (const auto& [target, status] : cases) {
        const Reply r = exchange("GET", target);
        EXPECT_EQ(r.status, status) << target;
        EXPECT_EQ(r.body.find("TOP SECRET"), std::string::npos) << target;
        expect_still_serving();
    }
    // The query route serves what is under the root.
    const Reply r = exchange("GET", "/app/download?name=small.txt");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "small file\n");
}

TEST_P(FilesEndToEnd, HeadSendsADeclaredLengthAndAMismatchedBodyIs500) {
    Reply r = exchange("HEAD", "/app/declared");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("content-length"), "1073741824");
    EXPECT_EQ(r.body, "");
    // GET writes 5 bytes against a declared 1 GiB: the callback's error.
    r = exchange("GET", "/app/declared");
    EXPECT_EQ(r.status, 500);
    EXPECT_NE(r.header("content-length"), "1073741824");
    expect_still_serving();
}

INSTANTIATE_TEST_SUITE_P(Protocols, FilesEndToEnd,
                         testing::Values("http", "fastcgi", "scgi", "uwsgi"),
                         [](const auto& info) { return info.param; });

// A client that goes away in the middle of a sendfile(2) frees the worker,
// and the gateway serves the next request.
TEST(FilesOverHttp, AClientGoneMidFileDoesNotHoldTheGateway) {
    TempDir dir;
    const std::string big = test::deterministic_bytes(32 << 20, 3);  // 32 MiB
    const std::string path = dir.write("big.bin", big);
    test::InProcessGateway gateway({"http"});
    std::atomic<int> done{0};
    std::atomic<bool> gone{false};
    gateway.app().extra = [&](Request& req, Response& res) {
        if (req.path_info() != "/big")
            return false;
        res.send_file(req, path);
        gone = res.client_gone();
        ++done;
        return true;
    };
    gateway.start();
    {
        test::SocketClient c(gateway.address());
        ASSERT_TRUE(c.send(test::http1::request("GET", "/app/big")));
        ASSERT_FALSE(c.recv_some().empty());
    }  // closed with most of the file unsent
    ASSERT_TRUE(test::wait_until([&] { return done.load() == 1; }, std::chrono::seconds(10)));
    EXPECT_TRUE(gone.load()) << "send_file saw the client go";
    test::SocketClient c(gateway.address());
    ASSERT_TRUE(c.send(test::http1::request("GET", "/app/hello")));
    test::http1::ResponseReader reader(c);
    auto r = reader.next();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
}

}  // namespace
}  // namespace postern
