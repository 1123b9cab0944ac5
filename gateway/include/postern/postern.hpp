// Postern: the whole public API of the C++ application gateway.
//
//     #include <postern/postern.hpp>
//     void hello(postern::Request& req, postern::Response& res) {
//         res.header("Content-Type", "text/plain");
//         res.write("Hello, world!\n");
//     }
//     POSTERN_APP(hello)
#pragma once

#include "postern/handler.hpp"
#include "postern/request.hpp"
#include "postern/response.hpp"
#include "postern/server.hpp"
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
