// postern-cgi: a Postern module run as a plain CGI program (RFC 3875), for
// Apache mod_cgid / mod_cgi or any CGI host. One process per request: the
// module named by POSTERN_MODULE is loaded, the request is read from the
// environment and standard input, handed to the same core as every adapter
// (App::handle: the mount router, the exception barrier, the response
// rules), and the response goes to standard output with a "Status:" line.
//
// Settings, from the environment (Apache: SetEnv in the ScriptAlias'd
// location, see apache-conf/postern-cgi.conf):
//   POSTERN_MODULE     the module (.so) to run; required
//   POSTERN_MOUNT      the prefix it is mounted at; default: SCRIPT_NAME as
//                      the host gives it (the ScriptAlias URL path), so
//                      /app/x reaches the module as SCRIPT_NAME=/app,
//                      PATH_INFO=/x, as through every other adapter
//   POSTERN_LOG_LEVEL  debug, info, warn (default), error; lines go to
//                      standard error (Apache's error log)
//   POSTERN_MAX_BODY_BYTES  request body limit (default 4 GiB, 413 beyond)
//
// httpoxy: HTTP_PROXY is removed from this process's environment before the
// module is loaded, and never reaches the request's environ.
//
// The whole environment the host gives this process stays the process's
// (getenv): Apache's own, PassEnv, and SetEnv of the location (a
// DB_PASSWORD set there is readable by the module, as by any CGI program).
// Request::environ() holds the request's variables only (cgi_environ.hpp
// names them), as behind every other adapter.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "cgi/cgi_environ.hpp"
#include "cgi/cgi_io.hpp"
#include "cgi/help.hpp"
#include "core/app.hpp"
#include "core/decimal.hpp"
#include "core/environ.hpp"
#include "core/log.hpp"
#include "core/module.hpp"
#include "core/peer.hpp"

extern char** environ;

namespace {

std::string env_or(const char* name, const char* fallback) {
    const char* v = std::getenv(name);
    return v != nullptr ? std::string(v) : std::string(fallback);
}

/// A CGI response the program writes itself when there is no App to do it
/// (no module): RFC 3875 §6.3.3.
int fail(const std::string& why) {
    postern::log::error("postern-cgi: " + why);
    static const char kPage[] =
        "Status: 500 Internal Server Error\r\nContent-Type: text/plain\r\n"
        "Content-Length: 26\r\n\r\n500 Internal Server Error\n";
    (void)!::write(STDOUT_FILENO, kPage, sizeof(kPage) - 1);
    return 1;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace postern;
    if (argc > 1) {
        // A CGI host passes no arguments, except for an ISINDEX query
        // (RFC 3875 §4.4), which has no '=' and is not an option.
        const std::string arg = argv[1];
        if (arg == "--help" || arg == "-h") {
            std::fputs(postern::cgi::kHelp, stdout);
            return 0;
        }
    }
    // httpoxy (CVE-2016-5385): whatever a client sent as Proxy: is never a
    // proxy setting for the module or the libraries it uses.
    ::unsetenv("HTTP_PROXY");

    const std::string level = env_or("POSTERN_LOG_LEVEL", "warn");
    log::set_level(level == "debug"   ? log::Level::debug
                   : level == "info"  ? log::Level::info
                   : level == "error" ? log::Level::error
                                      : log::Level::warn);
    try {
        log::open_access_log("off");  // the host writes the access log
        const std::string module = env_or("POSTERN_MODULE", "");
        if (module.empty())
            return fail("POSTERN_MODULE is not set (SetEnv POSTERN_MODULE /path/to/app.so)");

        Environ env = cgi::cgi_environ(environ);
        const std::string* script = find_var(env, "SCRIPT_NAME");
        std::string prefix = env_or("POSTERN_MOUNT", script != nullptr ? script->c_str() : "");
        if (prefix.empty())
            prefix = "/";
        // REQUEST_URI is not in RFC 3875; every host we ship a snippet for
        // sends it. Without it, the core routes on SCRIPT_NAME + PATH_INFO.
        Limits limits;
        limits.max_body_bytes = std::strtoull(
            env_or("POSTERN_MAX_BODY_BYTES", std::to_string(limits.max_body_bytes).c_str()).c_str(),
            nullptr, 10);

        Peer peer;
        if (const std::string* a = find_var(env, "REMOTE_ADDR"))
            peer.addr = *a;
        if (const std::string* p = find_var(env, "REMOTE_PORT"))
            peer.port = *p;

        std::optional<std::uint64_t> length;
        if (const std::string* cl = find_var(env, "CONTENT_LENGTH");
            cl != nullptr && !cl->empty()) {
            // A malformed one is answered 400 by the core, and nothing is read.
            length = parse_length(*cl).value_or(0);
        }
        const std::string* method = find_var(env, "REQUEST_METHOD");
        const bool head = method != nullptr && *method == "HEAD";

        // One request per process: a POSTERN_MODULE's setup runs (with no
        // settings: CGI has no --config) and its teardown after the answer.
        std::vector<LoadedModule> modules;
        modules.push_back(load_module(ModuleConfig(prefix, module, {})));
        Outcome outcome;
        bool aborted = false;
        {
            App app({Mount{prefix, modules.back().handler, module}}, limits);
            cgi::FdBody body(STDIN_FILENO, length);
            cgi::FdSink sink(STDOUT_FILENO, head);
            outcome = app.handle("cgi", std::move(env), body, sink, peer);
            aborted = sink.aborted();
        }
        teardown_modules(modules);
        return aborted || outcome.status == 0 ? 1 : 0;
    } catch (const std::exception& e) {
        return fail(e.what());
    }
}
