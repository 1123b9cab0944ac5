// Postern core: allow-lists of peer addresses (IPv4/IPv6, exact or CIDR).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace postern {

/// A set of address blocks: "127.0.0.1", "10.0.0.0/8", "::1", "fd00::/8".
/// An IPv4-mapped IPv6 peer (::ffff:a.b.c.d) matches the IPv4 entry.
/// Read-only after construction, so thread-safe.
class AddressList {
  public:
    AddressList() = default;
    /// Throws std::invalid_argument naming the first entry that is not an
    /// address or a CIDR block.
    explicit AddressList(const std::vector<std::string>& entries);

    bool empty() const noexcept { return blocks_.empty(); }
    /// True when `addr` (textual, as in Peer::addr) is in one of the blocks.
    bool contains(std::string_view addr) const noexcept;

  private:
    struct Block {
        std::array<std::uint8_t, 16> bytes{};  // IPv4 stored as IPv4-mapped IPv6
        unsigned prefix = 128;
    };
    std::vector<Block> blocks_;
};

}  // namespace postern
