// The one place that wires the adapters to the core: protocol names to
// adapter factories.
#include "ajp/ajp_protocol.hpp"
#include "core/connection.hpp"
#include "fastcgi/fastcgi_protocol.hpp"
#include "http/http_protocol.hpp"
#include "scgi/scgi_protocol.hpp"
#include "uwsgi/uwsgi_protocol.hpp"

namespace postern {

std::unique_ptr<Protocol> make_protocol(const std::string& name, App& app, const Options& options) {
    if (name == "fastcgi")
        return make_fastcgi_protocol(app, options);
    if (name == "http")
        return make_http_protocol(app, options);
    if (name == "ajp")
        return make_ajp_protocol(app, options);
    if (name == "scgi")
        return make_scgi_protocol(app, options);
    if (name == "uwsgi")
        return make_uwsgi_protocol(app, options);
    return nullptr;
}

bool known_protocol(const std::string& name) {
    return name == "fastcgi" || name == "http" || name == "ajp" || name == "scgi" ||
           name == "uwsgi";
}

}  // namespace postern
