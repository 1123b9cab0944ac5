#include "core/cli.hpp"

#include <grp.h>
#include <pwd.h>
#include <sched.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <functional>
#include <map>
#include <thread>

#include "core/log.hpp"

namespace postern {

namespace {

using group_t = struct group;
using passwd_t = struct passwd;

const OptionDef kOptions[] = {
    {"app", "MODULE.so", "mount a module at / (same as --mount /=MODULE.so)"},
    {"mount", "PREFIX=MODULE.so", "mount a module at PREFIX (repeatable; longest prefix wins)"},
    {"listen", "PROTO=ADDRESS",
     "listen for PROTO (fastcgi, http, ajp, scgi, uwsgi) on ADDRESS: HOST:PORT, an absolute "
     "unix-socket path, "
     "or "
     "fd:N "
     "(repeatable; default fastcgi=127.0.0.1:9000, or fd:0 when started with a listening socket on "
     "descriptor 0, as spawn-fcgi and mod_fcgid do)"},
    {"threads", "N",
     "threads running callbacks, in each worker process (default 16); one per CPU waits for "
     "requests, the others are called in as requests take long"},
    {"pollers", "N",
     "how many of the threads wait for requests at one time, in each worker process (default 0: "
     "one per CPU of the process's share); the others stand by. Fewer leaves CPUs to a front end "
     "on the same machine; --threads or more: every thread waits"},
    {"processes", "N",
     "worker processes sharing the listeners, supervised and replaced when they die (default: "
     "the number of CPUs; 0: one process, no supervisor, for debugging)"},
    {"max-requests", "N",
     "replace a worker process, gracefully, once it has served N requests (default 0: never)"},
    {"max-requests-jitter", "N",
     "add 0 to N to --max-requests, at random per worker, so workers are not all replaced "
     "together (default 0)"},
    {"request-timeout", "MS",
     "kill and replace a worker process that has run one request this long, as PHP-FPM's "
     "request_terminate_timeout (default 0: never; needs --processes 1 or more)"},
    {"worker-timeout", "MS",
     "kill and replace a worker process that has given no sign of life this long: stopped "
     "(SIGSTOP), swapped out or deadlocked, whatever its requests; a worker busy in long "
     "callbacks is alive (default 30000, as gunicorn's --timeout; 0: off; at least 1000; needs "
     "--processes 1 or more)"},
    {"config", "FILE",
     "read options from FILE: one `name = value` per line, '#' comments; a `[PREFIX]` line "
     "starts the settings of the module mounted at PREFIX (see \"config file\" below)"},
    {"allow", "ADDR[/BITS]", "accept connections only from these front-end addresses (repeatable)"},
    {"allow-uid", "USER",
     "unix-socket listeners: serve only peers of this user (name or uid; repeatable; with "
     "--allow-gid, a peer of either is served)"},
    {"allow-gid", "GROUP",
     "unix-socket listeners: serve only peers of this group (name or gid; "
     "repeatable)"},
    {"trusted-proxy", "ADDR[/BITS]",
     "believe X-Forwarded-For/-Proto/-Port from these proxies (HTTP; repeatable)"},
    {"socket-mode", "OCTAL", "file mode of unix-socket listeners (default 0660)"},
    {"access-log", "TARGET", "combined-format access log: - (stderr, default), off, or a file"},
    {"status", "PATH",
     "answer requests for PATH (e.g. /postern-status) with the gateway's counters, summed over "
     "the worker processes: JSON, or Prometheus text with ?format=prometheus (default: off)"},
    {"log-level", "LEVEL", "debug, info (default), warn or error"},
    {"max-header-bytes", "N", "HTTP request line plus headers (default 65536)"},
    {"max-headers", "N", "HTTP header fields per request (default 200)"},
    {"max-params-bytes", "N", "FastCGI/SCGI/uwsgi params bytes per request (default 262144)"},
    {"max-params", "N", "FastCGI/SCGI/uwsgi name-value pairs per request (default 1000)"},
    {"max-body-bytes", "N", "request body bytes, 413 beyond (default 4294967296)"},
    {"max-connections", "N",
     "open connections per listener (default 16384); one more gets the protocol's overload "
     "answer (503, FCGI_OVERLOADED) and is closed"},
    {"read-timeout", "MS", "wait for the rest of a request once it began (default 30000)"},
    {"min-body-rate", "N",
     "request body bytes/s due after --read-timeout, 408 or a close below (default 500; 0: off)"},
    {"write-timeout", "MS", "wait for the front end to take response bytes (default 30000)"},
    {"idle-timeout", "MS", "close a kept-alive connection idle this long (default 300000)"},
    {"defer-accept", "MS",
     "TCP listeners: take a connection once its first bytes arrived, or after about this long "
     "for one that sends nothing (TCP_DEFER_ACCEPT; whole seconds, rounded up by the kernel; "
     "default 1000; 0: off)"},
    {"drain-timeout", "MS",
     "on SIGTERM, on SIGHUP and when a worker is replaced, let requests in flight finish this "
     "long (default 30000)"},
    {"graceful-timeout", "MS",
     "the same as --drain-timeout (in milliseconds, as every timeout here)"},
    {"ajp-secret", "SECRET",
     "the shared secret AJP requests must carry (mod_jk secret, mod_proxy_ajp secret=); an ajp "
     "listener needs one unless --ajp-insecure. On the command line it is readable by every "
     "local user (ps, /proc/PID/cmdline): prefer --ajp-secret-file, or ajp-secret in a "
     "--config file only postern can read"},
    {"ajp-secret-file", "FILE", "read the AJP secret from the first line of FILE"},
    {"ajp-insecure", nullptr, "accept AJP requests without a secret (not recommended)"},
    {"ajp-packet-size", "N",
     "AJP packet size, as the front end's max_packet_size / ProxyIOBufferSize (default 8192, "
     "up to 65536)"},
    {"ajp-allow-attribute", "NAME",
     "pass the AJP request attribute NAME to the application as AJP_ATTR_NAME (repeatable; "
     "others are dropped)"},
    {"help", nullptr, "print this help and exit"},
    {"version", nullptr, "print the version and exit"},
};

const OptionDef* find_option(const std::string& name) {
    for (const auto& o : kOptions)
        if (name == o.name)
            return &o;
    return nullptr;
}

/// A user or group by name or number (--allow-uid, --allow-gid).
unsigned to_id(const std::string& name, const std::string& value, bool group) {
    unsigned id = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), id);
    if (ec == std::errc() && end == value.data() + value.size())
        return id;
    std::vector<char> buf(16384);
    if (group) {
        group_t g{};
        group_t* found = nullptr;
        if (::getgrnam_r(value.c_str(), &g, buf.data(), buf.size(), &found) == 0 && found)
            return found->gr_gid;
    } else {
        passwd_t p{};
        passwd_t* found = nullptr;
        if (::getpwnam_r(value.c_str(), &p, buf.data(), buf.size(), &found) == 0 && found)
            return found->pw_uid;
    }
    throw CliError("--" + name + ": no " + (group ? "group" : "user") + " \"" + value + "\"");
}

std::uint64_t to_number(const std::string& name, const std::string& value, std::uint64_t min,
                        std::uint64_t max) {
    std::uint64_t n = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (value.empty() || ec != std::errc() || end != value.data() + value.size() || n < min ||
        n > max)
        throw CliError("--" + name + ": expected a whole number from " + std::to_string(min) +
                       " to " + std::to_string(max) + ", got \"" + value + "\"");
    return n;
}

std::pair<std::string, std::string> split_pair(const std::string& name, const std::string& value,
                                               const char* form) {
    auto eq = value.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == value.size())
        throw CliError("--" + name + ": expected " + form + ", got \"" + value + "\"");
    return {value.substr(0, eq), value.substr(eq + 1)};
}

void apply(CliConfig& cfg, const std::string& name, const std::string& value, int depth);

std::string trim(const std::string& s) {
    auto b = s.find_first_not_of(" \t\r");
    auto e = s.find_last_not_of(" \t\r");
    return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

/// A mount prefix as the router compares it: without trailing slashes.
std::string_view bare_prefix(std::string_view prefix) {
    while (!prefix.empty() && prefix.back() == '/')
        prefix.remove_suffix(1);
    return prefix;
}

void read_config(CliConfig& cfg, const std::string& file, int depth) {
    if (depth > 4)
        throw CliError("--config: files include each other too deeply (" + file + ")");
    std::ifstream in(file);
    if (!in)
        throw CliError("--config: cannot read " + file);
    std::string line;
    int lineno = 0;
    // The index in cfg.sections of the section being read; none before the
    // first section line, where lines are options.
    std::size_t section = static_cast<std::size_t>(-1);
    while (std::getline(in, line)) {
        ++lineno;
        const std::string where = file + ":" + std::to_string(lineno);
        if (auto hash = line.find('#'); hash != std::string::npos)
            line.erase(hash);
        line = trim(line);
        if (line.empty())
            continue;
        if (line[0] == '[') {
            const std::string prefix =
                line.back() == ']' ? trim(line.substr(1, line.size() - 2)) : std::string();
            if (prefix.empty() || prefix[0] != '/' ||
                prefix.find_first_of("[] \t") != std::string::npos)
                throw CliError(where + ": a section line is [PREFIX], PREFIX a mount's (e.g. " +
                               "[/api]), got \"" + line + "\"");
            section = cfg.sections.size();
            cfg.sections.push_back(MountSection{prefix, where, {}});
            continue;
        }
        if (section != static_cast<std::size_t>(-1)) {
            // A module's own setting: free text, never an option.
            const auto eq = line.find('=');
            const std::string key =
                eq == std::string::npos ? std::string() : trim(line.substr(0, eq));
            if (key.empty())
                throw CliError(where + ": expected key = value in section [" +
                               cfg.sections[section].prefix + "], got \"" + line + "\"");
            cfg.sections[section].settings.emplace_back(key, trim(line.substr(eq + 1)));
            continue;
        }
        auto sep = line.find_first_of("= \t");
        std::string name = trim(line.substr(0, sep));
        std::string value;
        if (sep != std::string::npos) {
            value = trim(line.substr(sep));
            if (!value.empty() && value[0] == '=')
                value = trim(value.substr(1));
        }
        const OptionDef* def = find_option(name);
        if (def == nullptr || name == "help" || name == "version")
            throw CliError(where + ": unknown setting \"" + name + "\"");
        if (def->arg != nullptr && value.empty())
            throw CliError(where + ": " + name + " needs a value");
        if (def->arg == nullptr && !value.empty() && value != "true")
            throw CliError(where + ": " + name + " takes no value (or \"true\")");
        try {
            apply(cfg, name, value, depth + 1);
        } catch (const CliError& e) {
            throw CliError(where + ": " + e.what());
        }
    }
}

/// Every section names a mount: a typo in a prefix would otherwise leave a
/// module running on its defaults, unseen.
void check_sections(const CliConfig& cfg) {
    for (const auto& s : cfg.sections) {
        const bool mounted = std::any_of(
            cfg.modules.begin(), cfg.modules.end(),
            [&](const auto& m) { return bare_prefix(m.first) == bare_prefix(s.prefix); });
        if (mounted)
            continue;
        std::string mounts;
        for (const auto& m : cfg.modules)
            mounts += (mounts.empty() ? "" : ", ") + m.first;
        throw CliError(s.where + ": section [" + s.prefix + "] names no mount (" +
                       (mounts.empty() ? std::string("none is given") : "mounted: " + mounts) +
                       ")");
    }
}

void apply(CliConfig& cfg, const std::string& name, const std::string& value, int depth) {
    Options& o = cfg.options;
    Limits& l = o.limits;
    using ms = std::chrono::milliseconds;
    constexpr std::uint64_t kDay = 86'400'000;
    if (name == "app") {
        cfg.modules.emplace_back("/", value);
    } else if (name == "mount") {
        auto [prefix, file] = split_pair(name, value, "PREFIX=MODULE.so");
        if (prefix[0] != '/')
            throw CliError("--mount: PREFIX must start with '/', got \"" + prefix + "\"");
        cfg.modules.emplace_back(prefix, file);
    } else if (name == "listen") {
        auto [proto, address] = split_pair(name, value, "PROTO=ADDRESS");
        o.listeners.push_back(ListenSpec{proto, address});
    } else if (name == "threads") {
        o.threads = static_cast<unsigned>(to_number(name, value, 1, 4096));
    } else if (name == "pollers") {
        o.pollers = static_cast<unsigned>(to_number(name, value, 0, 4096));
    } else if (name == "config") {
        read_config(cfg, value, depth);
    } else if (name == "allow") {
        o.allow.push_back(value);
    } else if (name == "allow-uid") {
        o.allow_uids.push_back(to_id(name, value, false));
    } else if (name == "allow-gid") {
        o.allow_gids.push_back(to_id(name, value, true));
    } else if (name == "trusted-proxy") {
        o.trusted_proxies.push_back(value);
    } else if (name == "socket-mode") {
        unsigned mode = 0;
        auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), mode, 8);
        if (ec != std::errc() || end != value.data() + value.size() || mode > 0777)
            throw CliError("--socket-mode: expected an octal mode such as 0660, got \"" + value +
                           "\"");
        o.socket_mode = mode;
    } else if (name == "access-log") {
        o.access_log = value;
    } else if (name == "status") {
        if (value.empty() || value[0] != '/' || value.find_first_of("?# ") != std::string::npos)
            throw CliError("--status: expected a path such as /postern-status, got \"" + value +
                           "\"");
        o.status_path = value;
    } else if (name == "log-level") {
        if (value != "debug" && value != "info" && value != "warn" && value != "error")
            throw CliError("--log-level: expected debug, info, warn or error, got \"" + value +
                           "\"");
        cfg.log_level = value;
    } else if (name == "max-header-bytes") {
        l.max_header_bytes = to_number(name, value, 1024, 16u << 20);
    } else if (name == "max-headers") {
        l.max_headers = to_number(name, value, 1, 10'000);
    } else if (name == "max-params-bytes") {
        l.max_params_bytes = to_number(name, value, 1024, 16u << 20);
    } else if (name == "max-params") {
        l.max_params = to_number(name, value, 16, 100'000);
    } else if (name == "max-body-bytes") {
        l.max_body_bytes = to_number(name, value, 0, UINT64_MAX >> 1);
    } else if (name == "max-connections") {
        l.max_connections = to_number(name, value, 1, 1'000'000);
    } else if (name == "read-timeout") {
        l.read_timeout = ms(to_number(name, value, 1, kDay));
    } else if (name == "min-body-rate") {
        l.min_body_rate = to_number(name, value, 0, std::uint64_t{1} << 40);
    } else if (name == "write-timeout") {
        l.write_timeout = ms(to_number(name, value, 1, kDay));
    } else if (name == "idle-timeout") {
        l.idle_timeout = ms(to_number(name, value, 1, kDay));
    } else if (name == "defer-accept") {
        l.defer_accept = ms(to_number(name, value, 0, 3'600'000));
    } else if (name == "drain-timeout" || name == "graceful-timeout") {
        o.drain_timeout = ms(to_number(name, value, 0, kDay));
    } else if (name == "processes") {
        cfg.processes = static_cast<unsigned>(to_number(name, value, 0, 1024));
    } else if (name == "max-requests") {
        cfg.max_requests = to_number(name, value, 0, UINT64_MAX >> 1);
    } else if (name == "request-timeout") {
        cfg.request_timeout = ms(to_number(name, value, 0, kDay));
    } else if (name == "worker-timeout") {
        const std::uint64_t n = to_number(name, value, 0, kDay);
        if (n != 0 && n < 1000)
            throw CliError("--worker-timeout: expected 0 (off) or at least 1000 ms, got \"" +
                           value + "\"");
        cfg.worker_timeout = ms(n);
    } else if (name == "max-requests-jitter") {
        cfg.max_requests_jitter = to_number(name, value, 0, UINT64_MAX >> 1);
    } else if (name == "ajp-secret") {
        o.ajp.secret = value;
    } else if (name == "ajp-secret-file") {
        std::ifstream in(value);
        std::string secret;
        if (!in || !std::getline(in, secret))
            throw CliError("--ajp-secret-file: cannot read a secret from " + value);
        if (!secret.empty() && secret.back() == '\r')
            secret.pop_back();
        if (secret.empty())
            throw CliError("--ajp-secret-file: " + value + " starts with an empty line");
        o.ajp.secret = secret;
    } else if (name == "ajp-insecure") {
        o.ajp.insecure = true;
    } else if (name == "ajp-packet-size") {
        o.ajp.packet_size = to_number(name, value, 8192, 65536);
    } else if (name == "ajp-allow-attribute") {
        o.ajp.allowed_attributes.push_back(value);
    } else if (name == "help") {
        cfg.help = true;
    } else if (name == "version") {
        cfg.version = true;
    }
}

}  // namespace

unsigned available_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
        return static_cast<unsigned>(CPU_COUNT(&set));
    const unsigned n = std::thread::hardware_concurrency();
    return n > 0 ? n : 1;
}

CliConfig parse_command_line(int argc, const char* const argv[]) {
    CliConfig cfg;
    bool secret_in_argv = false;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg.rfind("--", 0) != 0 || arg.size() == 2)
            throw CliError("unexpected argument \"" + arg +
                           "\" (options start with --; see --help)");
        std::string name = arg.substr(2);
        std::string value;
        bool inline_value = false;
        if (auto eq = name.find('='); eq != std::string::npos) {
            value = name.substr(eq + 1);
            name = name.substr(0, eq);
            inline_value = true;
        }
        const OptionDef* def = find_option(name);
        if (def == nullptr)
            throw CliError("unknown option --" + name + " (see --help)");
        if (def->arg == nullptr) {
            if (inline_value)
                throw CliError("--" + name + " takes no value");
        } else if (!inline_value) {
            if (i + 1 >= argc)
                throw CliError("--" + name + " needs a value: --" + name + " " + def->arg);
            value = argv[++i];
        }
        if (def->arg != nullptr && value.empty())
            throw CliError("--" + name + " needs a value: --" + name + " " + def->arg);
        secret_in_argv |= name == "ajp-secret";
        apply(cfg, name, value, 0);
    }
    if (!cfg.help && !cfg.version)
        check_sections(cfg);
    // Whatever the secret ends up being, this one sits in /proc/PID/cmdline.
    if (secret_in_argv && !cfg.help && !cfg.version && cfg.log_level != "error")
        log::warn(
            "--ajp-secret on the command line is readable by every local user (ps, "
            "/proc/PID/cmdline); use --ajp-secret-file FILE (mode 0600) instead");
    return cfg;
}

std::vector<std::pair<std::string, std::string>> mount_settings(const CliConfig& cfg,
                                                                std::string_view prefix) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& s : cfg.sections)
        if (bare_prefix(s.prefix) == bare_prefix(prefix))
            out.insert(out.end(), s.settings.begin(), s.settings.end());
    return out;
}

std::string usage() {
    std::string out =
        "usage: postern --app MODULE.so | --mount PREFIX=MODULE.so ... [--listen PROTO=ADDRESS "
        "...] [options]\n"
        "\n"
        "Postern runs C++ application callbacks (modules built with POSTERN_APP) behind nginx or\n"
        "Apache httpd, over FastCGI, HTTP or AJP13. Every option is --name VALUE or --name=VALUE; "
        "a\n"
        "--config file holds the same settings, one `name = value` per line.\n\n"
        "options:\n";
    for (const auto& o : kOptions) {
        std::string left = std::string("  --") + o.name;
        if (o.arg != nullptr)
            left += std::string(" ") + o.arg;
        if (left.size() < 34)
            left.resize(34, ' ');
        else
            left += "\n" + std::string(34, ' ');
        out += left + o.help + "\n";
    }
    out +=
        "\nprocesses:\n"
        "  A master process binds the listeners and starts the worker processes (--processes,\n"
        "  here " +
        std::to_string(available_cpus()) +
        " by default), each loading the modules (and running a POSTERN_MODULE's setup, after\n"
        "  the fork; its teardown when the worker stops); a worker that dies is logged and\n"
        "  replaced (at once if it was serving; later and later only while new workers die\n"
        "  before they serve), and so is a worker silent past --worker-timeout.\n"
        "  SIGHUP re-reads the configuration and replaces the workers gracefully; SIGTERM or\n"
        "  SIGINT lets requests in flight finish, then exits 0; SIGQUIT stops at once; SIGUSR1\n"
        "  reopens the log files (the access log, and stderr when it is a file), for logrotate.\n"
        "  Sockets passed by systemd (LISTEN_FDS) are served; READY=1 goes to NOTIFY_SOCKET.\n";
    out +=
        "\nconfig file:\n"
        "  Lines before the first section are options, as on the command line:\n"
        "      listen = fastcgi=/run/postern/app.sock\n"
        "      mount = /api=/usr/lib/postern/rest.so   # a comment\n"
        "  A line [PREFIX] starts the section of the module mounted at PREFIX; its\n"
        "  `key = value` lines (free text, no '#' in a value; `key =` gives an empty value;\n"
        "  the last of a repeated key wins) are that module's own settings, read in its\n"
        "  setup (POSTERN_MODULE) with ModuleConfig::get, not options:\n"
        "      [/api]\n"
        "      database = /var/lib/rest/items.db\n"
        "      page-size = 50\n"
        "  A section ends at the next one or at the end of the file. A section whose PREFIX\n"
        "  is not mounted is an error. SIGHUP reads the file again: the new worker\n"
        "  processes run setup with the new settings.\n";
    out +=
        "\nexamples:\n"
        "  postern --app ./hello.so --listen fastcgi=/run/postern/app.sock\n"
        "  postern --mount /app=./echo.so --listen http=127.0.0.1:8000 --threads 32\n"
        "  postern --app ./app.so --listen fastcgi=127.0.0.1:9000 --processes 4 --max-requests "
        "10000 --max-requests-jitter 1000\n"
        "  postern --app ./hello.so --listen ajp=127.0.0.1:8009 --ajp-secret-file "
        "/etc/postern/ajp.secret\n";
    return out;
}

std::span<const OptionDef> option_table() {
    return kOptions;
}

}  // namespace postern
