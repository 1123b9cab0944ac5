// libFuzzer driver for the glue between the decoders and the core: bytes as a
// front end sends them, decoded, turned into the CGI environ the way each
// adapter does it (add_param for SCGI and uwsgi, http::request_environ,
// ajp::request_environ), handed to the real App (mount router, percent
// decoding, the body limit, the exception barrier, the Response rules) with a
// callback that reads everything a callback can read, and answered through
// one of the response-head encoders (cgi_head for FastCGI/SCGI/CGI,
// uwsgi::encode_response_head, ajp::encode_send_headers).
//
// The protocol is told from the first bytes as a gateway port would see them:
// 0x12 0x34 AJP, a digit SCGI, 0x00 uwsgi, anything else HTTP. The last byte
// picks the response shape (status, encoder, flushing). Invariants: the
// environ has unique names and none of the variables the gateway must drop
// (HTTP_PROXY, hop-by-hop headers); Request's accessors agree with each
// other; a response header is refused exactly when it is invalid; the sink
// sees head, body, finish in order; the encoded head parses back to the
// status, reason phrase and headers that went in, with nothing injected; a
// finished response carries exactly its Content-Length; HEAD gets no body.
//
// Seed corpus: tests/data/{http,scgi,uwsgi,ajp}/ (front-end captures).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "ajp/ajp_environ.hpp"
#include "ajp/codec.hpp"
#include "core/address_list.hpp"
#include "core/app.hpp"
#include "core/cgi_head.hpp"
#include "core/decimal.hpp"
#include "core/environ.hpp"
#include "core/log.hpp"
#include "core/text.hpp"
#include "fuzz_check.hpp"
#include "http/http_codec.hpp"
#include "http/http_environ.hpp"
#include "scgi/codec.hpp"
#include "uwsgi/codec.hpp"
#include "uwsgi/response_head.hpp"

namespace {

using postern::Environ;
using postern::RequestError;

constexpr std::uint64_t kMaxBody = 4096;

// ------------------------------------------------------------ bodies

/// Exactly `length` bytes of `in` (all of it when no length), a 400 when
/// the input ends first: what a connection does when the front end closes
/// inside a body.
class FixedBody final : public postern::BodySource {
  public:
    FixedBody(std::string_view in, std::optional<std::uint64_t> length) : in_(in), length_(length) {
        if (length_ && *length_ < in_.size())
            in_ = in_.substr(0, static_cast<std::size_t>(*length_));
    }
    std::size_t read(char* buffer, std::size_t size) override {
        if (in_.empty()) {
            if (length_ && given_ < *length_)
                throw RequestError(400, "front end closed inside the body");
            return 0;
        }
        const std::size_t n = std::min(size, in_.size());
        std::copy_n(in_.data(), n, buffer);
        in_.remove_prefix(n);
        given_ += n;
        return n;
    }

  private:
    std::string_view in_;
    std::optional<std::uint64_t> length_;
    std::uint64_t given_ = 0;
};

/// A chunked HTTP body through ChunkedDecoder, as HttpConnection reads it.
class ChunkedBody final : public postern::BodySource {
  public:
    explicit ChunkedBody(std::string_view in) : in_(in) {}
    std::size_t read(char* buffer, std::size_t size) override {
        while (!decoder_.done()) {
            const auto s = decoder_.decode(in_, buffer, size);
            in_.remove_prefix(s.consumed);
            if (s.status == postern::http::Status::error)
                throw RequestError(s.code, s.reason);
            if (s.produced > 0)
                return s.produced;
            if (s.status == postern::http::Status::need_more && in_.empty())
                throw RequestError(400, "front end closed inside a chunked body");
        }
        return 0;
    }

  private:
    std::string_view in_;
    postern::http::ChunkedDecoder decoder_;
};

/// AJP body packets, as AjpConnection reads them: exactly Content-Length
/// bytes when the request has one, otherwise up to the empty packet; a
/// packet that is malformed, too long or missing is a 400.
class AjpBody final : public postern::BodySource {
  public:
    AjpBody(std::string_view in, std::optional<std::uint64_t> length) : in_(in), left_(length) {}
    std::size_t read(char* buffer, std::size_t size) override {
        while (chunk_.empty()) {
            if (ended_ || (left_ && *left_ == 0))
                return 0;
            std::string_view chunk;
            const auto r = postern::ajp::decode_body_packet(
                in_, postern::ajp::kDefaultPacketSize - postern::ajp::kHeaderSize, chunk);
            if (r.status != postern::ajp::Status::done)
                throw RequestError(400, "bad or missing AJP body packet");
            FUZZ_CHECK(r.consumed <= in_.size());
            in_.remove_prefix(r.consumed);
            if (chunk.empty()) {
                if (left_)
                    throw RequestError(400, "AJP body ended early");
                ended_ = true;
            }
            if (left_) {
                if (chunk.size() > *left_)
                    throw RequestError(400, "AJP body longer than its Content-Length");
                *left_ -= chunk.size();
            }
            chunk_ = chunk;
        }
        const std::size_t n = std::min(size, chunk_.size());
        std::copy_n(chunk_.data(), n, buffer);
        chunk_.remove_prefix(n);
        return n;
    }

  private:
    std::string_view in_;
    std::string_view chunk_;
    std::optional<std::uint64_t> left_;
    bool ended_ = false;
};

// ------------------------------------------------------------ the sink

enum class Encoder { cgi, uwsgi, ajp };

/// Checks the order of the calls and keeps what went out.
class Sink final : public postern::ResponseSink {
  public:
    explicit Sink(Encoder encoder) : encoder_(encoder) {}

    bool send_head(const postern::ResponseHead& head) override {
        FUZZ_CHECK(!head_sent_ && !finished_ && !aborted_);
        FUZZ_CHECK(head.headers != nullptr);
        head_sent_ = true;
        status_ = head.status;
        head_only_ = head.head_only;
        length_ = head.content_length;
        headers_ = *head.headers;
        switch (encoder_) {
            case Encoder::cgi:
                check_text_head(postern::cgi_head(head), "Status: ");
                break;
            case Encoder::uwsgi:
                check_text_head(postern::uwsgi::encode_response_head(head), "HTTP/1.1 ");
                break;
            case Encoder::ajp:
                check_ajp_head(head);
                break;
        }
        return true;
    }
    bool send_body(std::string_view data) override {
        FUZZ_CHECK(head_sent_ && !finished_ && !aborted_);
        FUZZ_CHECK(!data.empty());
        body_ += data;
        return true;
    }
    bool flush() override {
        FUZZ_CHECK(head_sent_ && !finished_ && !aborted_);
        return true;
    }
    bool finish() override {
        FUZZ_CHECK(head_sent_ && !finished_ && !aborted_);
        finished_ = true;
        return true;
    }
    void abort() override {
        FUZZ_CHECK(!finished_ && !aborted_);
        aborted_ = true;
    }

    bool head_sent() const { return head_sent_; }
    bool finished() const { return finished_; }
    bool aborted() const { return aborted_; }
    int status() const { return status_; }
    bool head_only() const { return head_only_; }
    const std::optional<std::uint64_t>& length() const { return length_; }
    const std::string& body() const { return body_; }

  private:
    // A CGI or HTTP/1.1 head: the status line, one line per header (the
    // Content-Length the core adds last), the empty line; no line break
    // anywhere else.
    void check_text_head(const std::string& text, std::string_view first) {
        FUZZ_CHECK(text.size() >= 4 && text.substr(text.size() - 4) == "\r\n\r\n");
        std::vector<std::string_view> lines;
        std::string_view rest(text);
        rest.remove_suffix(2);
        while (!rest.empty()) {
            const std::size_t eol = rest.find("\r\n");
            FUZZ_CHECK(eol != std::string_view::npos);
            lines.push_back(rest.substr(0, eol));
            rest.remove_prefix(eol + 2);
        }
        for (std::string_view l : lines)
            FUZZ_CHECK(l.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos);
        FUZZ_CHECK(!lines.empty());
        const std::string status_line = std::string(first) + std::to_string(status_) + " " +
                                        std::string(postern::reason_phrase(status_));
        FUZZ_CHECK(lines[0] == status_line);
        std::size_t expected = headers_.size();
        const bool with_length = length_ && (encoder_ == Encoder::cgi || allows_body(status_));
        if (with_length)
            ++expected;
        FUZZ_CHECK(lines.size() == 1 + expected);
        for (std::size_t i = 0; i < headers_.size(); ++i)
            FUZZ_CHECK(lines[1 + i] == headers_[i].first + ": " + headers_[i].second);
        if (with_length)
            FUZZ_CHECK(lines.back() == "Content-Length: " + std::to_string(*length_));
    }

    static bool allows_body(int status) { return status >= 200 && status != 204 && status != 304; }

    // SEND_HEADERS (AJPv13): 'A' 'B' length, 0x04, status, reason, count,
    // then each header as a 0xA0xx code or a string, and its value.
    void check_ajp_head(const postern::ResponseHead& head) {
        std::string out;
        if (!postern::ajp::encode_send_headers(out, head.status,
                                               postern::reason_phrase(head.status), *head.headers))
            return;  // too large for one packet: the adapter sends a 500
        std::string_view p(out);
        auto byte = [&]() {
            FUZZ_CHECK(!p.empty());
            const auto b = static_cast<unsigned char>(p.front());
            p.remove_prefix(1);
            return b;
        };
        auto u16 = [&]() { return static_cast<unsigned>(byte() << 8 | byte()); };
        auto str = [&]() {
            const unsigned n = u16();
            FUZZ_CHECK(n != 0xFFFF && p.size() > n);
            std::string s(p.substr(0, n));
            p.remove_prefix(n);
            FUZZ_CHECK(byte() == 0);
            return s;
        };
        FUZZ_CHECK(byte() == 'A' && byte() == 'B');
        FUZZ_CHECK(u16() == out.size() - 4 && out.size() <= postern::ajp::kDefaultPacketSize);
        FUZZ_CHECK(byte() == 4);
        FUZZ_CHECK(u16() == static_cast<unsigned>(head.status));
        FUZZ_CHECK(str() == postern::reason_phrase(head.status));
        FUZZ_CHECK(u16() == head.headers->size());
        for (const auto& [name, value] : *head.headers) {
            if (static_cast<unsigned char>(p.at(0)) == 0xA0) {
                byte();
                byte();
            } else {
                FUZZ_CHECK(str() == name);
            }
            FUZZ_CHECK(str() == value);
        }
        FUZZ_CHECK(p.empty());
    }

    Encoder encoder_;
    bool head_sent_ = false;
    bool finished_ = false;
    bool aborted_ = false;
    int status_ = 0;
    bool head_only_ = false;
    std::optional<std::uint64_t> length_;
    postern::HeaderList headers_;
    std::string body_;
};

// ------------------------------------------------------------ the callback

struct Shape {
    int status;
    bool flush_early;
    bool declare_length;
};

/// The headers Response refuses because the gateway manages them.
bool managed(std::string_view name) {
    for (std::string_view m : {"Connection", "Keep-Alive", "Transfer-Encoding", "Upgrade",
                               "Proxy-Connection", "TE", "Trailer", "Status"})
        if (postern::iequals(name, m))
            return true;
    return false;
}

/// Reads everything a callback can read and checks that it agrees.
std::string inspect(postern::Request& req) {
    std::string out;
    for (const auto& [name, value] : req.headers())
        out += name + value;
    for (const auto& [var, value] : req.environ()) {
        // An HTTP_* variable in the canonical form (upper case, '_' for '-')
        // is the header header_name_of() names, with its value.
        // The builders drop HTTP_CONTENT_TYPE / HTTP_CONTENT_LENGTH.
        FUZZ_CHECK(var != "HTTP_CONTENT_TYPE" && var != "HTTP_CONTENT_LENGTH");
        if (var.rfind("HTTP_", 0) != 0 || var.size() == 5)
            continue;
        // A variable not spelled as a header's (lower case, '-') names none.
        if (var.find_first_of("abcdefghijklmnopqrstuvwxyz-") != std::string::npos) {
            FUZZ_CHECK(postern::header_name_of(var).empty());
            continue;
        }
        const auto found = req.header(postern::header_name_of(var));
        FUZZ_CHECK(found && *found == value);
    }
    FUZZ_CHECK(req.header("content-type").value_or("") == req.content_type());
    if (const auto cl = req.env("CONTENT_LENGTH"); cl && !cl->empty())
        FUZZ_CHECK(req.content_length() == postern::parse_length(*cl));
    out += req.method();
    out += req.script_name();
    out += req.path_info();
    out += req.query_string();
    out += req.request_uri();
    out += req.server_name();
    out += req.server_port();
    out += req.remote_addr();
    out += req.https() ? "s" : "";
    // The core split the path: SCRIPT_NAME is a mount, PATH_INFO is empty or
    // starts with '/'.
    FUZZ_CHECK(req.script_name() == "/app" || req.script_name() == "/stream/echo");
    FUZZ_CHECK(req.path_info().empty() || req.path_info().front() == '/');
    FUZZ_CHECK(req.env("GATEWAY_INTERFACE") == "CGI/1.1");
    return out;
}

void callback(postern::Request& req, postern::Response& res, const Shape& shape) {
    const std::string seen = inspect(req);

    // Response headers from request data, as applications do: refused
    // (std::invalid_argument) exactly when invalid.
    for (const auto& [name, value] : req.headers()) {
        if (name == "content-length")
            continue;  // sets the declared length: tried below
        const bool valid = postern::valid_header_name(name) && postern::valid_header_value(value) &&
                           !managed(name);
        try {
            res.header(name, value);
            FUZZ_CHECK(valid);
        } catch (const std::invalid_argument&) {
            FUZZ_CHECK(!valid);
        }
    }
    res.status(shape.status);

    std::string body;
    std::uint64_t read = 0;
    char piece[1000];
    while (const std::size_t n = req.read(piece, sizeof(piece))) {
        read += n;
        body.append(piece, std::min<std::size_t>(n, 64));
    }
    FUZZ_CHECK(read == req.body_bytes_read() && read <= kMaxBody);
    if (const auto cl = req.content_length())
        FUZZ_CHECK(read == *cl);

    const std::string out = seen + body;
    if (shape.declare_length)
        res.set_header("Content-Length", std::to_string(out.size()));
    if (shape.flush_early) {
        res.write(out.substr(0, out.size() / 2));
        res.flush();
        res.write(out.substr(out.size() / 2));
    } else {
        res.write(out);
    }
}

// ------------------------------------------------------------ decoding

struct Decoded {
    const char* protocol = nullptr;
    Environ env;
    std::unique_ptr<postern::BodySource> body;
};

const postern::Peer kPeer{"127.0.0.1", "51234", "127.0.0.1", "9000", false};

std::optional<Decoded> decode(std::string_view in) {
    Decoded d;
    if (in.size() >= 2 && in[0] == '\x12' && in[1] == '\x34') {
        postern::ajp::RequestPacket p;
        const auto r = postern::ajp::decode_request_packet(in, {}, p);
        if (r.status != postern::ajp::Status::done || p.type != postern::ajp::Code::forward_request)
            return std::nullopt;
        d.protocol = "ajp";
        d.env = postern::ajp::request_environ(p.request, kPeer, {"allowed"});
        std::optional<std::uint64_t> length;
        for (const auto& [name, value] : p.request.headers)
            if (postern::iequals(name, "content-length"))
                length = postern::parse_length(value);
        d.body = std::make_unique<AjpBody>(in.substr(r.consumed), length);
    } else if (!in.empty() && in[0] >= '0' && in[0] <= '9') {
        postern::scgi::DecodeLimits limits;
        limits.allow_repeated_headers = true;
        postern::scgi::Request req;
        const auto r = postern::scgi::decode_request(in, limits, req);
        if (r.status != postern::scgi::Status::done)
            return std::nullopt;
        d.protocol = "scgi";
        for (const auto& [name, value] : req.params)
            if (name != "SCGI")
                postern::add_param(d.env, name, value);
        d.body = std::make_unique<FixedBody>(in.substr(r.consumed), req.content_length);
    } else if (!in.empty() && in[0] == '\0') {
        postern::uwsgi::Request req;
        const auto r = postern::uwsgi::decode_request(in, {}, req);
        if (r.status != postern::uwsgi::Status::done)
            return std::nullopt;
        d.protocol = "uwsgi";
        for (const auto& [name, value] : req.params)
            postern::add_param(d.env, name, value);
        d.body = std::make_unique<FixedBody>(in.substr(r.consumed), req.content_length.value_or(0));
    } else {
        postern::http::RequestHead head;
        const auto r = postern::http::parse_request_head(in, {}, head);
        if (r.status != postern::http::Status::done)
            return std::nullopt;
        d.protocol = "http";
        static const postern::AddressList trusted({"127.0.0.1", "10.0.0.0/8"});
        d.env = postern::http::request_environ(head, kPeer, trusted);
        const std::string_view rest = in.substr(r.consumed);
        if (head.framing == postern::http::Framing::chunked)
            d.body = std::make_unique<ChunkedBody>(rest);
        else
            d.body = std::make_unique<FixedBody>(rest, head.content_length);
    }
    return d;
}

void check_environ(const Environ& env) {
    for (std::size_t i = 0; i < env.size(); ++i) {
        const std::string& name = env[i].first;
        for (std::size_t j = i + 1; j < env.size(); ++j)
            FUZZ_CHECK(env[j].first != name);
        // httpoxy (CVE-2016-5385), and the hop-by-hop headers the adapter
        // consumed.
        for (std::string_view dropped :
             {"HTTP_PROXY", "HTTP_CONNECTION", "HTTP_KEEP_ALIVE", "HTTP_TE",
              "HTTP_TRANSFER_ENCODING", "HTTP_PROXY_CONNECTION"})
            FUZZ_CHECK(name != dropped);
    }
}

postern::App& app(Shape& shape) {
    static Shape* current = nullptr;
    current = &shape;
    static postern::App* the_app = [] {
        postern::Limits limits;
        limits.max_body_bytes = kMaxBody;
        limits.response_buffer = 256;
        auto handler = [](postern::Request& req, postern::Response& res) {
            callback(req, res, *current);
        };
        std::vector<postern::Mount> mounts{{"/app", handler, "app"},
                                           {"/stream/echo/", handler, "echo"}};
        return new postern::App(std::move(mounts), limits);
    }();
    return *the_app;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    postern::log::set_level(postern::log::Level::error);
    postern::log::open_access_log("off");
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    std::optional<Decoded> d = decode(in);
    if (!d)
        return 0;
    check_environ(d->env);
    const std::string* method = postern::find_var(d->env, "REQUEST_METHOD");
    const bool head_request = method != nullptr && *method == "HEAD";

    static constexpr int kStatuses[] = {200, 201, 204, 304, 404, 418, 500, 599, 999, 102};
    const std::uint8_t last = static_cast<std::uint8_t>(in.back());
    Shape shape{kStatuses[last % 10], (last & 0x10) != 0, (last & 0x20) != 0};
    Sink sink(static_cast<Encoder>((last >> 6) % 3));

    const postern::Outcome outcome =
        app(shape).handle(d->protocol, std::move(d->env), *d->body, sink, kPeer);
    FUZZ_CHECK(sink.head_sent());
    FUZZ_CHECK(sink.finished() != sink.aborted());
    FUZZ_CHECK(outcome.status == sink.status());
    FUZZ_CHECK(outcome.body_bytes == sink.body().size());
    FUZZ_CHECK(sink.head_only() == head_request);
    // HEAD loses its body in the core; a 1xx, 204 or 304 in each adapter's
    // sink (the encoders here give it no Content-Length).
    if (head_request)
        FUZZ_CHECK(sink.body().empty());
    if (sink.finished() && !sink.head_only() && sink.length())
        FUZZ_CHECK(*sink.length() == sink.body().size());
    if (sink.aborted())
        FUZZ_CHECK(!outcome.reusable);
    return 0;
}
