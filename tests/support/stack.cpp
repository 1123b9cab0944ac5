#include "stack.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
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

/// The modules an apache-conf/ snippet needs (its "Needs mod_..." line),
/// by the name in their LoadModule line without "_module".
std::vector<const char*> modules_for(const std::string& snippet) {
    static const std::map<std::string, std::vector<const char*>> table{
        {"postern-proxy-fcgi.conf", {"proxy", "proxy_fcgi"}},
        // mod_headers sets X-Forwarded-Proto and -Port.
        {"postern-proxy-http.conf", {"proxy", "proxy_http", "headers"}},
        {"postern-proxy-ajp.conf", {"proxy", "proxy_ajp"}},
        {"postern-proxy-balancer.conf",
         {"proxy", "proxy_ajp", "slotmem_shm", "proxy_balancer", "lbmethod_byrequests"}},
        {"postern-mod-jk.conf", {"jk"}},
        {"postern-jk-balancer.conf", {"jk"}},
        {"postern-proxy-scgi.conf", {"proxy", "proxy_scgi"}},
        {"postern-proxy-uwsgi.conf", {"proxy", "proxy_uwsgi"}},
        {"postern-cgi.conf", {"alias", "env", "cgid"}},
    };
    const auto it = table.find(snippet);
    if (it == table.end())
        throw std::logic_error("stack.cpp does not know the modules " + snippet + " needs");
    // mod_authz_host: the snippets hold /postern-status to 127.0.0.1
    // (Require ip), and a suite's added lines may deny by address too.
    std::vector<const char*> modules = it->second;
    modules.push_back("authz_host");
    return modules;
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
        {"direct_http", FrontEnd::direct, "http", false, nullptr},
        {"nginx_fastcgi_tcp", FrontEnd::nginx, "fastcgi", false, "postern-fastcgi.conf"},
        {"nginx_fastcgi_unix", FrontEnd::nginx, "fastcgi", true, "postern-fastcgi.conf"},
        {"nginx_http_tcp", FrontEnd::nginx, "http", false, "postern-http.conf"},
        {"nginx_http_unix", FrontEnd::nginx, "http", true, "postern-http.conf"},
        {"apache_fcgi_tcp", FrontEnd::apache, "fastcgi", false, "postern-proxy-fcgi.conf"},
        {"apache_fcgi_unix", FrontEnd::apache, "fastcgi", true, "postern-proxy-fcgi.conf"},
        {"apache_http_tcp", FrontEnd::apache, "http", false, "postern-proxy-http.conf"},
        {"apache_http_unix", FrontEnd::apache, "http", true, "postern-proxy-http.conf"},
    };
    return list;
}

const std::vector<Topology>& shipped_topologies() {
    static const std::vector<Topology> list{
        {"direct_http", FrontEnd::direct, "http", false, nullptr},
        {"nginx_fastcgi", FrontEnd::nginx, "fastcgi", false, "postern-fastcgi.conf"},
        {"nginx_http", FrontEnd::nginx, "http", false, "postern-http.conf"},
        {"nginx_scgi", FrontEnd::nginx, "scgi", false, "postern-scgi.conf"},
        {"nginx_uwsgi", FrontEnd::nginx, "uwsgi", false, "postern-uwsgi.conf"},
        {"apache_proxy_fcgi", FrontEnd::apache, "fastcgi", false, "postern-proxy-fcgi.conf"},
        {"apache_proxy_http", FrontEnd::apache, "http", false, "postern-proxy-http.conf"},
        {"apache_mod_jk", FrontEnd::apache, "ajp", false, "postern-mod-jk.conf"},
        {"apache_proxy_ajp", FrontEnd::apache, "ajp", false, "postern-proxy-ajp.conf"},
        {"apache_proxy_scgi", FrontEnd::apache, "scgi", false, "postern-proxy-scgi.conf"},
        {"apache_proxy_uwsgi", FrontEnd::apache, "uwsgi", false, "postern-proxy-uwsgi.conf"},
        {"apache_cgi", FrontEnd::apache, "cgi", false, "postern-cgi.conf"},
    };
    return list;
}

const std::vector<Topology>& pool_topologies() {
    static const std::vector<Topology> list{
        {"nginx_fastcgi_pool", FrontEnd::nginx, "fastcgi", false, "postern-fastcgi-pool.conf"},
        {"nginx_http_pool", FrontEnd::nginx, "http", false, "postern-http-pool.conf"},
        {"apache_proxy_balancer", FrontEnd::apache, "ajp", false, "postern-proxy-balancer.conf"},
        {"apache_jk_balancer", FrontEnd::apache, "ajp", false, "postern-jk-balancer.conf"},
    };
    return list;
}

/// `text` with `lines` inserted before the last occurrence of `closing`.
std::string insert_before_last(std::string text, const std::string& closing,
                               const std::string& lines) {
    if (lines.empty())
        return text;
    const auto at = text.rfind(closing);
    if (at == std::string::npos)
        throw std::logic_error("rendered snippet has no \"" + closing + "\"");
    text.insert(at, lines + "\n");
    return text;
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
    for (const std::string& protocol : config.protocols) {
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
    if (!config.ajp_secret.empty())
        argv.insert(argv.end(), {"--ajp-secret", config.ajp_secret});
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
             const std::map<std::string, std::string>& values, const std::string& server_lines) {
    require_executable(kNginx, "nginx");
    const std::string d = dir.subdir("nginx-" + name);
    port_ = free_port();
    error_log_ = d + "/error.log";

    auto site_values = values;
    site_values["LISTEN"] = loopback(port_);
    // The snippet's server{} block is its last one, closed by its last '}'.
    write_file(
        d + "/site.conf",
        insert_before_last(render_template(source_dir() + "/nginx-conf/" + snippet, site_values),
                           "}", server_lines));
    // The snippets include theirs by a relative name, resolved against the
    // directory of nginx.conf.
    for (const char* params :
         {"postern_fastcgi_params", "postern_scgi_params", "postern_uwsgi_params"}) {
        std::filesystem::copy_file(source_dir() + "/nginx-conf/" + params, d + "/" + params,
                                   std::filesystem::copy_options::overwrite_existing);
    }
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

Apache::Apache(const TempDir& dir, const std::vector<Site>& sites, const std::string& name)
    : dir_(dir.subdir(name)), error_log_(dir_ + "/error.log") {
    require_executable(kApache, "Apache httpd");
    const std::string& d = dir_;
    std::string listen_lines;
    std::vector<std::string> addresses;
    std::vector<std::string> modules;
    for (const auto& site : sites) {
        const int port = free_port();
        ports_[site.name] = port;
        addresses.push_back(loopback(port));
        listen_lines += "Listen " + loopback(port) + "\n";
        auto values = site.values;
        values["LISTEN"] = loopback(port);
        write_file(d + "/site-" + site.name + ".conf",
                   insert_before_last(
                       render_template(source_dir() + "/apache-conf/" + site.snippet, values),
                       "</VirtualHost>", site.vhost_lines));
        for (const char* m : modules_for(site.snippet)) {
            if (std::find(modules.begin(), modules.end(), m) == modules.end())
                modules.emplace_back(m);
        }
    }
    std::string module_lines;
    for (const auto& m : modules) {
        module_lines += "LoadModule " + m + "_module \"" + kApacheModules + "/mod_" + m + ".so\"\n";
    }
    write_file(
        d + "/httpd.conf",
        render_template(source_dir() + "/tests/integration/conf/httpd.conf.in",
                        {{"DIR", d},
                         {"MODULES", kApacheModules},
                         {"USER_LINES", ::geteuid() == 0 ? "User nobody\nGroup nogroup" : ""},
                         {"MODULE_LINES", module_lines},
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

const char* Stack::ajp_secret() noexcept {
    return "it-s3cret-0123456789";
}

Stack::Stack(std::vector<Topology> topologies) : Stack(std::move(topologies), Options{}) {}

Stack::Stack(std::vector<Topology> topologies, Options options)
    : topologies_(std::move(topologies)), options_(std::move(options)), dir_("postern-it") {
    auto in_dir = [&](std::string text) {
        for (std::size_t at; (at = text.find("@DIR@")) != std::string::npos;)
            text.replace(at, 5, dir_.path());
        return text;
    };
    for (auto& arg : options_.gateway_args)
        arg = in_dir(arg);
    for (auto& entry : options_.gateway_env)
        entry = in_dir(entry);
    for (const auto& [name, content] : options_.files)
        write_file(dir_.file(name), in_dir(content));
    Gateway::Config config;
    config.mounts = {"/app=echo",      "/hello=hello",      "/doc=doc",
                     "/stream=stream", "/stream/echo=echo", "/f=faults"};
    config.mounts.insert(config.mounts.end(), options_.gateway_mounts.begin(),
                         options_.gateway_mounts.end());
    config.protocols = {"fastcgi", "http", "ajp", "scgi", "uwsgi"};
    config.ajp_secret = ajp_secret();
    // The doc module serves its bundled page (POSTERN_DOC unset or empty).
    config.env = {"POSTERN_DOC="};
    for (const auto& entry : options_.gateway_env) {
        const std::string name = entry.substr(0, entry.find('=') + 1);
        std::erase_if(config.env, [&](const std::string& e) { return e.starts_with(name); });
        config.env.push_back(entry);
    }
    // X-Forwarded-* from nginx and Apache on loopback are believed.
    config.extra_args = {"--trusted-proxy", "127.0.0.1"};
    config.extra_args.insert(config.extra_args.end(), options_.gateway_args.begin(),
                             options_.gateway_args.end());
    logs_.push_back(dir_.path() + "/gateway/postern.log");
    gateway_ = std::make_unique<Gateway>(dir_, "gateway", config);
}

Stack::~Stack() {
    stop();
}

Stack::Endpoint Stack::endpoint(const std::string& topology_name) {
    for (const auto& t : topologies_) {
        if (topology_name == t.name)
            return endpoint(t);
    }
    throw std::logic_error("the stack was not made for " + topology_name);
}

Stack::Endpoint Stack::endpoint(const Topology& t) {
    if (std::none_of(topologies_.begin(), topologies_.end(),
                     [&](const Topology& o) { return std::string(o.name) == t.name; })) {
        throw std::logic_error(std::string("the stack was not made for ") + t.name);
    }
    const std::string protocol = t.protocol;
    switch (t.front_end) {
        case FrontEnd::direct:
            return {gateway_->address("http", false), gateway_->port("http")};
        case FrontEnd::nginx: {
            auto& nginx = nginx_[t.name];
            if (!nginx) {
                // postern-fastcgi.conf fills POSTERN_FASTCGI, and so on.
                std::string placeholder = "POSTERN_" + protocol;
                std::transform(placeholder.begin(), placeholder.end(), placeholder.begin(),
                               [](unsigned char c) { return std::toupper(c); });
                const std::string target = gateway_->address(protocol, t.unix_socket);
                logs_.push_back(dir_.path() + "/nginx-" + t.name + "/error.log");
                logs_.push_back(dir_.path() + "/nginx-" + t.name + "/stderr.log");
                const std::string value = t.unix_socket ? "unix:" + target : target;
                std::map<std::string, std::string> values{{placeholder, value}};
                // A pool snippet's two members: the one gateway, twice.
                if (std::string(t.snippet).find("-pool.conf") != std::string::npos)
                    values = {{placeholder + "_1", value}, {placeholder + "_2", value}};
                nginx = std::make_unique<Nginx>(dir_, t.name, t.snippet, values,
                                                options_.nginx_server_lines);
            }
            return {loopback(nginx->port()), nginx->port()};
        }
        case FrontEnd::apache: {
            const std::size_t index = apache_of(t);
            if (!apaches_[index])
                start_apache(index);
            const int port = apaches_[index]->port(t.name);
            return {loopback(port), port};
        }
    }
    throw std::logic_error("unknown front end");
}

namespace {

bool is_mod_jk(const Topology& t) {
    const std::string snippet = t.snippet != nullptr ? t.snippet : "";
    return snippet == "postern-mod-jk.conf" || snippet == "postern-jk-balancer.conf";
}

}  // namespace

std::size_t Stack::apache_of(const Topology& t) const {
    if (!is_mod_jk(t))
        return 0;
    std::size_t jk = 0;
    for (const auto& o : topologies_) {
        if (o.front_end != FrontEnd::apache || !is_mod_jk(o))
            continue;
        if (std::string(o.name) == t.name)
            return jk;
        ++jk;
    }
    throw std::logic_error(std::string("the stack was not made for ") + t.name);
}

void Stack::start_apache(std::size_t index) {
    // One Apache serves the Apache topologies of the stack, a virtual host
    // each; mod_jk's settings are server-wide, so every mod_jk topology after
    // the first gets an Apache of its own (apache-2, apache-3, ...).
    const std::string name = index == 0 ? "apache" : "apache-" + std::to_string(index + 1);
    const std::string d = dir_.path() + "/" + name;
    std::vector<Apache::Site> sites;
    for (const auto& t : topologies_) {
        if (t.front_end != FrontEnd::apache || apache_of(t) != index)
            continue;
        const std::string p = t.protocol;
        const std::string snippet = t.snippet;
        // A mod_proxy URL: scheme://HOST:PORT, or unix:PATH|scheme://localhost.
        auto url = [&](const std::string& scheme) {
            return t.unix_socket
                       ? "unix:" + gateway_->address(p, true) + "|" + scheme + "://localhost"
                       : scheme + "://" + gateway_->address(p, false);
        };
        const std::string secret =
            t.front_end_secret != nullptr ? t.front_end_secret : ajp_secret();
        std::map<std::string, std::string> values;
        if (snippet == "postern-proxy-fcgi.conf") {
            values = {{"POSTERN_FASTCGI", url("fcgi")}};
        } else if (snippet == "postern-proxy-http.conf") {
            values = {{"POSTERN_HTTP", url("http")}};
        } else if (snippet == "postern-proxy-scgi.conf") {
            values = {{"POSTERN_SCGI", url("scgi")}};
        } else if (snippet == "postern-proxy-uwsgi.conf") {
            values = {{"POSTERN_UWSGI", url("uwsgi")}};
        } else if (snippet == "postern-proxy-ajp.conf") {
            values = {{"POSTERN_AJP", url("ajp")}, {"AJP_SECRET", secret}};
        } else if (snippet == "postern-mod-jk.conf") {
            const std::string workers = dir_.file("workers-" + std::string(t.name) + ".properties");
            write_file(workers,
                       render_template(source_dir() + "/apache-conf/postern-workers.properties",
                                       {{"POSTERN_AJP_HOST", "127.0.0.1"},
                                        {"POSTERN_AJP_PORT", std::to_string(gateway_->port("ajp"))},
                                        {"AJP_SECRET", secret}}));
            values = {{"JK_WORKERS_FILE", workers},
                      {"JK_SHM_FILE", d + "/jk.shm"},
                      {"JK_LOG_FILE", d + "/mod_jk.log"}};
            logs_.push_back(d + "/mod_jk.log");
        } else if (snippet == "postern-proxy-balancer.conf") {
            values = {{"POSTERN_AJP_1", url("ajp")},
                      {"POSTERN_AJP_2", url("ajp")},
                      {"AJP_SECRET", secret}};
        } else if (snippet == "postern-jk-balancer.conf") {
            const std::string workers = dir_.file("workers-" + std::string(t.name) + ".properties");
            const std::string port = std::to_string(gateway_->port("ajp"));
            write_file(workers,
                       render_template(
                           source_dir() + "/apache-conf/postern-jk-balancer-workers.properties",
                           {{"POSTERN_AJP_HOST_1", "127.0.0.1"},
                            {"POSTERN_AJP_PORT_1", port},
                            {"POSTERN_AJP_HOST_2", "127.0.0.1"},
                            {"POSTERN_AJP_PORT_2", port},
                            {"AJP_SECRET", secret}}));
            values = {{"JK_WORKERS_FILE", workers},
                      {"JK_SHM_FILE", d + "/jk.shm"},
                      {"JK_LOG_FILE", d + "/mod_jk.log"}};
            logs_.push_back(d + "/mod_jk.log");
        } else if (snippet == "postern-cgi.conf") {
            // The CGI build, not the gateway: Apache runs postern-cgi with
            // the module for each request under the prefix (/app=echo).
            const std::string mount = t.cgi_mount;
            const auto eq = mount.find('=');
            values = {
                {"PREFIX", mount.substr(0, eq)},
                {"POSTERN_CGI", binary_dir() + "/bin/postern-cgi"},
                {"POSTERN_MODULE", binary_dir() + "/examples/" + mount.substr(eq + 1) + ".so"}};
        } else {
            throw std::logic_error("the stack cannot render " + snippet);
        }
        sites.push_back({t.name, snippet, std::move(values), options_.apache_vhost_lines});
    }
    logs_.push_back(d + "/error.log");
    logs_.push_back(d + "/stderr.log");
    apaches_[index] = std::make_unique<Apache>(dir_, sites, name);
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
    for (auto& [index, apache] : apaches_) {
        if (!apache)
            continue;
        if (auto p = stop_problem("Apache", apache->stop(), false); !p.empty())
            problems.push_back(p);
    }
    apaches_.clear();
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
