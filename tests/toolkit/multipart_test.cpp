// Tests of gateway/src/toolkit/multipart.cpp (postern::Multipart, Part)
// and gateway/src/toolkit/body_stream.cpp (Request::body): in memory over a
// BodySource, byte by byte (every truncation point of a valid body), and
// over real sockets to an in-process gateway on every socket protocol (a
// client gone mid-part).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "ajp_client.hpp"
#include "fcgi_client.hpp"
#include "in_process_gateway.hpp"
#include "postern/postern.hpp"
#include "process.hpp"
#include "protocol_client.hpp"
#include "scgi_client.hpp"
#include "uwsgi_client.hpp"
#include "wait.hpp"

namespace postern {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr const char* kType = "multipart/form-data; boundary=XyZ";

// ------------------------------------------------------------ body sources

/// `data` in pieces of `piece` bytes, then the end of the body.
class StringBody : public BodySource {
  public:
    explicit StringBody(std::string data, std::size_t piece = 7)
        : data_(std::move(data)), piece_(piece) {}
    std::size_t read(char* buffer, std::size_t size) override {
        const std::size_t n = std::min({size, piece_, data_.size() - pos_});
        data_.copy(buffer, n, pos_);
        pos_ += n;
        return n;
    }

  private:
    std::string data_;
    std::size_t piece_;
    std::size_t pos_ = 0;
};

/// `data` in pieces, then what the gateway's adapters do when the client
/// goes away before the declared length: RequestError(400), and again on
/// every later read (GuardedBody).
class GoneBody : public BodySource {
  public:
    explicit GoneBody(std::string data, std::size_t piece = 7, int status = 400)
        : data_(std::move(data)), piece_(piece), status_(status) {}
    std::size_t read(char* buffer, std::size_t size) override {
        if (pos_ == data_.size())
            throw RequestError(status_,
                               "client closed the connection before the end of the "
                               "request body");
        const std::size_t n = std::min({size, piece_, data_.size() - pos_});
        data_.copy(buffer, n, pos_);
        pos_ += n;
        return n;
    }

  private:
    std::string data_;
    std::size_t piece_;
    int status_;
    std::size_t pos_ = 0;
};

Environ environ_for(std::string content_type) {
    return {{"REQUEST_METHOD", "POST"},
            {"SCRIPT_NAME", "/app"},
            {"PATH_INFO", "/upload"},
            {"CONTENT_TYPE", std::move(content_type)}};
}

// -------------------------------------------------------------- the bodies

struct PartSpec {
    std::string name;
    std::string filename;  ///< "" for a field
    std::string type;      ///< "" for none (text/plain)
    std::string content;
};

std::string part_head(const PartSpec& p) {
    std::string head = "Content-Disposition: form-data; name=\"" + p.name + "\"";
    if (!p.filename.empty())
        head += "; filename=\"" + p.filename + "\"";
    head += "\r\n";
    if (!p.type.empty())
        head += "Content-Type: " + p.type + "\r\n";
    return head + "\r\n";
}

std::string multipart(const std::vector<PartSpec>& parts, const std::string& boundary = "XyZ") {
    std::string body;
    for (const auto& p : parts)
        body += "--" + boundary + "\r\n" + part_head(p) + p.content + "\r\n";
    return body + "--" + boundary + "--\r\n";
}

/// Content that looks like the delimiter without being it, across the
/// places a scanner may go wrong.
std::string tricky_content() {
    // Never "\r\n--XyZ" itself: RFC 2046 §5.1.1 forbids the delimiter inside
    // a part, and the reader refuses what follows it then.
    return "line one\r\n--Xy\r\n-\r\n-XyZ\r\r\n\r--XyZ" + std::string(300, 'q') +
           "\r\n--X\r\n\n--XyZ\r\n\r-\r\n-";
}

const std::vector<PartSpec>& sample_parts() {
    static const std::vector<PartSpec> parts = {
        {"title", "", "", "Hello, world"},
        {"file", "a b.bin", "application/octet-stream", tricky_content()},
        {"empty", "", "text/csv", ""},
    };
    return parts;
}

struct Seen {
    std::string name, filename, type, content;
};

/// Reads every part whole through Part::read in `chunk`-byte reads.
std::vector<Seen> read_all_parts(Multipart& mp, std::size_t chunk = 5) {
    std::vector<Seen> out;
    while (Part* p = mp.next()) {
        Seen s{
            std::string(p->name()), std::string(p->filename()), std::string(p->content_type()), {}};
        std::string buf(chunk, '\0');
        while (std::size_t n = p->read(buf.data(), chunk))
            s.content.append(buf.data(), n);
        out.push_back(std::move(s));
    }
    return out;
}

int status_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const RequestError& e) {
        return e.status();
    }
    return 0;
}

// ------------------------------------------------------------- good bodies

TEST(Multipart, ReadsFieldsAndFilesInOrder) {
    StringBody body(multipart(sample_parts()));
    Request req("http", environ_for(kType), body);
    Multipart mp(req);
    const auto seen = read_all_parts(mp);
    ASSERT_EQ(seen.size(), 3u);
    EXPECT_EQ(seen[0].name, "title");
    EXPECT_EQ(seen[0].filename, "");
    EXPECT_EQ(seen[0].type, "text/plain");  // RFC 7578 §4.4
    EXPECT_EQ(seen[0].content, "Hello, world");
    EXPECT_EQ(seen[1].name, "file");
    EXPECT_EQ(seen[1].filename, "a b.bin");
    EXPECT_EQ(seen[1].type, "application/octet-stream");
    EXPECT_EQ(seen[1].content, tricky_content());
    EXPECT_EQ(seen[2].type, "text/csv");
    EXPECT_EQ(seen[2].content, "");
    EXPECT_EQ(mp.next(), nullptr);  // and stays at the end
}

TEST(Multipart, HeadersAreCaseInsensitiveAndQuotedParametersDecoded) {
    StringBody body(
        "--XyZ\r\ncontent-disposition: form-data; name=\"a;b\"; filename=\"x\\\"y.txt\"\r\n"
        "X-Extra:  spaced \r\n\r\nv\r\n--XyZ--");
    Request req("http", environ_for("Multipart/Form-Data; boundary=\"XyZ\""), body);
    Multipart mp(req);
    Part* p = mp.next();
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p->name(), "a;b");
    EXPECT_EQ(p->filename(), "x\"y.txt");
    EXPECT_EQ(p->header("x-extra"), "spaced");  // Poco trims the value
    EXPECT_EQ(p->header("CONTENT-DISPOSITION").value_or("").substr(0, 9), "form-data");
    EXPECT_FALSE(p->header("X-Missing").has_value());
    EXPECT_EQ(p->text(), "v");
    EXPECT_EQ(mp.next(), nullptr);
}

TEST(Multipart, PreambleEpilogueAndTransportPaddingAreAllowed) {
    StringBody body("This is a preamble.\r\n--XyZ \t\r\n" + part_head({"a", "", "", ""}) +
                    "one\r\n--XyZ\r\n" + part_head({"b", "", "", ""}) +
                    "two\r\n--XyZ--\r\nan epilogue\r\n");
    Request req("http", environ_for(kType), body);
    Multipart mp(req);
    const auto seen = read_all_parts(mp);
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[0].content, "one");
    EXPECT_EQ(seen[1].content, "two");
}

TEST(Multipart, NextSkipsTheUnreadRestOfAPart) {
    const std::string big(300 * 1024, 'z');
    StringBody body(multipart({{"big", "b.bin", "", big}, {"after", "", "", "tail"}}), 4096);
    Request req("http", environ_for(kType), body);
    Multipart mp(req);
    Part* p = mp.next();
    ASSERT_NE(p, nullptr);
    char buf[3];
    EXPECT_EQ(p->read(buf, 3), 3u);
    p = mp.next();
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p->name(), "after");
    EXPECT_EQ(p->text(), "tail");
    EXPECT_EQ(mp.next(), nullptr);
}

TEST(Multipart, LongLinesWithoutCrlfStreamThroughTheFixedBuffer) {
    // 3 MiB without a single CRLF, in pieces that do not divide the buffer.
    std::string content(3 * 1024 * 1024 + 17, '\0');
    for (std::size_t i = 0; i < content.size(); ++i)
        content[i] = static_cast<char>((i * 2654435761u) >> 13);
    for (char& c : content)
        if (c == '\n')
            c = 'n';
    StringBody body(multipart({{"f", "f.bin", "", content}}), 65521);
    Request req("http", environ_for(kType), body);
    Multipart mp(req);
    const auto seen = read_all_parts(mp, 100000);
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_TRUE(seen[0].content == content);
}

TEST(Multipart, TextRefusesAPartOverItsLimit) {
    StringBody body(multipart({{"a", "", "", std::string(100, 'x')}}));
    Request req("http", environ_for(kType), body);
    Multipart mp(req);
    Part* p = mp.next();
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(status_of([&] { p->text(99); }), 413);

    StringBody exact(multipart({{"a", "", "", std::string(100, 'x')}}));
    Request req2("http", environ_for(kType), exact);
    Multipart mp2(req2);
    EXPECT_EQ(mp2.next()->text(100), std::string(100, 'x'));
}

// --------------------------------------------------- Content-Type refusals

TEST(Multipart, RefusesAnotherContentTypeWith415) {
    for (const char* type : {"application/x-www-form-urlencoded", "", "multipart/mixed; boundary=a",
                             "text/plain; boundary=XyZ"}) {
        StringBody body(multipart(sample_parts()));
        Request req("http", environ_for(type), body);
        EXPECT_EQ(status_of([&] { Multipart mp(req); }), 415) << type;
    }
}

TEST(Multipart, RefusesAContentTypeWithoutABoundaryWith400) {
    for (const char* type :
         {"multipart/form-data", "multipart/form-data;",
          "multipart/form-data; boundary=", "multipart/form-data; charset=utf-8",
          "multipart/form-data; boundary=\"\"", "multipart/form-data; boundary=a\x01z"}) {
        StringBody body(multipart(sample_parts()));
        Request req("http", environ_for(type), body);
        EXPECT_EQ(status_of([&] { Multipart mp(req); }), 400) << type;
    }
    {
        StringBody body(multipart(sample_parts()));
        Request req("http", environ_for(std::string("multipart/form-data; boundary=X\0yZ", 34)),
                    body);
        EXPECT_EQ(status_of([&] { Multipart mp(req); }), 400) << "a NUL in the boundary";
    }
    const std::string long_boundary(71, 'b');  // RFC 2046 §5.1.1: at most 70
    StringBody body(multipart(sample_parts(), long_boundary));
    Request req("http", environ_for("multipart/form-data; boundary=" + long_boundary), body);
    EXPECT_EQ(status_of([&] { Multipart mp(req); }), 400);
}

// ------------------------------------------------------------- bad bodies

/// Parses `body` whole; the status of the RequestError it threw (0: none).
int parse_status(const std::string& body, std::size_t max_parts = 1000) {
    StringBody source(body);
    Request req("http", environ_for(kType), source);
    return status_of([&] {
        Multipart mp(req, max_parts);
        read_all_parts(mp);
    });
}

TEST(Multipart, RefusesABodyWithNoBoundaryLine) {
    EXPECT_EQ(parse_status(""), 400);
    EXPECT_EQ(parse_status("just some text, no boundary at all\r\n"), 400);
    EXPECT_EQ(parse_status("--XyZa\r\n" + part_head({"a", "", "", ""}) + "x\r\n--XyZa--"), 400);
    // A preamble over 16 KiB.
    EXPECT_EQ(parse_status(std::string(20000, 'p') + "\r\n" + multipart(sample_parts())), 400);
}

TEST(Multipart, RefusesAMissingFinalBoundary) {
    const std::string good = multipart(sample_parts());
    const std::string without_final =
        good.substr(0, good.size() - std::string("--XyZ--\r\n").size());
    EXPECT_EQ(parse_status(without_final), 400);  // ends with the last part's CRLF
    EXPECT_EQ(parse_status(without_final + "--XyZ"), 400);
    EXPECT_EQ(parse_status(without_final + "--XyZ\r\n"), 400);  // a part that never comes
    EXPECT_EQ(parse_status(without_final + "--XyZ-"), 400);
    EXPECT_EQ(parse_status(good), 0);
    EXPECT_EQ(parse_status(good.substr(0, good.size() - 2)), 0);  // "--XyZ--" ends it
}

TEST(Multipart, RefusesAPartWithNoHeaders) {
    EXPECT_EQ(parse_status("--XyZ\r\n\r\nno headers\r\n--XyZ--\r\n"), 400);
    const std::string second = "--XyZ\r\n" + part_head({"a", "", "", ""}) +
                               "first\r\n--XyZ\r\n\r\nno headers\r\n--XyZ--\r\n";
    EXPECT_EQ(parse_status(second), 400);
}

TEST(Multipart, RefusesMalformedHeaderBlocks) {
    auto with_headers = [](const std::string& headers) {
        return "--XyZ\r\n" + headers + "\r\nx\r\n--XyZ--\r\n";
    };
    EXPECT_EQ(parse_status(with_headers("no colon on this line\r\n")), 400);
    EXPECT_EQ(parse_status(with_headers(": no name\r\n")), 400);
    EXPECT_EQ(parse_status(with_headers(" folded: before any header\r\n")), 400);
    EXPECT_EQ(parse_status(with_headers("A: one\r\n two\r\n")), 0);  // folding after one
    EXPECT_EQ(parse_status(with_headers("A: bare\nLF\r\n")), 400);
    EXPECT_EQ(parse_status(with_headers(std::string("A: N\0L\r\n", 8))), 400);
    // Over 16 KiB, as one long line without CRLF and as many lines.
    EXPECT_EQ(parse_status(with_headers("X-Long: " + std::string(17000, 'a') + "\r\n")), 400);
    EXPECT_EQ(parse_status("--XyZ\r\nX-Long: " + std::string(100000, 'a')), 400);
    std::string many;
    for (int i = 0; i < 2000; ++i)
        many += "X-" + std::to_string(i) + ": v\r\n";
    EXPECT_EQ(parse_status(with_headers(many)), 400);
    // Poco's own limits: 100 fields, names of 256 bytes.
    std::string hundred_one;
    for (int i = 0; i < 101; ++i)
        hundred_one += "X-" + std::to_string(i) + ": v\r\n";
    EXPECT_EQ(parse_status(with_headers(hundred_one)), 400);
    EXPECT_EQ(parse_status(with_headers(std::string(300, 'N') + ": v\r\n")), 400);
    // The body ends inside the header block.
    EXPECT_EQ(parse_status("--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n"), 400);
}

TEST(Multipart, RefusesGarbageAfterABoundaryAndBareLfDelimiters) {
    EXPECT_EQ(parse_status("--XyZ\r\n" + part_head({"a", "", "", ""}) + "x\r\n--XyZ?\r\n"), 400);
    EXPECT_EQ(parse_status("--XyZ" + std::string(100, ' ') + "\r\n" + part_head({"a", "", "", ""}) +
                           "x\r\n--XyZ--"),
              400);  // padding over 64 bytes
    // Bare LF is not a delimiter (RFC 2046 §5.1.1: CRLF): no final boundary.
    EXPECT_EQ(parse_status("--XyZ\nContent-Disposition: form-data; name=\"a\"\n\nx\n--XyZ--\n"),
              400);
}

TEST(Multipart, RefusesMoreThanMaxParts) {
    std::vector<PartSpec> parts(5, PartSpec{"p", "", "", "v"});
    EXPECT_EQ(parse_status(multipart(parts), 5), 0);
    EXPECT_EQ(parse_status(multipart(parts), 4), 400);
}

TEST(Multipart, AFailedReaderStaysFailedAndItsPartStaysReadable) {
    StringBody body("--XyZ\r\n" + part_head({"a", "", "", ""}) + "cut short");
    Request req("http", environ_for(kType), body);
    Multipart mp(req);
    Part* p = mp.next();
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(status_of([&] { p->text(); }), 400);
    EXPECT_EQ(p->name(), "a");  // still valid after the failure
    EXPECT_EQ(status_of([&] { mp.next(); }), 400);
    char c;
    EXPECT_EQ(status_of([&] { p->read(&c, 1); }), 400);
}

// ------------------------------------------- every truncation of a body

/// Parses `body` (which may be a truncation of `full_parts`'s body) with
/// reads of `chunk` bytes. A part whose read() said "end" must be whole; the
/// parse as a whole must either give every part or throw RequestError.
void check_prefix(const std::string& prefix, bool whole, std::size_t piece, std::size_t chunk,
                  bool gone) {
    SCOPED_TRACE("pieces of " + std::to_string(piece) + ", reads of " + std::to_string(chunk) +
                 (gone ? ", client gone" : ", clean end"));
    const auto& expected = sample_parts();
    std::unique_ptr<BodySource> source;
    if (gone)
        source = std::make_unique<GoneBody>(prefix, piece);
    else
        source = std::make_unique<StringBody>(prefix, piece);
    Request req("http", environ_for(kType), *source);
    std::size_t complete = 0;
    try {
        Multipart mp(req);
        while (Part* p = mp.next()) {
            ASSERT_LT(complete, expected.size());
            const PartSpec& want = expected[complete];
            EXPECT_EQ(p->name(), want.name);
            std::string got;
            std::string buf(chunk, '\0');
            while (std::size_t n = p->read(buf.data(), chunk))
                got.append(buf.data(), n);
            ASSERT_EQ(got, want.content)
                << "part " << complete << " reported complete but short, prefix of "
                << prefix.size() << " bytes";
            ++complete;
        }
        EXPECT_TRUE(whole) << "a prefix of " << prefix.size() << " bytes parsed as complete";
        EXPECT_EQ(complete, expected.size());
    } catch (const RequestError& e) {
        EXPECT_FALSE(whole) << "the whole body refused: " << e.what();
        EXPECT_EQ(e.status(), 400) << e.what();
    }
}

TEST(Multipart, EveryTruncationEitherParsesWholeOrThrows) {
    const std::string body = multipart(sample_parts());
    // The shortest body that is whole: up to and including "--XyZ--".
    const std::size_t whole_from = body.size() - 2;
    for (std::size_t len = 0; len <= body.size(); ++len) {
        SCOPED_TRACE("prefix of " + std::to_string(len) + " bytes");
        const std::string prefix = body.substr(0, len);
        for (std::size_t piece : {std::size_t{1}, std::size_t{7}, body.size()}) {
            check_prefix(prefix, len >= whole_from, piece, 3, false);
            check_prefix(prefix, len >= whole_from, piece, 4096, false);
        }
        // The client gone at that byte: the adapter throws instead of an
        // end. After "--XyZ--" the parse is whole: nothing more is read.
        check_prefix(prefix, len >= whole_from, 7, 4096, true);
        if (HasFailure())
            return;  // one prefix's failures say enough
    }
}

// -------------------------------------------------------------- save_to

class SaveTo : public ::testing::Test {
  protected:
    /// The names in the directory (temporary files included: they start
    /// with '.').
    std::vector<std::string> entries() const {
        std::vector<std::string> out;
        for (const auto& e : fs::directory_iterator(dir_.path()))
            out.push_back(e.path().filename().string());
        std::sort(out.begin(), out.end());
        return out;
    }

    test::TempDir dir_{"postern-multipart"};
};

TEST_F(SaveTo, WritesThePartAndLeavesNoTemporaryFile) {
    StringBody body(multipart(sample_parts()), 1000);
    Request req("http", environ_for(kType), body);
    Multipart mp(req);
    ASSERT_NE(mp.next(), nullptr);
    Part* p = mp.next();
    ASSERT_NE(p, nullptr);
    const std::string target = dir_.file("saved.bin");
    EXPECT_EQ(p->save_to(target), tricky_content().size());
    EXPECT_EQ(test::read_file(target), tricky_content());
    EXPECT_EQ(entries(), std::vector<std::string>{"saved.bin"});
    struct stat st {};
    ASSERT_EQ(::stat(target.c_str(), &st), 0);
    const mode_t mask = ::umask(022);
    ::umask(mask);
    EXPECT_EQ(st.st_mode & 0777, 0666 & ~mask);  // as a plain open would make it
    ASSERT_NE(mp.next(), nullptr);
    EXPECT_EQ(mp.next(), nullptr);
}

TEST_F(SaveTo, AClientGoneMidPartLeavesNothing) {
    const std::string body = multipart(sample_parts());
    const std::string target = dir_.file("file.bin");
    const std::size_t file_starts = body.find(tricky_content());
    // Every cut inside the file part's content and its closing delimiter.
    for (std::size_t cut = file_starts; cut < body.find("--XyZ\r\n", file_starts) + 7; ++cut) {
        for (bool gone : {true, false}) {
            std::unique_ptr<BodySource> source;
            if (gone)
                source = std::make_unique<GoneBody>(body.substr(0, cut), 5);
            else
                source = std::make_unique<StringBody>(body.substr(0, cut), 5);
            Request req("http", environ_for(kType), *source);
            Multipart mp(req);
            ASSERT_NE(mp.next(), nullptr);
            Part* p = mp.next();
            ASSERT_NE(p, nullptr);
            EXPECT_EQ(status_of([&] { p->save_to(target); }), 400) << "cut at " << cut;
            EXPECT_TRUE(entries().empty()) << "cut at " << cut;
        }
    }
}

TEST_F(SaveTo, KeepsTheBodysStatusAndAnExistingFile) {
    // 413 from the gateway's limit passes on as 413; a file already at the
    // target stays as it was.
    const std::string target = dir_.file("file.bin");
    test::write_file(target, "old");
    const std::string body = multipart(sample_parts());
    GoneBody source(body.substr(0, body.find(tricky_content()) + 10), 7, 413);
    Request req("http", environ_for(kType), source);
    Multipart mp(req);
    mp.next();
    Part* p = mp.next();
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(status_of([&] { p->save_to(target); }), 413);
    EXPECT_EQ(test::read_file(target), "old");
    EXPECT_EQ(entries(), std::vector<std::string>{"file.bin"});
}

TEST_F(SaveTo, ADiskErrorThrowsSystemErrorAndLeavesNothing) {
    StringBody body(multipart(sample_parts()));
    Request req("http", environ_for(kType), body);
    Multipart mp(req);
    Part* p = mp.next();
    ASSERT_NE(p, nullptr);
    EXPECT_THROW(p->save_to(dir_.file("no/such/dir/x")), std::system_error);
    // The target is a directory: the rename fails after the content was
    // written, and the temporary file goes.
    const std::string sub = dir_.subdir("a-directory");
    fs::create_directory(sub + "/inside");
    EXPECT_THROW(p->save_to(sub), std::system_error);
    EXPECT_EQ(entries(), std::vector<std::string>{"a-directory"});
}

// ---------------------------------------------------- Request::body()

TEST(BodyStream, ReadsTheWholeBody) {
    std::string data(100000, '\0');
    for (std::size_t i = 0; i < data.size(); ++i)
        data[i] = static_cast<char>(i % 251);
    StringBody body(data, 999);
    Request req("http", environ_for("application/octet-stream"), body);
    std::istream& in = req.body();
    EXPECT_EQ(&in, &req.body());  // one stream per request
    char head[10];
    in.read(head, 10);
    std::string rest((std::istreambuf_iterator<char>(in)), {});
    EXPECT_EQ(std::string(head, 10) + rest, data);
    EXPECT_EQ(in.get(), std::char_traits<char>::eof());
    EXPECT_TRUE(in.eof());
    EXPECT_FALSE(in.bad());
}

TEST(BodyStream, LargeReadsGoStraightThrough) {
    const std::string data(200000, 'r');
    StringBody body(data, 70000);
    Request req("http", environ_for("application/octet-stream"), body);
    std::string got(data.size() + 10, '\0');
    req.body().read(got.data(), static_cast<std::streamsize>(got.size()));
    EXPECT_EQ(req.body().gcount(), static_cast<std::streamsize>(data.size()));
    EXPECT_TRUE(req.body().eof());
    got.resize(data.size());
    EXPECT_EQ(got, data);
}

TEST(BodyStream, ABodyCutShortThrowsFromEveryKindOfRead) {
    const std::string data = "line one\nline two\nline thr";
    using Reader = std::function<void(std::istream&)>;
    const std::vector<std::pair<const char*, Reader>> readers = {
        {"getline",
         [](std::istream& in) {
             std::string line;
             while (std::getline(in, line)) {
             }
         }},
        {"read",
         [](std::istream& in) {
             char buf[1000];
             in.read(buf, sizeof(buf));
         }},
        {"get",
         [](std::istream& in) {
             while (in.get() != std::char_traits<char>::eof()) {
             }
         }},
        {"operator>>", [](std::istream& in) {
             std::string word;
             while (in >> word) {
             }
         }}};
    for (const auto& [what, reader] : readers) {
        for (int status : {400, 408, 413}) {
            GoneBody body(data, 5, status);
            Request req("http", environ_for("text/plain"), body);
            std::istream& in = req.body();
            try {
                reader(in);
                ADD_FAILURE() << what << ": a body cut short read as a clean end of file";
            } catch (const RequestError& e) {
                EXPECT_EQ(e.status(), status) << what;
            }
            EXPECT_TRUE(in.bad()) << what;
        }
    }
}

TEST(BodyStream, AfterItThrewTheStreamStaysBad) {
    GoneBody body("x", 1);
    Request req("http", environ_for("text/plain"), body);
    std::istream& in = req.body();
    EXPECT_EQ(in.get(), 'x');
    EXPECT_EQ(status_of([&] { in.get(); }), 400);
    EXPECT_THROW(in.get(), std::ios_base::failure);  // never a clean end either
}

TEST(BodyStream, CopyingIntoAnOstreamFailsTheOstream) {
    // out << in.rdbuf() catches what the input throws and sets failbit on
    // the *output* stream ([ostream.inserters]): not a clean end either.
    GoneBody body("some of it", 3);
    Request req("http", environ_for("text/plain"), body);
    std::ostringstream out;
    out << req.body().rdbuf();
    EXPECT_TRUE(out.fail());
}

// ---------------------------------- over a real socket: a client gone

/// What the /upload callback of the in-process gateway did.
struct UploadLog {
    std::mutex mutex;
    std::condition_variable cv;
    bool part_started = false;
    std::vector<int> outcomes;  ///< 200 or the RequestError's status

    void started() {
        std::lock_guard lock(mutex);
        part_started = true;
        cv.notify_all();
    }
    void finished(int status) {
        std::lock_guard lock(mutex);
        outcomes.push_back(status);
        cv.notify_all();
    }
    bool wait(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
        std::unique_lock lock(mutex);
        return cv.wait_for(lock, timeout, done);
    }
};

const std::string kUploadType = "multipart/form-data; boundary=----postern7MA4YWxk";

std::string upload_body(std::size_t file_bytes) {
    std::string content(file_bytes, '\0');
    for (std::size_t i = 0; i < content.size(); ++i)
        content[i] = static_cast<char>('a' + i % 26);
    return multipart({{"note", "", "", "hi"}, {"upload", "u.bin", "", content}},
                     "----postern7MA4YWxk");
}

/// The request for /app/upload in `protocol`, cut after `cut` body bytes
/// (all of them when cut >= body.size()).
std::string upload_request(const std::string& protocol, const std::string& body, std::size_t cut) {
    const std::string target = "/app/upload";
    const std::string part = body.substr(0, std::min(cut, body.size()));
    if (protocol == "http")
        return "POST " + target +
               " HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: " + kUploadType +
               "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + part;
    if (protocol == "fastcgi") {
        test::fcgi::Params params = test::fcgi::cgi_params("POST", target);
        for (auto& [name, value] : params) {
            if (name == "CONTENT_LENGTH")
                value = std::to_string(body.size());
            if (name == "CONTENT_TYPE")
                value = kUploadType;
        }
        const std::string head =
            test::fcgi::begin_request(1, false) + test::fcgi::params_stream(1, params);
        // Records of 4 KiB (nginx sends its buffers' worth): the gateway
        // takes the request once its first STDIN record is whole.
        const std::string stdin_stream = test::fcgi::stdin_stream(1, body, 4096);
        // Cut inside the records, as a front end that goes away does.
        return head + (cut >= body.size() ? stdin_stream : stdin_stream.substr(0, cut));
    }
    if (protocol == "ajp") {
        test::ProtocolRequest r;
        r.method = "POST";
        r.target = target;
        r.body = body;
        r.headers = {{"Content-Type", kUploadType}};
        // The first body packet, sent unasked; the rest only when asked.
        return test::ProtocolClient("ajp").head(r) +
               test::ajp::body_packet(part.substr(0, test::ajp::kMaxBodyChunk));
    }
    const test::scgi::Params extra = {{"CONTENT_TYPE", kUploadType}};
    if (protocol == "scgi")
        return test::scgi::netstring(test::scgi::cgi_params("POST", target, body.size(), extra)) +
               part;
    return test::uwsgi::packet(test::uwsgi::cgi_params("POST", target, body.size(), extra)) + part;
}

class ClientGoneMidPart : public ::testing::TestWithParam<std::string> {};

TEST_P(ClientGoneMidPart, LeavesNothingAndTheNextUploadSucceeds) {
    const std::string protocol = GetParam();
    test::TempDir dir("postern-multipart-gone");
    const std::string target = dir.file("upload");
    auto log = std::make_shared<UploadLog>();

    test::InProcessGateway gateway({protocol});
    gateway.app().extra = [log, dir = dir.path()](Request& req, Response& res) {
        if (req.path_info() != "/upload")
            return false;
        try {
            Multipart mp(req);
            std::uint64_t saved = 0;
            while (Part* p = mp.next()) {
                log->started();
                if (p->filename().empty())
                    p->text();
                else
                    saved += p->save_to(dir + "/" + std::string(p->name()));
            }
            log->finished(200);
            res.write("saved " + std::to_string(saved) + "\n");
        } catch (const RequestError& e) {
            log->finished(e.status());
            throw;
        }
        return true;
    };
    gateway.start();

    // Over kMaxCollectedBody (64 KiB), so the callback starts before the
    // body is all here. 6 KiB of it sent (inside the first AJP packet);
    // FastCGI collects the first 64 KiB of a body before the callback
    // starts, so 96 KiB there.
    const std::string big = upload_body(512 * 1024);
    const std::size_t cut = protocol == "fastcgi" ? 96 * 1024 : 6 * 1024;
    {
        test::SocketClient c = gateway.connect(protocol);
        ASSERT_TRUE(c.send(upload_request(protocol, big, cut)));
        ASSERT_TRUE(log->wait([&] { return log->part_started; }, 10s))
            << "the callback never reached the first part";
    }  // the client goes away mid-part
    ASSERT_TRUE(log->wait([&] { return !log->outcomes.empty(); }, 10s))
        << "the callback did not finish after the client went away";
    {
        std::lock_guard lock(log->mutex);
        EXPECT_EQ(log->outcomes.front(), 400) << protocol;
    }
    EXPECT_FALSE(fs::exists(target));
    EXPECT_TRUE(fs::is_empty(dir.path())) << "a temporary file was left behind";

    // The next good upload on the same gateway.
    const std::string good = upload_body(4000);
    test::SocketClient c = gateway.connect(protocol);
    ASSERT_TRUE(c.send(upload_request(protocol, good, good.size())));
    const test::ProtocolReply reply = test::ProtocolClient(protocol).read(c, 10s);
    EXPECT_EQ(reply.status, 200) << reply.error;
    EXPECT_EQ(reply.body, "saved 4000\n");
    std::string expected(4000, '\0');
    for (std::size_t i = 0; i < expected.size(); ++i)
        expected[i] = static_cast<char>('a' + i % 26);
    EXPECT_EQ(test::read_file(target), expected);
    EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

INSTANTIATE_TEST_SUITE_P(EveryProtocol, ClientGoneMidPart,
                         ::testing::Values("http", "fastcgi", "ajp", "scgi", "uwsgi"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace postern
