// Postern: levels of the gateway's log, for Request::log.
#pragma once

namespace postern {

/// The gateway's log levels; --log-level chooses the least one written.
enum class Level { debug = 0, info = 1, warn = 2, error = 3 };

}  // namespace postern
