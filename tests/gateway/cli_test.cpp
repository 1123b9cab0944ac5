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

TEST(Cli, HelpListsEveryOption) {
    std::string u = usage();
    for (const char* o :
         {"--app", "--mount", "--listen", "--threads", "--config", "--help", "--version"})
        EXPECT_NE(u.find(o), std::string::npos) << o;
}

}  // namespace
}  // namespace postern
