// Integration tests: reading the echo example's JSON, and the deterministic
// request bodies sent to it.
#pragma once

#include <Poco/JSON/Object.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace postern::test {

/// The echo example's answer (examples/echo/echo.cpp), parsed. Throws
/// std::runtime_error with the text when it is not the expected JSON.
class EchoReply {
  public:
    explicit EchoReply(const std::string& json);

    /// A top-level string member ("method", "path_info", ...).
    std::string str(const std::string& key) const;
    bool https() const;
    std::uint64_t body_length() const;
    /// A request header by lowercased name.
    std::optional<std::string> header(const std::string& name) const;
    /// A CGI meta-variable.
    std::optional<std::string> env(const std::string& name) const;
    const std::string& text() const noexcept { return text_; }

  private:
    std::string text_;
    Poco::JSON::Object::Ptr root_;
};

/// deterministic_bytes(size, 20090415) (test_data.hpp: the same bytes on
/// every run), cached.
const std::string& payload(std::size_t size);
/// Lowercase hex SHA-256.
std::string sha256_hex(std::string_view data);

}  // namespace postern::test
