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

TEST(Cli, PollersSaysHowManyThreadsWaitForRequests) {
    EXPECT_EQ(parse({"--app", "x.so"}).options.pollers, 0u) << "0: one per CPU";
    EXPECT_EQ(parse({"--pollers", "1", "--threads", "4"}).options.pollers, 1u);
    EXPECT_EQ(parse({"--pollers=0"}).options.pollers, 0u);
    EXPECT_THROW(parse({"--pollers", "-1"}), CliError);
    EXPECT_THROW(parse({"--pollers", "one"}), CliError);
    EXPECT_THROW(parse({"--pollers", "5000"}), CliError);
    EXPECT_THROW(parse({"--pollers"}), CliError);
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

/// Writes `text` to a config file of the test's own; returns its path.
std::string config_file(const std::string& name, const std::string& text) {
    std::string path = ::testing::TempDir() + name;
    std::ofstream f(path);
    f << text;
    return path;
}

/// The CliError parse() throws, or "" when it does not.
std::string error_of(std::vector<const char*> args) {
    try {
        parse(std::move(args));
    } catch (const CliError& e) {
        return e.what();
    }
    return {};
}

TEST(Cli, ASectionHoldsTheSettingsOfItsMount) {
    const std::string path = config_file("postern-cli-sections.conf",
                                         "threads = 3\n"
                                         "mount = /api=rest.so\n"
                                         "\n"
                                         "# the API's own settings\n"
                                         "[/api]\n"
                                         "database = /var/lib/rest/items.db  # a comment\n"
                                         "page-size=50\n"
                                         "  spaced key   =   a value with spaces  \n"
                                         "empty =\n"
                                         "threads = 99\n"
                                         "config = not-a-file-to-read\n"
                                         "page-size = 60\n"
                                         "[ / ]\n"
                                         "title = home\n");
    auto cfg = parse({"--config", path.c_str(), "--app", "home.so"});
    EXPECT_EQ(cfg.options.threads, 3u) << "threads in a section is the module's, not an option";
    ASSERT_EQ(cfg.sections.size(), 2u);
    EXPECT_EQ(cfg.sections[0].prefix, "/api");
    EXPECT_EQ(cfg.sections[0].where, path + ":5");
    EXPECT_EQ(cfg.sections[1].prefix, "/");
    using Settings = std::vector<std::pair<std::string, std::string>>;
    EXPECT_EQ(mount_settings(cfg, "/api"), (Settings{{"database", "/var/lib/rest/items.db"},
                                                     {"page-size", "50"},
                                                     {"spaced key", "a value with spaces"},
                                                     {"empty", ""},
                                                     {"threads", "99"},
                                                     {"config", "not-a-file-to-read"},
                                                     {"page-size", "60"}}));
    EXPECT_EQ(mount_settings(cfg, "/api/"), mount_settings(cfg, "/api")) << "one mount";
    EXPECT_EQ(mount_settings(cfg, "/"), (Settings{{"title", "home"}}));
    EXPECT_TRUE(mount_settings(cfg, "/other").empty());

    // Settings before the first section stay options, and a file without
    // sections has none.
    auto plain = parse({"--app", "x.so"});
    EXPECT_TRUE(plain.sections.empty());
    EXPECT_TRUE(mount_settings(plain, "/").empty());
    std::remove(path.c_str());
}

TEST(Cli, TheSameSectionTwiceAddsToItAndTheLastValueComesLast) {
    const std::string a =
        config_file("postern-cli-a.conf", "mount = /api=rest.so\n[/api]\nsize = 1\n");
    const std::string b = config_file("postern-cli-b.conf", "[/api/]\nsize = 2\n");
    auto cfg = parse({"--config", a.c_str(), "--config", b.c_str()});
    using Settings = std::vector<std::pair<std::string, std::string>>;
    EXPECT_EQ(mount_settings(cfg, "/api"), (Settings{{"size", "1"}, {"size", "2"}}));
    std::remove(a.c_str());
    std::remove(b.c_str());
}

TEST(Cli, BadSectionLinesNameTheFileAndLine) {
    struct Case {
        const char* text;
        const char* error;
    };
    const Case cases[] = {
        {"mount = /api=x.so\n[api]\n", ":2: a section line is [PREFIX]"},
        {"mount = /api=x.so\n[/api\n", ":2: a section line is [PREFIX]"},
        {"mount = /api=x.so\n[]\n", ":2: a section line is [PREFIX]"},
        {"mount = /api=x.so\n[/a b]\n", ":2: a section line is [PREFIX]"},
        {"mount = /api=x.so\n[/api]]\n", ":2: a section line is [PREFIX]"},
        {"mount = /api=x.so\n[/api]\nno equals sign\n", ":3: expected key = value"},
        {"mount = /api=x.so\n[/api]\n= value\n", ":3: expected key = value"},
        {"mount = /api=x.so\n\n[/apj]\nkey = 1\n",
         ":3: section [/apj] names no mount (mounted: /api)"},
        {"[/api]\n", ":1: section [/api] names no mount (none is given)"},
    };
    for (const auto& c : cases) {
        const std::string path = config_file("postern-cli-bad-section.conf", c.text);
        const std::string error = error_of({"--config", path.c_str()});
        EXPECT_NE(error.find(path + c.error), std::string::npos) << "for:\n"
                                                                 << c.text << "got: " << error;
        std::remove(path.c_str());
    }
    // A mount given on the command line after the file counts.
    const std::string path = config_file("postern-cli-late-mount.conf", "[/late]\nk = v\n");
    EXPECT_EQ(error_of({"--config", path.c_str(), "--mount", "/late=x.so"}), "");
    EXPECT_EQ(error_of({"--config", path.c_str(), "--mount", "/later=x.so"}).find(path + ":1:"),
              0u);
    std::remove(path.c_str());
}

TEST(Cli, HelpSaysTheSectionSyntax) {
    const std::string u = usage();
    EXPECT_NE(u.find("[/api]"), std::string::npos);
    EXPECT_NE(u.find("ModuleConfig::get"), std::string::npos);
    EXPECT_NE(u.find("the last of a repeated key wins"), std::string::npos);
}

TEST(Cli, RequestTimeout) {
    EXPECT_EQ(parse({}).request_timeout.count(), 0) << "off unless asked for";
    EXPECT_EQ(parse({"--request-timeout", "30000"}).request_timeout.count(), 30000);
    EXPECT_THROW(parse({"--request-timeout", "-1"}), CliError);
}

TEST(Cli, WorkerTimeoutIsOnByDefaultAndAtLeastASecond) {
    EXPECT_EQ(parse({}).worker_timeout.count(), 30000) << "gunicorn's --timeout";
    EXPECT_EQ(parse({"--worker-timeout", "0"}).worker_timeout.count(), 0) << "off";
    EXPECT_EQ(parse({"--worker-timeout", "1000"}).worker_timeout.count(), 1000);
    // Shorter than a few heartbeats (250 ms apart) would kill live workers.
    EXPECT_THROW(parse({"--worker-timeout", "999"}), CliError);
    EXPECT_THROW(parse({"--worker-timeout", "-1"}), CliError);
    EXPECT_NE(usage().find("--worker-timeout MS"), std::string::npos);
    EXPECT_NE(usage().find("SIGUSR1"), std::string::npos);
}

TEST(Cli, MinBodyRate) {
    EXPECT_EQ(parse({}).options.limits.min_body_rate, 500u) << "mod_reqtimeout's MinRate";
    EXPECT_EQ(parse({"--min-body-rate", "0"}).options.limits.min_body_rate, 0u);
    EXPECT_EQ(parse({"--min-body-rate=2000"}).options.limits.min_body_rate, 2000u);
    EXPECT_THROW(parse({"--min-body-rate", "fast"}), CliError);
}

TEST(Cli, DeferAccept) {
    EXPECT_EQ(parse({}).options.limits.defer_accept.count(), 1000) << "on by default";
    EXPECT_EQ(parse({"--defer-accept", "0"}).options.limits.defer_accept.count(), 0) << "off";
    EXPECT_EQ(parse({"--defer-accept=3000"}).options.limits.defer_accept.count(), 3000);
    EXPECT_THROW(parse({"--defer-accept", "-1"}), CliError);
    EXPECT_THROW(parse({"--defer-accept", "soon"}), CliError);
    EXPECT_THROW(parse({"--defer-accept", "3600001"}), CliError);
    EXPECT_NE(usage().find("--defer-accept MS"), std::string::npos);
}

TEST(Cli, StatusPath) {
    EXPECT_EQ(parse({}).options.status_path, "") << "off unless asked for";
    EXPECT_EQ(parse({"--status", "/postern-status"}).options.status_path, "/postern-status");
    EXPECT_THROW(parse({"--status", "postern-status"}), CliError);
    EXPECT_THROW(parse({"--status", "/s?format=json"}), CliError);
    EXPECT_THROW(parse({"--status", ""}), CliError);
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

TEST(Cli, ProcessOptions) {
    auto defaults = parse({});
    EXPECT_EQ(defaults.processes, available_cpus()) << "one worker process per CPU";
    EXPECT_GE(defaults.processes, 1u);
    EXPECT_EQ(defaults.max_requests, 0u) << "never";
    EXPECT_EQ(defaults.max_requests_jitter, 0u);
    EXPECT_EQ(defaults.options.drain_timeout.count(), 30'000);

    auto cfg = parse({"--processes", "0", "--max-requests=1000", "--max-requests-jitter", "50",
                      "--graceful-timeout", "1500"});
    EXPECT_EQ(cfg.processes, 0u) << "0: one process, no supervisor";
    EXPECT_EQ(cfg.max_requests, 1000u);
    EXPECT_EQ(cfg.max_requests_jitter, 50u);
    EXPECT_EQ(cfg.options.drain_timeout.count(), 1500) << "--graceful-timeout is --drain-timeout";
    EXPECT_EQ(parse({"--graceful-timeout", "1", "--drain-timeout", "2"}).options.drain_timeout,
              std::chrono::milliseconds(2))
        << "the later one wins";
    EXPECT_EQ(parse({"--processes", "1024"}).processes, 1024u);
    EXPECT_THROW(parse({"--processes", "1025"}), CliError);
    EXPECT_THROW(parse({"--processes", "-1"}), CliError);
    EXPECT_THROW(parse({"--max-requests", "lots"}), CliError);

    std::string path = ::testing::TempDir() + "postern-cli-processes.conf";
    {
        std::ofstream f(path);
        f << "processes = 3\nmax-requests = 10\ngraceful-timeout = 250\n";
    }
    auto file_cfg = parse({"--config", path.c_str()});
    EXPECT_EQ(file_cfg.processes, 3u);
    EXPECT_EQ(file_cfg.max_requests, 10u);
    EXPECT_EQ(file_cfg.options.drain_timeout.count(), 250);
    std::remove(path.c_str());
}

TEST(Cli, HelpListsEveryOption) {
    std::string u = usage();
    for (const char* o : {"--app",
                          "--mount",
                          "--listen",
                          "--threads",
                          "--config",
                          "--help",
                          "--version",
                          "--ajp-secret",
                          "--ajp-secret-file",
                          "--ajp-insecure",
                          "--ajp-packet-size",
                          "--ajp-allow-attribute",
                          "--processes",
                          "--max-requests",
                          "--max-requests-jitter",
                          "--drain-timeout",
                          "--graceful-timeout",
                          "SIGHUP",
                          "SIGQUIT",
                          "LISTEN_FDS",
                          "NOTIFY_SOCKET"})
        EXPECT_NE(u.find(o), std::string::npos) << o;
}

TEST(Cli, AllowedUnixPeersByIdOrName) {
    auto cfg = parse({"--app", "x.so", "--allow-uid", "0", "--allow-uid", "root", "--allow-gid",
                      "7", "--allow-gid=root"});
    EXPECT_EQ(cfg.options.allow_uids, (std::vector<unsigned>{0, 0}));
    EXPECT_EQ(cfg.options.allow_gids, (std::vector<unsigned>{7, 0}));
    EXPECT_THROW(parse({"--allow-uid", "no-such-user-postern"}), CliError);
    EXPECT_THROW(parse({"--allow-gid", "no-such-group-postern"}), CliError);
}

}  // namespace
}  // namespace postern
