#include "test_data.hpp"

#include <random>

namespace postern::test {

std::string deterministic_bytes(std::size_t n, unsigned seed) {
    std::minstd_rand gen(seed);
    std::string out(n, '\0');
    for (auto& c : out)
        c = static_cast<char>(gen() & 0xff);
    return out;
}

std::uint64_t fnv1a(std::string_view data, std::uint64_t h) {
    for (unsigned char c : data) {
        h ^= c;
        h *= 1099511628211ull;
    }
    return h;
}

}  // namespace postern::test
