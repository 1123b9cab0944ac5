// core/protocol_registry: the names a listener may take come from the
// registry; libpostern fills it with every adapter when it is loaded.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/connection.hpp"
#include "postern/server.hpp"

namespace postern {
namespace {

// A protocol that is never handed a connection (nothing connects).
class Inert : public Protocol {
  public:
    std::unique_ptr<Connection> make_connection(int, Peer) override { return nullptr; }
};

std::atomic<int> made{0};

std::unique_ptr<Protocol> make_inert(App&, const Options&) {
    ++made;
    return std::make_unique<Inert>();
}

Options options_for(const std::string& protocol) {
    Options o;
    o.listeners = {{protocol, "127.0.0.1:0"}, {protocol, "127.0.0.1:0"}};
    o.mounts = {{"/", [](Request&, Response&) {}, "test"}};
    o.access_log = "off";
    return o;
}

TEST(ProtocolRegistry, LinkingLibposternRegistersEveryAdapter) {
    const std::vector<std::string> want = {"ajp", "fastcgi", "http", "scgi", "uwsgi"};
    EXPECT_EQ(registered_protocols(), want);
}

TEST(ProtocolRegistry, AServerTakesItsProtocolsFromTheRegistry) {
    EXPECT_THROW(Server{options_for("inert")}, std::runtime_error);
    register_protocol("inert", make_inert);
    made = 0;
    {
        Server server(options_for("inert"));
        EXPECT_EQ(made, 2);  // once per listener
        ASSERT_EQ(server.listeners().size(), 2u);
        EXPECT_EQ(server.listeners()[0].protocol, "inert");
    }
    // Removed again: the name is unknown, the others are untouched.
    register_protocol("inert", nullptr);
    try {
        Server server(options_for("inert"));
        ADD_FAILURE() << "a Server was made for an unregistered protocol";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("unknown protocol \"inert\""), std::string::npos)
            << e.what();
    }
    EXPECT_EQ(registered_protocols().size(), 5u);
    Server http(options_for("http"));
    EXPECT_EQ(http.listeners().size(), 2u);
}

TEST(ProtocolRegistry, RegisteringANameAgainReplacesItsFactory) {
    register_protocol("inert", make_inert);
    register_protocol("inert", make_inert);
    EXPECT_EQ(registered_protocols().size(), 6u);
    register_protocol("inert", nullptr);
    register_protocol("never-registered", nullptr);
    EXPECT_EQ(registered_protocols().size(), 5u);
}

}  // namespace
}  // namespace postern
