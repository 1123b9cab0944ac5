// Example, for tests: misbehaving callbacks, routed on PATH_INFO.
//   /throw            throws std::runtime_error (the gateway answers 500)
//   /abort            calls std::abort() (the whole worker process dies)
//   /sleep?ms=N       sleeps N ms (0..60000), then answers "slept N ms\n";
//                     with &flush=1 the head goes out first, so a client
//                     knows the request is running before it ends
//   /big?bytes=N      N body bytes (0..16 GiB) in 64 KiB writes, each one
//                     flushed, stopping as soon as the client has gone
// Anything else is a 404.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>

#include <postern/postern.hpp>

namespace {

void big(postern::Request& req, postern::Response& res) {
    const auto total = static_cast<std::uint64_t>(req.query().get_int("bytes", 0, 0, 16LL << 30));
    res.header("Content-Type", "application/octet-stream");
    res.header("Content-Length", std::to_string(total));
    const std::string piece(64 * 1024, 'x');
    for (std::uint64_t left = total; left != 0;) {
        const std::uint64_t n = std::min<std::uint64_t>(left, piece.size());
        if (!res.write(std::string_view(piece).substr(0, n)) || !res.flush())
            return;
        left -= n;
    }
}

void faults(postern::Request& req, postern::Response& res) {
    const auto path = req.path_info();
    if (path == "/throw") {
        throw std::runtime_error("faults example: /throw was asked to throw");
    }
    if (path == "/abort") {
        std::abort();
    }
    if (path == "/sleep") {
        const long long ms = req.query().get_int("ms", 0, 0, 60'000);
        res.header("Content-Type", "text/plain");
        if (req.query().get_int("flush", 0, 0, 1) == 1)
            res.flush();
        std::this_thread::sleep_for(std::chrono::milliseconds(ms));
        res.write("slept " + std::to_string(ms) + " ms\n");
        return;
    }
    if (path == "/big") {
        big(req, res);
        return;
    }
    res.status(404);
    res.header("Content-Type", "text/plain");
    res.write("faults: no such fault (try /throw, /abort, /sleep?ms=N, /big?bytes=N)\n");
}

}  // namespace

POSTERN_APP(faults)
