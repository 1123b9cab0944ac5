#include "scgi/scgi_protocol.hpp"

#include "scgi/scgi_connection.hpp"

namespace postern {

std::unique_ptr<Protocol> make_scgi_protocol(App& app, const Options& options) {
    // The SCGI answer is a CGI response ("Status: 503 ...").
    return std::make_unique<OneRequestProtocol<scgi::ScgiConnection>>(app, options,
                                                                      overloaded_cgi_response());
}

}  // namespace postern
