// Postern core: building the CGI meta-variables of a request (RFC 3875 §4.1)
// the same way for every adapter.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "postern/request.hpp"

namespace postern {

/// The value of a variable, or nullptr.
const std::string* find_var(const Environ& env, std::string_view name) noexcept;
/// Sets a variable, replacing an earlier value.
void set_var(Environ& env, std::string_view name, std::string_view value);
/// Removes a variable if present.
void erase_var(Environ& env, std::string_view name);

/// Adds a name-value pair received from a front end (FastCGI, SCGI, uwsgi
/// params). A repeated HTTP_* param is a header the client repeated (nginx
/// sends each copy as its own param): the values are joined with ", ", or
/// "; " for HTTP_COOKIE, the same as add_header gives for the same request.
/// A repeated non-header variable keeps its last value. HTTP_PROXY is dropped
/// (httpoxy, CVE-2016-5385): the header is never a proxy setting.
/// HTTP_CONTENT_TYPE and HTTP_CONTENT_LENGTH (nginx sends them) are dropped:
/// those headers are CONTENT_TYPE and CONTENT_LENGTH (RFC 3875 §4.1.18). Hop-by-hop
/// headers (Connection, Keep-Alive, TE, Transfer-Encoding, Proxy-Connection)
/// are dropped too: the adapter consumed them.
void add_param(Environ& env, std::string_view name, std::string_view value);

/// add_param for a whole block of params (a FastCGI, SCGI or uwsgi request
/// head): the same rules, without scanning the table for every name. A
/// 128-bit filter of the names added so far says "new name" for almost every
/// param; only a hit (a repeat, or a rare false positive) scans.
class ParamBuilder {
  public:
    explicit ParamBuilder(Environ& env) noexcept;
    /// Returns false when `name` came before and is not a header that may
    /// repeat (any HTTP_* but HTTP_HOST): a variable such as CONTENT_LENGTH
    /// sent twice, which the adapter refuses (the table keeps the last).
    bool add(std::string_view name, std::string_view value);

  private:
    static std::uint64_t hash(std::string_view name) noexcept;
    bool maybe_seen(std::uint64_t h) const noexcept;
    void mark(std::uint64_t h) noexcept;

    Environ& env_;
    std::uint64_t seen_[2] = {0, 0};
};

/// Adds an HTTP header by its wire name (HTTP adapter): Content-Type and
/// Content-Length become CONTENT_TYPE and CONTENT_LENGTH, others
/// HTTP_NAME with '-' as '_'. A name with '_' is dropped, as nginx and
/// Apache drop it, so no header can pose as another; Proxy is dropped.
void add_header(Environ& env, std::string_view name, std::string_view value);

/// "x-forwarded-for" from "HTTP_X_FORWARDED_FOR"; "content-type" from
/// "CONTENT_TYPE"; empty for a variable that is not a header.
std::string header_name_of(std::string_view var);

}  // namespace postern
