#include "core/address_list.hpp"

#include <arpa/inet.h>

#include <cstring>
#include <stdexcept>

namespace postern {

namespace {

// Parses an IPv4 or IPv6 address into IPv6 form (IPv4 as ::ffff:a.b.c.d).
// Returns the number of meaningful bits' offset: 96 for IPv4, 0 for IPv6.
bool parse_address(const std::string& text, std::array<std::uint8_t, 16>& out, unsigned& base) {
    in_addr v4{};
    in6_addr v6{};
    if (::inet_pton(AF_INET, text.c_str(), &v4) == 1) {
        out.fill(0);
        out[10] = 0xff;
        out[11] = 0xff;
        std::memcpy(out.data() + 12, &v4, 4);
        base = 96;
        return true;
    }
    if (::inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
        std::memcpy(out.data(), &v6, 16);
        base = 0;
        return true;
    }
    return false;
}

}  // namespace

AddressList::AddressList(const std::vector<std::string>& entries) {
    for (const std::string& e : entries) {
        Block b;
        std::string addr = e;
        unsigned bits = 0;
        bool has_prefix = false;
        if (auto slash = e.find('/'); slash != std::string::npos) {
            addr = e.substr(0, slash);
            std::string n = e.substr(slash + 1);
            if (n.empty() || n.size() > 3 || n.find_first_not_of("0123456789") != std::string::npos)
                throw std::invalid_argument("invalid address block \"" + e + "\"");
            bits = static_cast<unsigned>(std::stoul(n));
            has_prefix = true;
        }
        if (addr.size() > 2 && addr.front() == '[' && addr.back() == ']')
            addr = addr.substr(1, addr.size() - 2);
        unsigned base = 0;
        if (!parse_address(addr, b.bytes, base))
            throw std::invalid_argument("invalid address \"" + e + "\"");
        unsigned max_bits = base == 96 ? 32 : 128;
        if (has_prefix && bits > max_bits)
            throw std::invalid_argument("invalid address block \"" + e + "\"");
        b.prefix = base + (has_prefix ? bits : max_bits);
        blocks_.push_back(b);
    }
}

bool AddressList::contains(std::string_view addr) const noexcept {
    std::array<std::uint8_t, 16> a{};
    unsigned base = 0;
    std::string text(addr);
    if (text.size() > 2 && text.front() == '[' && text.back() == ']')
        text = text.substr(1, text.size() - 2);
    if (!parse_address(text, a, base))
        return false;
    for (const Block& b : blocks_) {
        unsigned full = b.prefix / 8, rest = b.prefix % 8;
        if (std::memcmp(a.data(), b.bytes.data(), full) != 0)
            continue;
        if (rest != 0) {
            auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
            if ((a[full] & mask) != (b.bytes[full] & mask))
                continue;
        }
        return true;
    }
    return false;
}

}  // namespace postern
