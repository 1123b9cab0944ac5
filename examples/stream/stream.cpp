// Example: a streamed response. /stream?chunks=N&bytes=B&delay_ms=D sends N
// chunks of B bytes, flushing each one to the front end at once and waiting
// D ms between them (the wait is the point: it shows that the first chunk
// reaches the client long before the last one is produced). Any path under
// the mount works; only the query matters. Stops early when the client has
// gone away.
//
// Bounds (400 beyond): chunks 1..10000, bytes 1..1048576, delay_ms 0..10000,
// and at most 60 s of delays in total, so one request cannot hold a worker
// for long. Defaults: chunks=3, bytes=10, delay_ms=0.
#include <chrono>
#include <cstddef>
#include <string>
#include <thread>

#include <postern/postern.hpp>

namespace {

constexpr long long kMaxTotalDelayMs = 60'000;

void stream(postern::Request& req, postern::Response& res) {
    // get_int refuses (400) a value that is not an integer within bounds,
    // so the loop below never runs with absurd ones.
    const postern::Params& query = req.query();
    const long long chunks = query.get_int("chunks", 3, 1, 10'000);
    const long long bytes = query.get_int("bytes", 10, 1, 1024 * 1024);
    const long long delay_ms = query.get_int("delay_ms", 0, 0, 10'000);
    if ((chunks - 1) * delay_ms > kMaxTotalDelayMs) {
        throw postern::RequestError(400, "chunks * delay_ms must stay within 60000 ms");
    }

    res.header("Content-Type", "text/plain");
    res.header("Cache-Control", "no-cache");
    for (long long i = 0; i < chunks; ++i) {
        if (i != 0 && delay_ms != 0) {
            std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
        }
        // Chunk i is B copies of one letter ('a' for the first), so a client
        // can tell the chunks apart.
        const std::string chunk(static_cast<std::size_t>(bytes), static_cast<char>('a' + i % 26));
        if (!res.write(chunk) || !res.flush())
            return;  // the client has gone
    }
}

}  // namespace

POSTERN_APP(stream)
