// Test support: the front end's side of the uwsgi protocol (as nginx's
// uwsgi module and mod_proxy_uwsgi send it): a 4-byte header (modifier1,
// little-endian 16-bit size, modifier2), the variables as little-endian
// 16-bit length-prefixed keys and values, then the body; the answer is an
// HTTP/1.1 response ended by the close. Pure functions of bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace postern::test::uwsgi {

using Params = std::vector<std::pair<std::string, std::string>>;

/// One packet of `params`, in order. No check beyond the 16-bit fields
/// (std::length_error past them): tests send bad packets with it too.
std::string packet(const Params& params, std::uint8_t modifier1 = 0, std::uint8_t modifier2 = 0);

/// The variables nginx sends for `method` `uri` (REQUEST_METHOD,
/// REQUEST_URI, SERVER_*, REMOTE_ADDR; CONTENT_LENGTH when `body_size` is
/// not 0), then `extra`.
Params cgi_params(std::string_view method, std::string_view uri, std::size_t body_size = 0,
                  const Params& extra = {});

/// A whole request: the packet of cgi_params(), then `body`.
std::string request(std::string_view method, std::string_view uri, std::string_view body = {},
                    const Params& extra = {});

}  // namespace postern::test::uwsgi
