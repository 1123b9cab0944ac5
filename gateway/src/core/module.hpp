// Postern core: loading an application module (a shared object built with
// POSTERN_APP).
#pragma once

#include <string>

#include "postern/handler.hpp"

namespace postern {

/// Loads `path` once (dlopen, never unloaded) and returns its handler.
/// Throws std::runtime_error with one line naming the file when it is not
/// a loadable module, has no POSTERN_APP entry point, or was built against
/// another ABI version.
Handler load_module(const std::string& path);

}  // namespace postern
