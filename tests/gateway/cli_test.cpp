#include "core/cli.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace postern {
namespace {

CliConfig parse(std::vector<const char*> args) {
    args.insert(args.begin(), "postern");
    return parse_command_line(static_cast<int>(args.size()), args.data());
}

TEST(Cli, BothOptionForms) {
    auto cfg =
        parse({"--app", "hello.so", "--mount=/app=echo.so", "--listen", "fastcgi=/tmp/x.sock",
               "--listen=http=127.0.0.1:0", "--threads=8", "--read-timeout", "500"});
    ASSERT_EQ(cfg.modules.size(), 2u);
    EXPECT_EQ(cfg.modules[0], (std::pair<std::string, std::string>{"/", "hello.so"}));
    EXPECT_EQ(cfg.modules[1], (std::pair<std::string, std::string>{"/app", "echo.so"}));
    ASSERT_EQ(cfg.options.listeners.size(), 2u);
    EXPECT_EQ(cfg.options.listeners[0].protocol, "fastcgi");
    EXPECT_EQ(cfg.options.listeners[0].address, "/tmp/x.sock");
    EXPECT_EQ(cfg.options.listeners[1].address, "127.0.0.1:0");
    EXPECT_EQ(cfg.options.threads, 8u);
    EXPECT_EQ(cfg.options.limits.read_timeout.count(), 500);
}

TEST(Cli, BadOptionsAreOneClearLine) {
    EXPECT_THROW(parse({"--nope"}), CliError);
    EXPECT_THROW(parse({"--threads"}), CliError);
    EXPECT_THROW(parse({"--threads", "many"}), CliError);
    EXPECT_THROW(parse({"--threads", "0"}), CliError);
    EXPECT_THROW(parse({"--listen", "fastcgi"}), CliError);
    EXPECT_THROW(parse({"--mount", "app=x.so"}), CliError);
    EXPECT_THROW(parse({"--socket-mode", "999"}), CliError);
    EXPECT_THROW(parse({"--help=yes"}), CliError);
    EXPECT_THROW(parse({"stray"}), CliError);
    try {
        parse({"--threads", "many"});
    } catch (const CliError& e) {
        EXPECT_NE(std::string(e.what()).find("--threads"), std::string::npos);
    }
}

TEST(Cli, ConfigFileHoldsTheSameSettings) {
    std::string path = ::testing::TempDir() + "postern-cli-test.conf";
    {
        std::ofstream f(path);
        f << "# a comment\nlisten = http=127.0.0.1:0\nmount /f=faults.so  # "
             "trailing\n\nthreads=3\n";
    }
    auto cfg = parse({"--config", path.c_str(), "--threads", "5"});
    EXPECT_EQ(cfg.options.listeners.size(), 1u);
    EXPECT_EQ(cfg.modules.size(), 1u);
    EXPECT_EQ(cfg.options.threads, 5u) << "later settings win";
    {
        std::ofstream f(path);
        f << "bogus = 1\n";
    }
    try {
        parse({"--config", path.c_str()});
        FAIL();
    } catch (const CliError& e) {
        EXPECT_NE(std::string(e.what()).find(":1: unknown setting"), std::string::npos) << e.what();
    }
    std::remove(path.c_str());
}

TEST(Cli, AjpOptions) {
    auto cfg = parse({"--listen", "ajp=127.0.0.1:8009", "--ajp-secret", "s3cret",
                      "--ajp-packet-size=65536", "--ajp-allow-attribute", "SSL_CLIENT_S_DN",
                      "--ajp-allow-attribute=JK_LB_ACTIVATION"});
    EXPECT_EQ(cfg.options.listeners.at(0).protocol, "ajp");
    EXPECT_EQ(cfg.options.ajp.secret, "s3cret");
    EXPECT_FALSE(cfg.options.ajp.insecure);
    EXPECT_EQ(cfg.options.ajp.packet_size, 65536u);
    EXPECT_EQ(cfg.options.ajp.allowed_attributes,
              (std::vector<std::string>{"SSL_CLIENT_S_DN", "JK_LB_ACTIVATION"}));
    EXPECT_EQ(parse({}).options.ajp.packet_size, 8192u) << "mod_jk's default";
    EXPECT_TRUE(parse({"--ajp-insecure"}).options.ajp.insecure);
    EXPECT_THROW(parse({"--ajp-packet-size", "4096"}), CliError);
    EXPECT_THROW(parse({"--ajp-packet-size", "65537"}), CliError);
    EXPECT_THROW(parse({"--ajp-insecure=yes"}), CliError);
    EXPECT_THROW(parse({"--ajp-secret-file", "/nonexistent/postern-secret"}), CliError);

    std::string path = ::testing::TempDir() + "postern-ajp-secret";
    {
        std::ofstream f(path);
        f << "from-a-file\nsecond line\n";
    }
    EXPECT_EQ(parse({"--ajp-secret-file", path.c_str()}).options.ajp.secret, "from-a-file");
    {
        std::ofstream f(path);
        f << "ajp-insecure\najp-secret = x\n";
    }
    auto file_cfg = parse({"--config", path.c_str()});
    EXPECT_TRUE(file_cfg.options.ajp.insecure);
    EXPECT_EQ(file_cfg.options.ajp.secret, "x");
    std::remove(path.c_str());
}

TEST(Cli, HelpListsEveryOption) {
    std::string u = usage();
    for (const char* o : {"--app", "--mount", "--listen", "--threads", "--config", "--help",
                          "--version", "--ajp-secret", "--ajp-secret-file", "--ajp-insecure",
                          "--ajp-packet-size", "--ajp-allow-attribute"})
        EXPECT_NE(u.find(o), std::string::npos) << o;
}

}  // namespace
}  // namespace postern
