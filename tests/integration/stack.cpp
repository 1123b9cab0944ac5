#include "stack.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>

#include "socket_client.hpp"

namespace postern::test {

namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kStartTimeout = std::chrono::seconds(15);
constexpr auto kStopTimeout = std::chrono::seconds(10);
constexpr const char* kNginx = "/usr/sbin/nginx";
constexpr const char* kApache = "/usr/sbin/apache2";
constexpr const char* kApacheModules = "/usr/lib/apache2/modules";

std::string env_or(const char* name, const char* fallback) {
    const char* v = std::getenv(name);
    return v != nullptr && *v != '\0' ? std::string(v) : std::string(fallback);
}

std::string loopback(int port) {
    return "127.0.0.1:" + std::to_string(port);
}

/// The tails of a process's logs, for a failure message.
std::string tails(const std::vector<std::string>& logs) {
    std::string out;
    for (const auto& log : logs) {
        out += "\n---- " + log + " ends with:\n" + tail_file(log);
    }
    return out;
}

/// Waits until `process` accepts connections on every address, failing fast
/// (with its logs) if it exits first.
void wait_ready(Process& process, const std::vector<std::string>& addresses,
                const std::vector<std::string>& logs, const std::string& what) {
    const auto deadline = Clock::now() + kStartTimeout;
    for (const auto& address : addresses) {
        for (;;) {
            if (!process.running()) {
                throw std::runtime_error(what + " exited before listening on " + address + " (" +
                                         describe_wait_status(process.stop(kStopTimeout)) + ")" +
                                         tails(logs));
            }
            if (wait_for_listener(address, std::chrono::milliseconds(200)))
                break;
            if (Clock::now() > deadline) {
                process.stop(kStopTimeout);
                throw std::runtime_error(what + " did not listen on " + address + " within " +
                                         std::to_string(kStartTimeout.count()) + " s" +
                                         tails(logs));
            }
        }
    }
}

void require_executable(const std::string& path, const std::string& what) {
    if (::access(path.c_str(), X_OK) != 0) {
        throw std::runtime_error(what + " is not installed (" + path + " missing)");
    }
}

std::string stop_problem(const std::string& what, int status, bool must_exit_zero) {
    const bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (clean || (!must_exit_zero && WIFEXITED(status)))
        return {};
    return what + " " + describe_wait_status(status) + " on SIGTERM";
}

}  // namespace

std::string source_dir() {
    return env_or("POSTERN_SOURCE_DIR", POSTERN_TEST_SOURCE_DIR);
}
std::string binary_dir() {
    return env_or("POSTERN_BINARY_DIR", POSTERN_TEST_BINARY_DIR);
}

void PrintTo(const Topology& t, std::ostream* os) {
    *os << t.name;
}

const std::vector<Topology>& all_topologies() {
    static const std::vector<Topology> list{
        {"direct_http", FrontEnd::direct, "http", false},
        {"nginx_fastcgi_tcp", FrontEnd::nginx, "fastcgi", false},
        {"nginx_fastcgi_unix", FrontEnd::nginx, "fastcgi", true},
        {"nginx_http_tcp", FrontEnd::nginx, "http", false},
        {"nginx_http_unix", FrontEnd::nginx, "http", true},
        {"apache_fcgi_tcp", FrontEnd::apache, "fastcgi", false},
        {"apache_fcgi_unix", FrontEnd::apache, "fastcgi", true},
        {"apache_http_tcp", FrontEnd::apache, "http", false},
        {"apache_http_unix", FrontEnd::apache, "http", true},
    };
    return list;
}

// ---------------------------------------------------------------- Gateway

Gateway::Gateway(const TempDir& dir, std::string name, const Config& config)
    : dir_(dir.subdir(name)), log_path_(dir_ + "/postern.log") {
    const std::string exe = binary_dir() + "/bin/postern";
    require_executable(exe, "the postern executable (build it first)");
    std::vector<std::string> argv{exe};
    for (const auto& mount : config.mounts) {
        const auto eq = mount.find('=');
        argv.push_back("--mount");
        argv.push_back(mount.substr(0, eq) + "=" + binary_dir() + "/examples/" +
                       mount.substr(eq + 1) + ".so");
    }
    std::vector<std::string> addresses;
    for (const std::string protocol : {"fastcgi", "http"}) {
        ports_[protocol] = free_port();
        sockets_[protocol] = dir_ + "/" + protocol + ".sock";
        for (const bool unix_socket : {false, true}) {
            addresses.push_back(address(protocol, unix_socket));
            argv.push_back("--listen");
            argv.push_back(protocol + "=" + addresses.back());
        }
    }
    // nginx and Apache workers run as nobody when the tests run as root.
    argv.insert(argv.end(),
                {"--socket-mode", "0666", "--threads", "32", "--access-log", dir_ + "/access.log"});
    argv.insert(argv.end(), config.extra_args.begin(), config.extra_args.end());
    process_.start(argv, config.env, log_path_);
    wait_ready(process_, addresses, {log_path_}, "postern");
}

Gateway::~Gateway() {
    process_.stop(kStopTimeout);
}

std::string Gateway::address(const std::string& protocol, bool unix_socket) const {
    return unix_socket ? sockets_.at(protocol) : loopback(ports_.at(protocol));
}

int Gateway::port(const std::string& protocol) const {
    return ports_.at(protocol);
}

int Gateway::stop() {
    return process_.stop(kStopTimeout);
}

// ---------------------------------------------------------------- Nginx

Nginx::Nginx(const TempDir& dir, const std::string& name, const std::string& snippet,
             const std::map<std::string, std::string>& values) {
    require_executable(kNginx, "nginx");
    const std::string d = dir.subdir("nginx-" + name);
    port_ = free_port();
    error_log_ = d + "/error.log";

    auto site_values = values;
    site_values["LISTEN"] = loopback(port_);
    write_file(d + "/site.conf",
               render_template(source_dir() + "/nginx-conf/" + snippet, site_values));
    // The snippets include it by a relative name, resolved against the
    // directory of nginx.conf.
    std::filesystem::copy_file(source_dir() + "/nginx-conf/postern_fastcgi_params",
                               d + "/postern_fastcgi_params");
    write_file(d + "/nginx.conf",
               render_template(source_dir() + "/tests/integration/conf/nginx.conf.in",
                               {{"DIR", d},
                                {"USER_LINE", ::geteuid() == 0 ? "user nobody nogroup;" : ""},
                                {"SNIPPET", d + "/site.conf"}}));
    process_.start({kNginx, "-p", d + "/", "-c", d + "/nginx.conf", "-e", error_log_}, {},
                   d + "/stderr.log");
    wait_ready(process_, {loopback(port_)}, {error_log_, d + "/stderr.log"},
               "nginx (" + name + ")");
}

Nginx::~Nginx() {
    process_.stop(kStopTimeout);
}

int Nginx::stop() {
    return process_.stop(kStopTimeout);
}

// ---------------------------------------------------------------- Apache

Apache::Apache(const TempDir& dir, const std::vector<Site>& sites) {
    require_executable(kApache, "Apache httpd");
    const std::string d = dir.subdir("apache");
    error_log_ = d + "/error.log";
    std::string listen_lines;
    std::vector<std::string> addresses;
    for (const auto& site : sites) {
        const int port = free_port();
        ports_[site.name] = port;
        addresses.push_back(loopback(port));
        listen_lines += "Listen " + loopback(port) + "\n";
        auto values = site.values;
        values["LISTEN"] = loopback(port);
        write_file(d + "/site-" + site.name + ".conf",
                   render_template(source_dir() + "/apache-conf/" + site.snippet, values));
    }
    write_file(
        d + "/httpd.conf",
        render_template(source_dir() + "/tests/integration/conf/httpd.conf.in",
                        {{"DIR", d},
                         {"MODULES", kApacheModules},
                         {"USER_LINES", ::geteuid() == 0 ? "User nobody\nGroup nogroup" : ""},
                         {"LISTEN_LINES", listen_lines}}));
    process_.start({kApache, "-d", d, "-f", d + "/httpd.conf", "-DFOREGROUND"}, {},
                   d + "/stderr.log");
    wait_ready(process_, addresses, {error_log_, d + "/stderr.log"}, "Apache");
}

Apache::~Apache() {
    process_.stop(kStopTimeout);
}

int Apache::stop() {
    return process_.stop(kStopTimeout);
}

// ---------------------------------------------------------------- Stack

Stack::Stack() : dir_("postern-it") {
    Gateway::Config config;
    config.mounts = {"/app=echo",      "/hello=hello",      "/doc=doc",
                     "/stream=stream", "/stream/echo=echo", "/f=faults"};
    // The doc module serves its bundled page (POSTERN_DOC unset or empty).
    config.env = {"POSTERN_DOC="};
    // X-Forwarded-* from nginx and Apache on loopback are believed.
    config.extra_args = {"--trusted-proxy", "127.0.0.1"};
    logs_.push_back(dir_.path() + "/gateway/postern.log");
    gateway_ = std::make_unique<Gateway>(dir_, "gateway", config);
}

Stack::~Stack() {
    stop();
}

Stack::Endpoint Stack::endpoint(const Topology& t) {
    const std::string protocol = t.protocol;
    switch (t.front_end) {
        case FrontEnd::direct:
            return {gateway_->address("http", false), gateway_->port("http")};
        case FrontEnd::nginx: {
            auto& nginx = nginx_[t.name];
            if (!nginx) {
                const std::string target = gateway_->address(protocol, t.unix_socket);
                const std::string upstream = t.unix_socket ? "unix:" + target : target;
                const bool fcgi = protocol == "fastcgi";
                logs_.push_back(dir_.path() + "/nginx-" + t.name + "/error.log");
                logs_.push_back(dir_.path() + "/nginx-" + t.name + "/stderr.log");
                nginx = std::make_unique<Nginx>(
                    dir_, t.name, fcgi ? "postern-fastcgi.conf" : "postern-http.conf",
                    std::map<std::string, std::string>{
                        {fcgi ? "POSTERN_FASTCGI" : "POSTERN_HTTP", upstream}});
            }
            return {loopback(nginx->port()), nginx->port()};
        }
        case FrontEnd::apache: {
            if (!apache_) {
                // One Apache serves every Apache topology, a virtual host each.
                std::vector<Apache::Site> sites;
                for (const auto& other : all_topologies()) {
                    if (other.front_end != FrontEnd::apache)
                        continue;
                    const std::string p = other.protocol;
                    const bool fcgi = p == "fastcgi";
                    const std::string scheme = fcgi ? "fcgi" : "http";
                    const std::string url =
                        other.unix_socket
                            ? "unix:" + gateway_->address(p, true) + "|" + scheme + "://localhost"
                            : scheme + "://" + gateway_->address(p, false);
                    sites.push_back({other.name,
                                     fcgi ? "postern-proxy-fcgi.conf" : "postern-proxy-http.conf",
                                     {{fcgi ? "POSTERN_FASTCGI" : "POSTERN_HTTP", url}}});
                }
                logs_.push_back(dir_.path() + "/apache/error.log");
                logs_.push_back(dir_.path() + "/apache/stderr.log");
                apache_ = std::make_unique<Apache>(dir_, sites);
            }
            const int port = apache_->port(t.name);
            return {loopback(port), port};
        }
    }
    throw std::logic_error("unknown front end");
}

std::vector<std::string> Stack::stop() {
    std::vector<std::string> problems;
    for (auto& [name, nginx] : nginx_) {
        if (!nginx)
            continue;
        if (auto p = stop_problem("nginx (" + name + ")", nginx->stop(), false); !p.empty()) {
            problems.push_back(p);
        }
    }
    nginx_.clear();
    if (apache_) {
        if (auto p = stop_problem("Apache", apache_->stop(), false); !p.empty())
            problems.push_back(p);
        apache_.reset();
    }
    if (gateway_) {
        // SIGTERM drains and exits 0: part of the contract under test.
        if (auto p = stop_problem("postern", gateway_->stop(), true); !p.empty())
            problems.push_back(p);
        gateway_.reset();
    }
    return problems;
}

std::string Stack::log_tails() const {
    std::string out;
    for (const auto& log : logs_) {
        const std::string tail = tail_file(log, 25);
        if (tail.empty())
            continue;
        out += "==== " + log + " (last lines) ====\n" + tail;
        if (out.back() != '\n')
            out += '\n';
    }
    return out;
}

}  // namespace postern::test
