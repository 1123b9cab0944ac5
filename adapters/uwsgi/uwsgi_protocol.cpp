#include "uwsgi/uwsgi_protocol.hpp"

#include "uwsgi/uwsgi_connection.hpp"

namespace postern {

std::unique_ptr<Protocol> make_uwsgi_protocol(App& app, const Options& options) {
    // A raw HTTP status line and headers, as uWSGI answers (one request a
    // connection: no Connection header).
    return std::make_unique<OneRequestProtocol<uwsgi::UwsgiConnection>>(
        app, options, overloaded_http_response(false));
}

}  // namespace postern
