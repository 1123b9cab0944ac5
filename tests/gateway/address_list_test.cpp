#include "core/address_list.hpp"

#include <gtest/gtest.h>

namespace postern {
namespace {

TEST(AddressList, ExactAndCidr) {
    AddressList l({"127.0.0.1", "10.0.0.0/8", "::1", "fd00::/8", "192.168.1.128/25"});
    EXPECT_TRUE(l.contains("127.0.0.1"));
    EXPECT_FALSE(l.contains("127.0.0.2"));
    EXPECT_TRUE(l.contains("10.200.3.4"));
    EXPECT_FALSE(l.contains("11.0.0.1"));
    EXPECT_TRUE(l.contains("::1"));
    EXPECT_TRUE(l.contains("fd12::5"));
    EXPECT_FALSE(l.contains("fe80::1"));
    EXPECT_TRUE(l.contains("192.168.1.200"));
    EXPECT_FALSE(l.contains("192.168.1.100"));
    EXPECT_TRUE(l.contains("::ffff:10.1.1.1")) << "IPv4-mapped peers match IPv4 blocks";
    EXPECT_FALSE(l.contains("not an address"));
}

TEST(AddressList, RefusesNonsense) {
    EXPECT_THROW(AddressList({"300.1.1.1"}), std::invalid_argument);
    EXPECT_THROW(AddressList({"10.0.0.0/33"}), std::invalid_argument);
    EXPECT_THROW(AddressList({"10.0.0.0/"}), std::invalid_argument);
    EXPECT_THROW(AddressList({"example.org"}), std::invalid_argument);
    EXPECT_TRUE(AddressList().empty());
}

}  // namespace
}  // namespace postern
