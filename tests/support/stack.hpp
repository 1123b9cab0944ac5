// Integration tests: the processes under test. A Gateway is the real
// `postern` executable serving the example modules; Nginx and Apache run
// the snippets from nginx-conf/ and apache-conf/ exactly as shipped, with
// their placeholders filled in; a Stack puts them together for the
// topologies a suite asks for (all_topologies(), shipped_topologies()).
// Everything lives in one temporary directory and is stopped by the object
// that started it.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "process.hpp"

namespace postern::test {

/// The source and build trees (CTest sets POSTERN_SOURCE_DIR and
/// POSTERN_BINARY_DIR; the paths compiled in serve a direct run).
std::string source_dir();
std::string binary_dir();

enum class FrontEnd { direct, nginx, apache };

/// One way a client reaches the gateway.
struct Topology {
    const char* name;    ///< a test-name suffix: "nginx_fastcgi_tcp"
    FrontEnd front_end;  ///< direct: the client talks to the gateway itself
    /// What the gateway receives: "fastcgi", "http", "scgi", "uwsgi", "ajp",
    /// or "cgi" (postern-cgi, run by Apache per request; no gateway).
    const char* protocol;
    bool unix_socket;  ///< front end -> gateway over a unix socket
    /// The shipped snippet rendered for it, in nginx-conf/ or apache-conf/
    /// ("postern-mod-jk.conf"); nullptr for direct.
    const char* snippet;
    /// ajp: the secret the front end sends when it is not the gateway's
    /// (Stack::ajp_secret()), for a site the gateway must refuse.
    const char* front_end_secret = nullptr;
    /// cgi: the one mount postern-cgi serves, "PREFIX=MODULE" (a module of
    /// the build's examples directory).
    const char* cgi_mount = "/app=echo";
};
void PrintTo(const Topology& t, std::ostream* os);

/// The FastCGI and HTTP topologies (TCP and unix socket, nginx and Apache),
/// and direct HTTP.
const std::vector<Topology>& all_topologies();

/// One topology per snippet the project ships for a single gateway, over
/// TCP: nginx with FastCGI, HTTP, SCGI and uwsgi; Apache with
/// mod_proxy_fcgi, mod_proxy_http, mod_jk, mod_proxy_ajp, mod_proxy_scgi,
/// mod_proxy_uwsgi and CGI (ScriptAlias to postern-cgi with the echo module
/// at /app: the only path it serves); and direct HTTP, first.
const std::vector<Topology>& shipped_topologies();

/// The snippets for a pool of gateways, over TCP, each member of the pool
/// being the stack's one gateway: nginx with postern-fastcgi-pool.conf and
/// postern-http-pool.conf, Apache with postern-proxy-balancer.conf and
/// postern-jk-balancer.conf. mod_jk's settings are server-wide: a Stack
/// gives every mod_jk topology after its first an Apache of its own.
const std::vector<Topology>& pool_topologies();

/// The real `postern` executable, with one TCP and one unix-socket listener
/// per protocol of Config::protocols, started in the constructor and ready
/// when it returns (every listener accepts). Throws std::runtime_error with
/// the tail of its log when it cannot start.
class Gateway {
  public:
    struct Config {
        /// "PREFIX=NAME": NAME.so from the build's examples directory.
        std::vector<std::string> mounts;
        std::vector<std::string> env;
        std::vector<std::string> extra_args;
        /// Listened on over TCP and a unix socket each.
        std::vector<std::string> protocols = {"fastcgi", "http"};
        /// --ajp-secret, when protocols holds "ajp".
        std::string ajp_secret;
    };
    Gateway(const TempDir& dir, std::string name, const Config& config);
    ~Gateway();

    /// Where --access-log writes.
    std::string access_log_path() const { return dir_ + "/access.log"; }
    /// "127.0.0.1:PORT" or the unix-socket path of a listener.
    std::string address(const std::string& protocol, bool unix_socket) const;
    int port(const std::string& protocol) const;
    Process& process() noexcept { return process_; }
    const std::string& log_path() const noexcept { return log_path_; }
    /// SIGTERM, then waits (bounded); returns the wait status.
    int stop();

  private:
    std::string dir_;
    std::string log_path_;
    std::map<std::string, int> ports_;
    std::map<std::string, std::string> sockets_;
    Process process_;
};

/// One nginx (master and 2 workers) serving one rendered snippet on a free
/// loopback port, with nginx-conf/'s params files next to its nginx.conf
/// (the snippets include theirs by a relative name).
class Nginx {
  public:
    /// `server_lines`: added inside the snippet's (last) server{} block.
    Nginx(const TempDir& dir, const std::string& name, const std::string& snippet,
          const std::map<std::string, std::string>& values, const std::string& server_lines = {});
    ~Nginx();
    int port() const noexcept { return port_; }
    const std::string& error_log() const noexcept { return error_log_; }
    int stop();

  private:
    int port_ = 0;
    std::string error_log_;
    Process process_;
};

/// One Apache (mpm_event) serving several rendered snippets, each as a
/// virtual host on a free loopback port of its own. It loads the modules the
/// snippets need, and no others (an unknown snippet is a std::logic_error).
/// Ready when the constructor returns (every virtual host accepts).
/// Its files are in the subdirectory `name` of `dir`.
class Apache {
  public:
    struct Site {
        std::string name;
        std::string snippet;                        ///< file name in apache-conf/
        std::map<std::string, std::string> values;  ///< besides @LISTEN@
        /// Added inside the snippet's <VirtualHost>, after its own lines.
        std::string vhost_lines = {};
    };
    Apache(const TempDir& dir, const std::vector<Site>& sites, const std::string& name = "apache");
    ~Apache();
    int port(const std::string& site) const { return ports_.at(site); }
    const std::string& error_log() const noexcept { return error_log_; }
    int stop();

  private:
    std::string dir_;
    std::map<std::string, int> ports_;
    std::string error_log_;
    Process process_;
};

/// A gateway serving the example modules, and the front ends in front of it,
/// started on demand: a test run that needs one topology starts one front
/// end (one nginx per topology; one Apache for all the Apache topologies of
/// the stack, a virtual host each, but a second mod_jk topology gets an
/// Apache of its own, as mod_jk's settings are server-wide). A stack of no
/// topologies is a gateway alone. Mounts: /app=echo, /hello=hello,
/// /doc=doc, /stream=stream, /stream/echo=echo (echo under the front ends'
/// streaming location, where request bodies are not buffered), /f=faults.
/// The gateway listens on every protocol (TCP and unix socket each; AJP with
/// ajp_secret()).
class Stack {
  public:
    /// What a suite adds to the stack's defaults.
    struct Options {
        /// Appended to the gateway's command line ("--status", "/x").
        std::vector<std::string> gateway_args;
        /// The gateway's environment, "NAME=VALUE", over the stack's own
        /// (POSTERN_DOC=, the doc module's bundled page).
        std::vector<std::string> gateway_env;
        /// Mounts beside the stack's own, as Gateway::Config::mounts
        /// ("/api=rest": build/examples/rest.so).
        std::vector<std::string> gateway_mounts;
        /// Files written into the stack's directory before the gateway
        /// starts (a --config file): name, content.
        std::vector<std::pair<std::string, std::string>> files;
        /// In gateway_args, gateway_env and files' contents, "@DIR@" stands
        /// for the stack's directory.
        /// Added inside every rendered nginx server{} block, after the
        /// snippet's own lines ("location /hello { deny all; }").
        std::string nginx_server_lines;
        /// Added inside every rendered Apache <VirtualHost>, after the
        /// snippet's own lines.
        std::string apache_vhost_lines;
    };

    /// `topologies`: the ones endpoint() may be asked for.
    explicit Stack(std::vector<Topology> topologies = all_topologies());
    Stack(std::vector<Topology> topologies, Options options);
    ~Stack();

    struct Endpoint {
        std::string address;  ///< what the client connects to: "127.0.0.1:PORT"
        int port;             ///< the port the client sees (SERVER_PORT)
    };
    /// Starts the topology's front end if it is not running yet. Throws
    /// std::logic_error for a topology the stack was not made for.
    Endpoint endpoint(const Topology& t);
    /// The same, for the stack's topology of that name.
    Endpoint endpoint(const std::string& topology_name);
    Gateway& gateway() noexcept { return *gateway_; }
    const TempDir& dir() const noexcept { return dir_; }
    /// The AJP secret shared by the gateway, mod_jk and mod_proxy_ajp.
    static const char* ajp_secret() noexcept;
    /// Leaves the temporary directory (configs, logs) on disk.
    void keep_dir() noexcept { dir_.keep(); }

    /// Stops the front ends, then the gateway; returns what went wrong
    /// ("postern exited 1 on SIGTERM"), empty when all stopped cleanly.
    std::vector<std::string> stop();
    /// The tails of every log, for a failure message.
    std::string log_tails() const;

  private:
    /// Which of the stack's Apaches serves `t`: 0, or 1 + the index of a
    /// mod_jk topology after the first.
    std::size_t apache_of(const Topology& t) const;
    void start_apache(std::size_t index);

    std::vector<Topology> topologies_;
    Options options_;
    TempDir dir_;
    std::unique_ptr<Gateway> gateway_;
    std::map<std::string, std::unique_ptr<Nginx>> nginx_;
    std::map<std::size_t, std::unique_ptr<Apache>> apaches_;
    std::vector<std::string> logs_;
};

}  // namespace postern::test
