// Test support: deterministic request bodies and the checksum both sides of
// a test compute over them, written once for every suite.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace postern::test {

/// `n` bytes from a fixed-seed generator (std::minstd_rand): every byte
/// value occurs, and the same seed gives the same bytes on every run.
std::string deterministic_bytes(std::size_t n, unsigned seed);

/// The offset basis of 64-bit FNV-1a.
inline constexpr std::uint64_t kFnvOffset = 14695981039346656037ull;

/// 64-bit FNV-1a over `data`, continuing from `h` (so it can run over a
/// body read in pieces).
std::uint64_t fnv1a(std::string_view data, std::uint64_t h = kFnvOffset);

}  // namespace postern::test
