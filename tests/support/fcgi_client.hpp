// Test support: the front end's side of FastCGI 1.0 — the records a web
// server sends (through the adapter's own encoder, adapters/fastcgi/record.hpp), a decoder for
// those the application answers with, and a helper that runs one request over a SocketClient.
//
// Pure functions of bytes, except ResponseReader and round_trip, which use
// a SocketClient (every wait bounded by a deadline).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fastcgi/record.hpp"
#include "socket_client.hpp"

namespace postern::test::fcgi {

// FastCGI 1.0 §8: the adapter's constants (adapters/fastcgi/record.hpp).
using fastcgi::kAbortRequest;
using fastcgi::kAuthorizer;
using fastcgi::kBeginRequest;
using fastcgi::kEndRequest;
using fastcgi::kGetValues;
using fastcgi::kMaxContent;
using fastcgi::kParams;
using fastcgi::kRequestComplete;
using fastcgi::kResponder;
using fastcgi::kStderr;
using fastcgi::kStdin;
using fastcgi::kStdout;
using fastcgi::kUnknownRole;

using Params = std::vector<std::pair<std::string, std::string>>;

/// One record (§3.3) exactly as given: header, content, `padding` zero
/// bytes, any version byte. For the records a test shapes by hand (odd
/// padding, a bad version, record boundaries it counts on); everything
/// below encodes well-formed records with the adapter's encoder
/// (fastcgi::append_record: padded to a multiple of 8, as nginx sends).
std::string record(std::uint8_t type, std::uint16_t request_id, std::string_view content,
                   std::uint8_t padding = 0, std::uint8_t version = 1);
/// FCGI_BEGIN_REQUEST (§5.1).
std::string begin_request(std::uint16_t request_id, bool keep_conn = false,
                          std::uint16_t role = kResponder);
/// One name-value pair (§3.4): 1-byte lengths up to 127, 4-byte above
/// (fastcgi::append_name_value).
std::string name_value(std::string_view name, std::string_view value);
/// The FCGI_PARAMS stream: records of up to 65535 bytes (pairs may span
/// records, as §3.3 allows), then the empty record that ends it.
std::string params_stream(std::uint16_t request_id, const Params& params);
/// The FCGI_STDIN stream: `body` in records of up to `record_size` bytes,
/// then the empty record.
std::string stdin_stream(std::uint16_t request_id, std::string_view body,
                         std::size_t record_size = kMaxContent);

/// The CGI variables nginx's fastcgi_params sends for `method` `uri`
/// (REQUEST_METHOD, REQUEST_URI, QUERY_STRING, SERVER_*, REMOTE_*, ...).
Params cgi_params(std::string_view method, std::string_view uri);

/// A whole request as a front end sends it.
struct Request {
    std::uint16_t id = 1;
    bool keep_conn = false;
    Params params;
    std::string body;
};
std::string encode(const Request& request);

struct Record {
    std::uint8_t version = 0;
    std::uint8_t type = 0;
    std::uint16_t request_id = 0;
    std::string content;
};

/// Decoding one record from the front of `bytes`.
struct Decoded {
    enum class Status { done, need_more, error } status = Status::need_more;
    std::size_t consumed = 0;  ///< bytes of the record with its padding (done)
    Record record;
    std::string error;  ///< what is wrong (error)
};
Decoded decode_record(std::string_view bytes);

/// What the application answered to one request.
struct Response {
    std::string out;          ///< FCGI_STDOUT content: the CGI response
    std::string err;          ///< FCGI_STDERR content
    bool out_closed = false;  ///< the empty FCGI_STDOUT record came
    bool ended = false;       ///< FCGI_END_REQUEST came
    std::uint32_t app_status = 0;
    std::uint8_t protocol_status = 0xff;
    bool connection_closed = false;  ///< the gateway closed the connection
    std::string error;               ///< a malformed record from the gateway
};

/// The CGI response inside FCGI_STDOUT (RFC 3875 §6): Status line, headers,
/// body.
struct CgiResponse {
    bool complete = false;  ///< the blank line ending the header block came
    int status = 0;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    /// First header of that name, case-insensitive.
    std::optional<std::string> header(std::string_view name) const;
};
CgiResponse parse_cgi(std::string_view out);

/// Reads and decodes records from a connection, for one request id.
class ResponseReader {
  public:
    ResponseReader(SocketClient& client, std::uint16_t request_id = 1)
        : client_(client), id_(request_id) {}

    /// Reads until `done(response())` holds, FCGI_END_REQUEST came, the
    /// connection closed or `timeout` passed; returns done(response()).
    bool read_until(const std::function<bool(const Response&)>& done,
                    std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));
    /// Reads until FCGI_END_REQUEST, close or timeout.
    const Response& read_all(std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));
    const Response& response() const noexcept { return response_; }
    /// Records of other request ids or management records, in order.
    const std::vector<Record>& others() const noexcept { return others_; }

  private:
    void take(const Record& r);

    SocketClient& client_;
    std::uint16_t id_;
    std::string pending_;
    Response response_;
    std::vector<Record> others_;
};

/// Sends `request` on `client` and reads the answer to FCGI_END_REQUEST.
Response round_trip(SocketClient& client, const Request& request,
                    std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));

}  // namespace postern::test::fcgi
