// Test support: what the faults example's /f/detach?ticks=N&bytes=B writes.
#pragma once

#include <cstddef>
#include <string>

namespace postern::test {

/// "tick I" lines padded with '.' to `bytes` (newline included), I from 0
/// to n - 1: the body of /f/detach?ticks=n&bytes=bytes.
inline std::string ticks(int n, std::size_t bytes = 16) {
    std::string out;
    for (int i = 0; i < n; ++i) {
        std::string line = "tick " + std::to_string(i);
        line.append(bytes - 1 - line.size(), '.');
        out += line + '\n';
    }
    return out;
}

}  // namespace postern::test
