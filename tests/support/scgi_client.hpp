// Test support: the front end's side of SCGI (as nginx's scgi module and
// mod_proxy_scgi send it): one netstring of NUL-separated name-value pairs,
// CONTENT_LENGTH first, then the body; the answer is a CGI response ended
// by the close. Pure functions of bytes.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace postern::test::scgi {

using Params = std::vector<std::pair<std::string, std::string>>;

/// The netstring "LEN:" + pairs + "," of `params`, in order, as given (no
/// check: tests send bad headers with it too).
std::string netstring(const Params& params);

/// The variables nginx sends for `method` `uri` with a body of `body_size`
/// bytes (CONTENT_LENGTH first, SCGI=1, REQUEST_METHOD, REQUEST_URI,
/// SERVER_*, REMOTE_*), then `extra`.
Params cgi_params(std::string_view method, std::string_view uri, std::size_t body_size = 0,
                  const Params& extra = {});

/// A whole request: the netstring of cgi_params(), then `body`.
std::string request(std::string_view method, std::string_view uri, std::string_view body = {},
                    const Params& extra = {});

}  // namespace postern::test::scgi
