// Postern toolkit: the request body as a std::istream (Request::body).
//
// A std::streambuf over Request::read(). The point is what happens when the
// body goes wrong: Request::read throws RequestError when the client went
// away mid-body, the body is malformed or over the limit (every adapter
// does, through the core's GuardedBody), and the stream must pass that on.
// A std::istream catches whatever its streambuf throws and only sets
// badbit, so a parser that reads until "end of file" (std::getline,
// istreambuf_iterator loops, Poco's HTMLForm and MultipartReader) would see
// a clean end of a truncated body. The stream is therefore created with
// exceptions(badbit): the istream still sets badbit, then rethrows the
// streambuf's own exception, the RequestError with its status.
#include <algorithm>
#include <cstring>
#include <istream>
#include <memory>
#include <streambuf>

#include "postern/postern.hpp"

namespace postern {
namespace {

class BodyStreamBuf final : public std::streambuf {
  public:
    explicit BodyStreamBuf(Request& req) : req_(req) {}

  protected:
    int_type underflow() override {
        if (gptr() < egptr())
            return traits_type::to_int_type(*gptr());
        const std::size_t n = req_.read(buffer_, sizeof(buffer_));  // throws RequestError
        if (n == 0)
            return traits_type::eof();  // the body's real end: read() checked it
        setg(buffer_, buffer_, buffer_ + n);
        return traits_type::to_int_type(*gptr());
    }

    // std::istream::read and sgetn: what is buffered, then straight into the
    // caller's memory for the rest (no copy through buffer_ for big reads).
    std::streamsize xsgetn(char* out, std::streamsize count) override {
        std::streamsize done = 0;
        while (done < count) {
            if (gptr() < egptr()) {
                const auto n = std::min<std::streamsize>(count - done, egptr() - gptr());
                std::memcpy(out + done, gptr(), static_cast<std::size_t>(n));
                gbump(static_cast<int>(n));
                done += n;
                continue;
            }
            const auto want = static_cast<std::size_t>(count - done);
            if (want >= sizeof(buffer_)) {
                const std::size_t n = req_.read(out + done, want);
                if (n == 0)
                    break;
                done += static_cast<std::streamsize>(n);
            } else if (traits_type::eq_int_type(underflow(), traits_type::eof())) {
                break;
            }
        }
        return done;
    }

    std::streamsize showmanyc() override { return egptr() - gptr(); }

  private:
    Request& req_;
    char buffer_[16 * 1024];
};

// The streambuf is a base constructed before std::istream, so the stream
// never holds a pointer to a member not yet built.
struct BodyStreamBufHolder {
    explicit BodyStreamBufHolder(Request& req) : buf(req) {}
    BodyStreamBuf buf;
};

class BodyStream final : private BodyStreamBufHolder, public std::istream {
  public:
    explicit BodyStream(Request& req) : BodyStreamBufHolder(req), std::istream(&buf) {
        // Rethrow the streambuf's RequestError instead of a silent badbit
        // (see the top of this file). failbit and eofbit stay quiet: the
        // real end of the body is an ordinary end of file.
        exceptions(std::ios::badbit);
    }
};

}  // namespace

std::istream& Request::body() {
    if (!body_stream_)
        body_stream_ = std::make_unique<BodyStream>(*this);
    return *body_stream_;
}

}  // namespace postern
