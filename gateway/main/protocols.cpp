// The one place that wires the adapters to the core: every adapter's
// factory, registered in the core's protocol registry (postern/server.hpp)
// when libpostern is loaded, before main() of the program linking it (the
// `postern` executable, a library-mode program, postern-cgi, a module's
// host). The core itself names no adapter.
#include "ajp/ajp_protocol.hpp"
#include "fastcgi/fastcgi_protocol.hpp"
#include "http/http_protocol.hpp"
#include "postern/server.hpp"
#include "scgi/scgi_protocol.hpp"
#include "uwsgi/uwsgi_protocol.hpp"

namespace postern {
namespace {

bool register_builtin_protocols() {
    register_protocol("fastcgi", make_fastcgi_protocol);
    register_protocol("http", make_http_protocol);
    register_protocol("ajp", make_ajp_protocol);
    register_protocol("scgi", make_scgi_protocol);
    register_protocol("uwsgi", make_uwsgi_protocol);
    return true;
}

[[maybe_unused]] const bool registered = register_builtin_protocols();

}  // namespace
}  // namespace postern
