// Postern toolkit: Response::send_file, a file as the response: the type,
// the download name, Last-Modified and If-Modified-Since, one byte range,
// and the body through Response::write_file (sendfile where the adapter can).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <Poco/DateTime.h>
#include <Poco/DateTimeFormat.h>
#include <Poco/DateTimeFormatter.h>
#include <Poco/DateTimeParser.h>
#include <Poco/Timestamp.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "core/decimal.hpp"
#include "core/text.hpp"
#include "postern/postern.hpp"
#include "toolkit/byte_range.hpp"

namespace postern {

namespace {

// Optional whitespace (OWS, RFC 9110 §5.6.3) on both sides.
std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

}  // namespace

namespace toolkit {

ByteRange parse_byte_range(std::string_view header, std::uint64_t size) noexcept {
    ByteRange whole;
    // RFC 9110 §14.1.1: ranges-specifier = range-unit "=" range-set.
    const std::size_t eq = header.find('=');
    if (eq == std::string_view::npos || !iequals(trim(header.substr(0, eq)), "bytes"))
        return whole;
    std::string_view set = header.substr(eq + 1);
    // range-set = 1#range-spec; a recipient accepts empty list elements
    // (RFC 9110 §5.6.1.2). More than one range: the whole file, which
    // RFC 9110 §14.2 allows ("a server MAY ignore the Range header field").
    std::string_view spec;
    int specs = 0;
    while (!set.empty()) {
        const std::size_t comma = set.find(',');
        const std::string_view item = trim(set.substr(0, comma));
        set = comma == std::string_view::npos ? std::string_view() : set.substr(comma + 1);
        if (item.empty())
            continue;
        if (++specs > 1)
            return whole;
        spec = item;
    }
    const std::size_t dash = spec.find('-');
    if (specs == 0 || dash == std::string_view::npos || size == 0)
        return whole;
    const std::string_view first_text = spec.substr(0, dash);
    const std::string_view last_text = spec.substr(dash + 1);
    ByteRange r;
    if (first_text.empty()) {
        // suffix-range = "-" suffix-length (RFC 9110 §14.1.1).
        const auto suffix = parse_length(last_text);
        if (!suffix)
            return whole;
        if (*suffix == 0) {
            r.kind = ByteRange::Kind::unsatisfiable;
            return r;
        }
        r.kind = ByteRange::Kind::one;
        r.first = *suffix >= size ? 0 : size - *suffix;
        r.last = size - 1;
        return r;
    }
    const auto first = parse_length(first_text);
    if (!first)
        return whole;
    std::uint64_t last = size - 1;
    if (!last_text.empty()) {
        const auto parsed = parse_length(last_text);
        // An int-range is invalid when last-pos < first-pos (§14.1.1).
        if (!parsed || *parsed < *first)
            return whole;
        last = std::min(*parsed, size - 1);
    }
    if (*first >= size) {
        r.kind = ByteRange::Kind::unsatisfiable;
        return r;
    }
    r.kind = ByteRange::Kind::one;
    r.first = *first;
    r.last = last;
    return r;
}

}  // namespace toolkit

namespace {

struct MediaType {
    std::string_view extension;
    std::string_view type;
};

// The types a web application serves most; anything else is
// application/octet-stream (the caller can say otherwise: FileOptions).
// No charset: the gateway cannot know a text file's encoding.
constexpr MediaType kMediaTypes[] = {
    {"html", "text/html"},        {"htm", "text/html"},
    {"css", "text/css"},          {"js", "text/javascript"},  // RFC 9239
    {"mjs", "text/javascript"},   {"json", "application/json"},
    {"txt", "text/plain"},        {"csv", "text/csv"},
    {"md", "text/markdown"},      {"xml", "application/xml"},
    {"png", "image/png"},         {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},       {"gif", "image/gif"},
    {"svg", "image/svg+xml"},     {"webp", "image/webp"},
    {"avif", "image/avif"},       {"ico", "image/vnd.microsoft.icon"},
    {"pdf", "application/pdf"},   {"wasm", "application/wasm"},
    {"zip", "application/zip"},   {"gz", "application/gzip"},
    {"tar", "application/x-tar"}, {"mp3", "audio/mpeg"},
    {"ogg", "audio/ogg"},         {"mp4", "video/mp4"},
    {"webm", "video/webm"},       {"woff", "font/woff"},
    {"woff2", "font/woff2"},      {"ttf", "font/ttf"},
    {"otf", "font/otf"},
};

std::string_view guess_type(std::string_view path) noexcept {
    const std::size_t slash = path.rfind('/');
    const std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
    const std::size_t dot = name.rfind('.');
    if (dot != std::string_view::npos && dot > 0) {
        const std::string_view ext = name.substr(dot + 1);
        for (const MediaType& m : kMediaTypes)
            if (iequals(ext, m.extension))
                return m.type;
    }
    return "application/octet-stream";
}

// RFC 8187 §3.2.1: attr-char, what filename* carries unescaped.
bool attr_char(unsigned char c) noexcept {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return std::string_view("!#$&+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

// RFC 6266 §4.1: `attachment; filename="..."`, the quoted-string of RFC
// 9110 §5.6.4 with '"' and '\' escaped; a byte outside printable ASCII
// becomes '_' there (old clients read only that parameter), and the exact
// name goes in filename*=UTF-8''... (RFC 8187), which current browsers
// prefer (RFC 6266 §4.3).
std::string content_disposition(std::string_view name) {
    std::string out = "attachment; filename=\"";
    bool exact = true;
    for (unsigned char c : name) {
        if (c < 0x20 || c >= 0x7f) {
            exact = false;
            out += '_';
            continue;
        }
        if (c == '"' || c == '\\')
            out += '\\';
        out += static_cast<char>(c);
    }
    out += '"';
    if (!exact) {
        static constexpr char kHex[] = "0123456789ABCDEF";
        out += "; filename*=UTF-8''";
        for (unsigned char c : name) {
            if (attr_char(c)) {
                out += static_cast<char>(c);
            } else {
                out += '%';
                out += kHex[c >> 4];
                out += kHex[c & 0xf];
            }
        }
    }
    return out;
}

// The same file is sent again and again with the same modification time:
// each thread keeps the last date it formatted (Poco's formatter is a good
// part of a small file's cost otherwise).
const std::string& http_date(std::time_t t) {
    thread_local std::time_t last = -1;
    thread_local std::string text;
    if (t != last || text.empty()) {
        text = Poco::DateTimeFormatter::format(Poco::Timestamp::fromEpochTime(t),
                                               Poco::DateTimeFormat::HTTP_FORMAT);
        last = t;
    }
    return text;
}

// An HTTP-date (RFC 9110 §5.6.7) in any of its three forms, as seconds since
// the epoch; empty for anything else. Poco's parser skips what it does not
// expect ("garbage" reads as the year 0), so a value counts only when it
// is exactly how its date is written in the form it claims.
std::optional<std::time_t> parse_http_date_uncached(const std::string& value) {
    Poco::DateTime dt;
    int tzd = 0;
    if (!Poco::DateTimeParser::tryParse(value, dt, tzd) || tzd != 0)
        return std::nullopt;
    for (const char* form : {"%w, %d %b %Y %H:%M:%S GMT",  // IMF-fixdate
                             "%W, %d-%b-%y %H:%M:%S GMT",  // obsolete RFC 850
                             "%w %b %f %H:%M:%S %Y"}) {    // asctime
        if (Poco::DateTimeFormatter::format(dt, form) == value)
            return static_cast<std::time_t>(dt.timestamp().epochTime());
    }
    return std::nullopt;
}

std::optional<std::time_t> parse_http_date(std::string_view text) {
    // Clients revalidate with the date they were given: each thread keeps
    // the last answer.
    thread_local std::string last_text;
    thread_local std::optional<std::time_t> last_date;
    if (!last_text.empty() && text == last_text)
        return last_date;
    const std::string value(trim(text));
    last_text = text;
    last_date = parse_http_date_uncached(value);
    return last_date;
}

// The descriptor of the file being sent, closed on every way out.
class FileHandle {
  public:
    explicit FileHandle(int fd) noexcept : fd_(fd) {}
    ~FileHandle() {
        if (fd_ >= 0)
            ::close(fd_);
    }
    FileHandle(const FileHandle&) = delete;
    FileHandle& operator=(const FileHandle&) = delete;
    int get() const noexcept { return fd_; }

  private:
    int fd_;
};

}  // namespace

std::optional<std::string> path_under(std::string_view root, std::string_view path) {
    if (root.empty())
        return std::nullopt;
    std::string out(root);
    while (out.size() > 1 && out.back() == '/')
        out.pop_back();
    bool named = false;
    while (!path.empty()) {
        const std::size_t slash = path.find('/');
        const std::string_view segment = path.substr(0, slash);
        path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
        if (segment.empty())
            continue;
        if (segment == "." || segment == ".." || segment.find('\0') != std::string_view::npos)
            return std::nullopt;
        if (out.back() != '/')
            out += '/';
        out += segment;
        named = true;
    }
    if (!named)
        return std::nullopt;
    return out;
}

void Response::send_file(const Request& req, const std::string& path, const FileOptions& options) {
    if (committed_ || finished_ || !buffer_.empty())
        throw std::logic_error("send_file after the response body was started");

    // O_NONBLOCK: opening a FIFO for reading would wait for a writer. It is
    // cleared once the file is known to be a regular one (a non-blocking
    // source would make sendfile(2) give up on a slow socket).
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        const int error = errno;
        if (error == EACCES || error == EPERM)
            throw RequestError(403, "file " + path + " cannot be opened: " + std::strerror(error));
        if (error == ENOENT || error == ENOTDIR || error == ENAMETOOLONG || error == ELOOP)
            throw RequestError(404, "no file " + path + ": " + std::strerror(error));
        throw std::system_error(error, std::generic_category(), "opening " + path);
    }
    const FileHandle file(fd);
    struct stat st {};
    if (::fstat(fd, &st) != 0)
        throw std::system_error(errno, std::generic_category(), "fstat of " + path);
    if (!S_ISREG(st.st_mode))
        throw RequestError(404, path + " is not a regular file");
    // Of the flags F_SETFL changes, the open above set O_NONBLOCK alone.
    ::fcntl(fd, F_SETFL, 0);
    const auto size = static_cast<std::uint64_t>(st.st_size);

    // RFC 9110 §8.8.2.1: never a Last-Modified later than now.
    const std::time_t modified = std::min(st.st_mtim.tv_sec, std::time(nullptr));
    const std::string_view method = req.method();
    const bool get = method == "GET";
    const bool get_or_head = get || method == "HEAD";
    // A status the callback chose (an error page from a file) is kept, with
    // the whole file: conditions and ranges are for a plain 200.
    const bool plain = status_ == 200;

    if (!options.content_type.empty())
        set_header("Content-Type", options.content_type);
    else if (!get_header("Content-Type"))
        set_header("Content-Type", guess_type(path));
    if (!options.download_name.empty())
        set_header("Content-Disposition", content_disposition(options.download_name));
    set_header("Last-Modified", http_date(modified));
    set_header("Accept-Ranges", "bytes");

    // RFC 9110 §13.1.3: If-Modified-Since only for GET and HEAD, only
    // without If-None-Match, and only when it is a valid date.
    if (plain && get_or_head && !req.header("If-None-Match")) {
        if (auto since = req.header("If-Modified-Since")) {
            const auto date = parse_http_date(*since);
            if (date && modified <= *date) {
                // RFC 9110 §15.4.5: no content, and no representation
                // metadata beyond what guides a cache.
                status(304);
                std::erase_if(headers_, [](const auto& h) {
                    return iequals(h.first, "Content-Type") ||
                           iequals(h.first, "Content-Disposition");
                });
                return;
            }
        }
    }

    // RFC 9110 §14.2: Range only for GET; If-Range (§13.1.5) holds only a
    // date here (no ETag is sent), which must be Last-Modified exactly.
    toolkit::ByteRange range;
    if (plain && get) {
        if (auto header = req.header("Range")) {
            bool applies = true;
            if (auto if_range = req.header("If-Range")) {
                const auto date = parse_http_date(*if_range);
                applies = date && *date == modified;
            }
            if (applies)
                range = toolkit::parse_byte_range(*header, size);
        }
    }
    switch (range.kind) {
        case toolkit::ByteRange::Kind::unsatisfiable:
            // RFC 9110 §15.5.17.
            status(416);
            set_header("Content-Range", "bytes */" + std::to_string(size));
            set_header("Content-Type", "text/plain; charset=utf-8");
            std::erase_if(headers_,
                          [](const auto& h) { return iequals(h.first, "Content-Disposition"); });
            declared_length_.reset();  // one the callback set was for the file
            write("416 Range Not Satisfiable\n");
            return;
        case toolkit::ByteRange::Kind::one:
            status(206);
            set_header("Content-Range", "bytes " + std::to_string(range.first) + "-" +
                                            std::to_string(range.last) + "/" +
                                            std::to_string(size));
            set_header("Content-Length", std::to_string(range.length()));
            write_file(fd, range.first, range.length());
            return;
        case toolkit::ByteRange::Kind::whole:
            break;
    }
    set_header("Content-Length", std::to_string(size));
    write_file(fd, 0, size);
}

}  // namespace postern
