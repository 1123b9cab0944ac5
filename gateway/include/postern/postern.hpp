// Postern: the whole public API of the C++ application gateway.
//
//     #include <postern/postern.hpp>
//     void hello(postern::Request& req, postern::Response& res) {
//         res.header("Content-Type", "text/plain");
//         res.write("Hello, world!\n");
//     }
//     POSTERN_APP(hello)
#pragma once

#include "postern/cookie.hpp"
#include "postern/event_stream.hpp"
#include "postern/files.hpp"
#include "postern/handler.hpp"
#include "postern/log.hpp"
#include "postern/module.hpp"
#include "postern/multipart.hpp"
#include "postern/params.hpp"
#include "postern/request.hpp"
#include "postern/response.hpp"
#include "postern/router.hpp"
#include "postern/server.hpp"
#include "postern/stream.hpp"
#include "postern/websocket.hpp"
#include "postern/version.hpp"

namespace postern {

/// What a loadable module's entry point returns. `abi` guards against a
/// module built against another layout of Request/Response.
struct AppEntry {
    int abi;
    HandlerFn handler;
};

}  // namespace postern

/// The exported C-ABI entry point the `postern` executable looks up in a
/// module (`postern_app_v1`). Use once per module, at namespace scope.
#define POSTERN_APP(fn)                                                          \
    extern "C" __attribute__((visibility("default"))) const ::postern::AppEntry* \
    postern_app_v1() {                                                           \
        static const ::postern::AppEntry entry{POSTERN_ABI_VERSION, &(fn)};      \
        return &entry;                                                           \
    }

/// A module with state: `setup` runs once per worker process, after the
/// fork, with the mount's settings from the --config file, and returns the
/// handler; the optional `teardown` runs when the worker stops, after its
/// requests drained. Use once per module, instead of POSTERN_APP (a module
/// exporting both is refused at start):
///
///     postern::Handler setup(const postern::ModuleConfig& cfg) { ... }
///     void teardown() { ... }
///     POSTERN_MODULE(setup, teardown)
///
/// State is per worker process (--processes N gives N setups, N copies of
/// what they build, never shared), and the handler is called on many
/// threads at once: see SetupFn and TeardownFn in postern/module.hpp.
/// A failing setup (it throws, or returns an empty Handler) stops the
/// start-up, or a SIGHUP reload (the old workers go on serving), with one
/// line naming the module and the error. Library mode (postern::serve)
/// never calls setup or teardown: a program there builds its own handler.
#define POSTERN_MODULE(...) \
    POSTERN_MODULE_PICK_(__VA_ARGS__, POSTERN_MODULE_2_, POSTERN_MODULE_1_)(__VA_ARGS__)
#define POSTERN_MODULE_PICK_(a, b, which, ...) which
#define POSTERN_MODULE_1_(setup) POSTERN_MODULE_2_(setup, nullptr)
#define POSTERN_MODULE_2_(setup, teardown)                                                    \
    extern "C" __attribute__((visibility("default"))) const ::postern::ModuleEntry*           \
    postern_module_v1() {                                                                     \
        static const ::postern::ModuleEntry entry{POSTERN_ABI_VERSION, &(setup), (teardown)}; \
        return &entry;                                                                        \
    }
