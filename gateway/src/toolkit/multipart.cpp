// Postern toolkit: multipart/form-data (RFC 7578 over RFC 2046 §5.1),
// streamed part by part from Request::read through one fixed buffer.
//
// Why not Poco::Net::MultipartReader: checked with Poco 1.11 (Debian 12),
// its part stream cannot say whether a part ended at its boundary or where
// the body ended. A body cut short mid-part (a client gone), or with no
// final boundary, reads as a clean end of the part and then of the body
// (hasNextPart() turns false); a body that ends inside a delimiter gives a
// "complete" part ending in "\r\n--X" plus a 0xFF byte (it stores the
// end-of-file value as a character); a bare LF counts as a line end, a CR
// before a delimiter is kept in the content after a near-miss, and a part
// without headers or with a header line without a colon is accepted
// silently. A saved upload would be truncated without anyone knowing, the
// bug that issue 14 reports. So the boundary scanner is our own, small, and
// strict; Poco's MessageHeader still parses each part's header block (with
// its own limits: 100 fields, names of 256 bytes, values of 8 KiB) and
// splits Content-Disposition's parameters.
#include "postern/multipart.hpp"

#include <Poco/Net/MessageHeader.h>
#include <Poco/Net/NameValueCollection.h>
#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>

#include "postern/postern.hpp"

namespace postern {
namespace {

// The buffer every byte of the body passes through: the memory a Multipart
// holds, whatever the sizes of the parts.
constexpr std::size_t kBufferBytes = 64 * 1024;
// A part's header block, CRLFs included (the contract in multipart.hpp).
constexpr std::size_t kMaxHeaderBytes = 16 * 1024;
// Bytes before the first boundary (RFC 2046 §5.1.1 allows a preamble;
// browsers send none).
constexpr std::size_t kMaxPreambleBytes = 16 * 1024;
// RFC 2046 §5.1.1: a boundary is 1 to 70 characters.
constexpr std::size_t kMaxBoundary = 70;
// Linear white space allowed between a boundary and its CRLF (§5.1.1
// "transport-padding").
constexpr std::size_t kMaxPadding = 64;

static_assert(kMaxHeaderBytes + 4 < kBufferBytes && kMaxBoundary + 8 < kBufferBytes);

bool iequals(std::string_view a, std::string_view b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
        auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; };
        return lower(x) == lower(y);
    });
}

// RFC 2046 §5.1.1 bchars: DIGIT / ALPHA / "'()+_,-./:=?" and space, not last.
bool valid_boundary(std::string_view b) {
    if (b.empty() || b.size() > kMaxBoundary || b.back() == ' ')
        return false;
    return std::all_of(b.begin(), b.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               (c != '\0' && std::strchr("'()+_,-./:=? ", c) != nullptr);
    });
}

// The boundary of a multipart/form-data Content-Type; 415 for another type,
// 400 for no (or a malformed) boundary.
std::string boundary_of(std::string_view content_type) {
    std::string type;
    Poco::Net::NameValueCollection params;
    Poco::Net::MessageHeader::splitParameters(std::string(content_type), type, params);
    if (!iequals(type, "multipart/form-data"))
        throw RequestError(415, "request body is \"" + std::string(content_type.substr(0, 100)) +
                                    "\", not multipart/form-data");
    const std::string boundary = params.get("boundary", "");
    if (boundary.empty())
        throw RequestError(400, "multipart/form-data Content-Type without a boundary parameter");
    if (!valid_boundary(boundary))
        throw RequestError(400,
                           "multipart/form-data boundary is not 1 to 70 characters of RFC 2046 "
                           "§5.1.1");
    return boundary;
}

// RFC 9110 §5.6.2 tchar: what a header name is made of.
bool is_token_char(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != '\0' && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr);
}

// Checks the header block's lines before Poco parses it: Poco drops a line
// without a colon and takes a bare CR or LF as a line end; both mean a
// body that is not what it claims to be.
void check_header_block(std::string_view block, std::size_t part) {
    const std::string where = "header block of multipart part " + std::to_string(part);
    std::size_t at = 0;
    while (at < block.size()) {
        const std::size_t eol = block.find("\r\n", at);  // the block ends with CRLF
        const std::string_view line = block.substr(at, eol - at);
        if (line.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos)
            throw RequestError(400, "a bare CR, LF or NUL in the " + where);
        // A continuation line (obsolete folding) only after a header line.
        const bool folded = at > 0 && !line.empty() && (line[0] == ' ' || line[0] == '\t');
        if (!folded) {
            const std::size_t colon = line.find(':');
            if (colon == 0 || colon == std::string_view::npos ||
                !std::all_of(line.begin(), line.begin() + static_cast<std::ptrdiff_t>(colon),
                             is_token_char))
                throw RequestError(400, "a line without a header name and colon in the " + where);
        }
        at = eol + 2;
    }
}

// Removes a temporary file unless it was renamed into place.
class TempFile {
  public:
    TempFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
    ~TempFile() {
        close();
        if (!kept_)
            ::unlink(path_.c_str());
    }
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;

    int fd() const noexcept { return fd_; }
    const std::string& path() const noexcept { return path_; }
    int close() noexcept {
        int rc = 0;
        if (fd_ >= 0)
            rc = ::close(fd_);
        fd_ = -1;
        return rc;
    }
    void keep() noexcept { kept_ = true; }

  private:
    int fd_;
    std::string path_;
    bool kept_ = false;
};

[[noreturn]] void throw_errno(const std::string& what) {
    throw std::system_error(errno, std::generic_category(), what);
}

// Creates ".NAME.XXXXXX" beside `path` (same directory, so the rename is
// atomic), O_EXCL, mode 0666 less the umask, as a plain open would make
// `path` itself (mkstemp would make it 0600).
TempFile create_beside(const std::string& path) {
    const auto slash = path.rfind('/');
    const std::string dir = slash == std::string::npos ? std::string() : path.substr(0, slash + 1);
    std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
    base.resize(std::min<std::size_t>(base.size(), 200));  // room in NAME_MAX for the suffix
    static constexpr char kAlphabet[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    for (int attempt = 0; attempt < 100; ++attempt) {
        unsigned char random[6];
        if (::getrandom(random, sizeof(random), 0) != static_cast<ssize_t>(sizeof(random)))
            throw_errno("getrandom for a temporary file beside " + path);
        std::string name = dir + "." + base + ".";
        for (unsigned char r : random)
            name += kAlphabet[r % (sizeof(kAlphabet) - 1)];
        const int fd = ::open(name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0)
            return TempFile(fd, std::move(name));
        if (errno != EEXIST)
            throw_errno("creating a temporary file beside " + path);
    }
    throw std::system_error(EEXIST, std::generic_category(),
                            "creating a temporary file beside " + path);
}

void write_all(int fd, const char* data, std::size_t size, const std::string& path) {
    while (size > 0) {
        const ssize_t n = ::write(fd, data, size);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            throw_errno("writing " + path);
        }
        data += n;
        size -= static_cast<std::size_t>(n);
    }
}

// After the rename: the directory entry on disk too. Best effort: the file
// is in place already, and a failure here must not report it missing.
void sync_directory_of(const std::string& path) {
    const auto slash = path.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        ::fsync(fd);
        ::close(fd);
    }
}

}  // namespace

// ------------------------------------------------------------------ Impl

// The scanner. The body is seen through buffer_[begin_, end_); content is
// handed out up to `safe_`, the first byte that may start the delimiter
// "\r\n--BOUNDARY", which is searched for once per buffer fill (a
// Boyer-Moore-Horspool search; the delimiter is 5 to 74 bytes).
class Multipart::Impl {
  public:
    Impl(Request& req, std::size_t max_parts);
    Part* next();
    std::size_t read_content(char* out, std::size_t n);
    std::size_t part_number() const noexcept { return parts_; }

  private:
    enum class State { start, headers, content, done, failed };
    class PartImpl;

    // Body bytes in the buffer.
    std::size_t available() const noexcept { return end_ - begin_; }
    // Reads more of the body after what is buffered; false at its end.
    bool fill();
    // At least `n` bytes buffered, or false at the end of the body.
    bool need(std::size_t n);
    // Runs `step` and marks the reader failed when it throws.
    template <class Step>
    auto guarded(Step&& step) -> decltype(step());
    void find_first_boundary();
    // After "--BOUNDARY": "--" ends the body, padding and CRLF start a part.
    void after_boundary();
    void read_headers();
    // Sets safe_ and found_ for the buffered bytes.
    void scan();
    [[noreturn]] void fail(const std::string& why);

    Request& req_;
    std::size_t max_parts_;
    std::string delimiter_;  // "\r\n--" + boundary
    std::boyer_moore_horspool_searcher<std::string::const_iterator> searcher_;
    std::unique_ptr<char[]> buffer_;
    std::size_t begin_ = 0, end_ = 0;
    std::size_t safe_ = 0;  // content bytes end here (absolute index)
    bool found_ = false;    // the delimiter starts at safe_
    State state_ = State::start;
    std::size_t parts_ = 0;
    std::unique_ptr<PartImpl> part_;
};

class Multipart::Impl::PartImpl final : public Part {
  public:
    PartImpl(Impl& reader, Poco::Net::MessageHeader headers)
        : reader_(reader), headers_(std::move(headers)) {
        content_type_ = headers_.get("Content-Type", "text/plain");  // RFC 7578 §4.4
        if (headers_.has("Content-Disposition")) {
            std::string disposition;
            Poco::Net::NameValueCollection params;
            Poco::Net::MessageHeader::splitParameters(headers_.get("Content-Disposition"),
                                                      disposition, params);
            name_ = params.get("name", "");
            filename_ = params.get("filename", "");
        }
    }

    std::string_view name() const noexcept override { return name_; }
    std::string_view filename() const noexcept override { return filename_; }
    std::string_view content_type() const noexcept override { return content_type_; }
    std::optional<std::string_view> header(std::string_view name) const override {
        const auto it = headers_.find(std::string(name));
        if (it == headers_.end())
            return std::nullopt;
        return std::string_view(it->second);
    }

    std::size_t read(char* buffer, std::size_t n) override {
        return reader_.read_content(buffer, n);
    }

    std::string text(std::size_t limit) override {
        std::string out;
        char buf[16 * 1024];
        for (;;) {
            const std::size_t n = read(buf, sizeof(buf));
            if (n == 0)
                return out;
            if (n > limit - out.size())
                throw RequestError(413, "multipart part \"" + name_.substr(0, 100) +
                                            "\" longer than " + std::to_string(limit) + " bytes");
            out.append(buf, n);
        }
    }

    std::uint64_t save_to(const std::string& path) override {
        TempFile temp = create_beside(path);
        std::uint64_t written = 0;
        auto buf = std::make_unique<char[]>(kBufferBytes);
        // Throws RequestError when the part is cut short: the TempFile goes.
        while (const std::size_t n = read(buf.get(), kBufferBytes)) {
            write_all(temp.fd(), buf.get(), n, temp.path());
            written += n;
        }
        // The part ended at its boundary. Make the content durable before
        // the name points at it, so that a crash never leaves a short file
        // at `path`.
        if (::fsync(temp.fd()) != 0)
            throw_errno("fsync of " + temp.path());
        if (temp.close() != 0)
            throw_errno("closing " + temp.path());
        if (::rename(temp.path().c_str(), path.c_str()) != 0)
            throw_errno("renaming " + temp.path() + " to " + path);
        temp.keep();
        sync_directory_of(path);
        return written;
    }

  private:
    Impl& reader_;
    Poco::Net::MessageHeader headers_;
    std::string name_, filename_, content_type_;
};

Multipart::Impl::Impl(Request& req, std::size_t max_parts)
    : req_(req),
      max_parts_(max_parts),
      delimiter_("\r\n--" + boundary_of(req.content_type())),
      searcher_(delimiter_.begin(), delimiter_.end()),
      buffer_(std::make_unique<char[]>(kBufferBytes)) {}

void Multipart::Impl::fail(const std::string& why) {
    throw RequestError(400, why);
}

template <class Step>
auto Multipart::Impl::guarded(Step&& step) -> decltype(step()) {
    if (state_ == State::failed)
        throw RequestError(400, "the multipart body already failed");
    try {
        return step();
    } catch (...) {
        // A RequestError from the body (the client went away: 400, too slow:
        // 408, over the limit: 413) passes on as it is.
        // The Part stays valid (the caller may still ask its name), as
        // multipart.hpp promises, until next() or the end of the Multipart.
        state_ = State::failed;
        throw;
    }
}

bool Multipart::Impl::fill() {
    if (begin_ > 0) {
        std::memmove(buffer_.get(), buffer_.get() + begin_, end_ - begin_);
        end_ -= begin_;
        safe_ -= std::min(safe_, begin_);
        begin_ = 0;
    }
    if (end_ == kBufferBytes)
        return true;  // full: callers never need more than a buffer
    const std::size_t n = req_.read(buffer_.get() + end_, kBufferBytes - end_);
    end_ += n;
    return n > 0;
}

bool Multipart::Impl::need(std::size_t n) {
    while (available() < n)
        if (!fill())
            return false;
    return true;
}

void Multipart::Impl::find_first_boundary() {
    // The body starts with "--BOUNDARY" (the delimiter without its CRLF),
    // or with a preamble and then the delimiter.
    const std::string_view dash_boundary = std::string_view(delimiter_).substr(2);
    if (!need(dash_boundary.size()))
        fail("multipart body ended before its first boundary");
    if (std::string_view(buffer_.get() + begin_, dash_boundary.size()) == dash_boundary) {
        begin_ += dash_boundary.size();
        return;
    }
    std::size_t skipped = 0;
    for (;;) {
        const char* from = buffer_.get() + begin_;
        const char* to = buffer_.get() + end_;
        const char* at = std::search(from, to, searcher_);
        if (at != to) {
            skipped += static_cast<std::size_t>(at - from);
            if (skipped > kMaxPreambleBytes)
                break;
            begin_ += static_cast<std::size_t>(at - from) + delimiter_.size();
            return;
        }
        // Keep what could be the start of a delimiter.
        const std::size_t keep = std::min(available(), delimiter_.size() - 1);
        skipped += available() - keep;
        if (skipped > kMaxPreambleBytes)
            break;
        begin_ = end_ - keep;
        if (!fill())
            fail("multipart body has no boundary line");
    }
    fail("no multipart boundary in the first " + std::to_string(kMaxPreambleBytes) +
         " bytes of the body");
}

void Multipart::Impl::after_boundary() {
    if (!need(2))
        fail("multipart body ended after a boundary, before \"--\" or CRLF (no final boundary)");
    if (buffer_[begin_] == '-' && buffer_[begin_ + 1] == '-') {
        begin_ += 2;
        state_ = State::done;  // the epilogue, if any, is left to the gateway
        return;
    }
    for (std::size_t padding = 0;; ++padding) {
        if (!need(2))
            fail("multipart body ended after a boundary, before its CRLF");
        const char c = buffer_[begin_];
        if (c == '\r' && buffer_[begin_ + 1] == '\n')
            break;
        if ((c != ' ' && c != '\t') || padding == kMaxPadding)
            fail("multipart boundary followed by something else than \"--\" or CRLF");
        ++begin_;
    }
    begin_ += 2;
    state_ = State::headers;
}

void Multipart::Impl::read_headers() {
    const std::size_t part = parts_ + 1;
    if (!need(2))
        fail("multipart body ended at the start of part " + std::to_string(part));
    if (buffer_[begin_] == '\r' && buffer_[begin_ + 1] == '\n')
        fail("multipart part " + std::to_string(part) +
             " has no headers (RFC 7578 §4.2: Content-Disposition is required)");
    std::size_t searched = 0;
    for (;;) {
        const std::string_view buffered(buffer_.get() + begin_, available());
        const auto end = buffered.find("\r\n\r\n", searched);
        if (end != std::string_view::npos) {
            if (end + 4 > kMaxHeaderBytes)
                break;
            const std::string_view block = buffered.substr(0, end + 2);
            check_header_block(block, part);
            Poco::Net::MessageHeader headers;
            try {
                std::istringstream in{std::string(block)};
                headers.read(in);
            } catch (const Poco::Exception& e) {
                fail("the header block of multipart part " + std::to_string(part) +
                     " is malformed: " + e.displayText());
            }
            if (++parts_ > max_parts_)
                fail("multipart body with more than " + std::to_string(max_parts_) + " parts");
            begin_ += end + 4;
            part_ = std::make_unique<PartImpl>(*this, std::move(headers));
            safe_ = begin_;
            found_ = false;
            state_ = State::content;
            return;
        }
        if (available() > kMaxHeaderBytes)
            break;
        searched = available() < 3 ? 0 : available() - 3;
        if (!fill())
            fail("multipart body ended in the headers of part " + std::to_string(part));
    }
    fail("the header block of multipart part " + std::to_string(part) + " is over " +
         std::to_string(kMaxHeaderBytes) + " bytes");
}

void Multipart::Impl::scan() {
    const char* from = buffer_.get() + begin_;
    const char* to = buffer_.get() + end_;
    const char* at = std::search(from, to, searcher_);
    if (at != to) {
        safe_ = begin_ + static_cast<std::size_t>(at - from);
        found_ = true;
        return;
    }
    // No whole delimiter: the content runs to the last CR that could start
    // one cut by the end of the buffer.
    const std::size_t tail = std::min(available(), delimiter_.size() - 1);
    const void* cr = std::memchr(to - tail, '\r', tail);
    safe_ = cr == nullptr ? end_
                          : static_cast<std::size_t>(static_cast<const char*>(cr) - buffer_.get());
    found_ = false;
}

std::size_t Multipart::Impl::read_content(char* out, std::size_t n) {
    return guarded([&]() -> std::size_t {
        if (state_ != State::content || n == 0)
            return 0;
        for (;;) {
            if (begin_ < safe_) {
                const std::size_t k = std::min(n, safe_ - begin_);
                std::memcpy(out, buffer_.get() + begin_, k);
                begin_ += k;
                return k;
            }
            if (found_) {
                // The part ends here. It is complete once what follows the
                // boundary is known to be well formed: until then read()
                // never answers 0, so save_to never renames.
                begin_ += delimiter_.size();
                found_ = false;
                after_boundary();
                return 0;
            }
            if (available() >= delimiter_.size()) {
                scan();
                if (begin_ < safe_ || found_)
                    continue;
            }
            if (!fill())
                fail("multipart body ended inside part " + std::to_string(parts_) +
                     " before its closing boundary");
            scan();
        }
    });
}

Part* Multipart::Impl::next() {
    return guarded([&]() -> Part* {
        if (state_ == State::content) {
            char skip[4096];
            while (read_content(skip, sizeof(skip)) > 0) {
            }
        }
        part_.reset();
        if (state_ == State::start) {
            find_first_boundary();
            after_boundary();
        }
        if (state_ == State::done)
            return nullptr;
        read_headers();
        return part_.get();
    });
}

// -------------------------------------------------------------- Multipart

Multipart::Multipart(Request& req, std::size_t max_parts)
    : impl_(std::make_unique<Impl>(req, max_parts)) {}

Multipart::~Multipart() = default;

Part* Multipart::next() {
    return impl_->next();
}

}  // namespace postern
