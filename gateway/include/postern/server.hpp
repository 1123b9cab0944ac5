// Postern: running the gateway from a program of one's own (library mode).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "postern/handler.hpp"

namespace postern {

/// One listening socket: PROTOCOL is a name in the protocol registry
/// (register_protocol below: "fastcgi", "http", "ajp", "scgi" or "uwsgi"
/// unless a program changed it); ADDRESS is "HOST:PORT" (port 0 picks a free one), an absolute
/// unix-socket path, or "fd:N" for a socket inherited on descriptor N (a process manager such as
/// spawn-fcgi or mod_fcgid hands it on fd 0).
struct ListenSpec {
    std::string protocol;
    std::string address;
};

/// Bounds on what one request or connection may cost. Every one has a safe
/// default; exceeding one is refused in the protocol's own words (a 4xx
/// where it can carry one, otherwise a logged, closed connection).
struct Limits {
    /// HTTP: request line plus header block.
    std::size_t max_header_bytes = 64 * 1024;
    /// HTTP: header fields in one request.
    std::size_t max_headers = 200;
    /// FastCGI, SCGI, uwsgi: total bytes of the name-value pairs of one
    /// request (nginx sends up to 64 KiB of params in one FastCGI record).
    std::size_t max_params_bytes = 256 * 1024;
    /// FastCGI, SCGI, uwsgi: name-value pairs in one request (nginx sends
    /// one per header plus about 20 CGI variables).
    std::size_t max_params = 1000;
    /// Request body bytes (413 beyond).
    std::uint64_t max_body_bytes = std::uint64_t{4} << 30;
    /// Longest wait for the rest of a request once its first byte arrived,
    /// and for each further piece of a body. Every protocol waits for a
    /// head (and a body of up to 64 KiB with a known end) in the reactor,
    /// holding no worker thread.
    std::chrono::milliseconds read_timeout{30'000};
    /// Every listener: the slowest a request body may arrive, in bytes per
    /// second, once read_timeout of waiting for it has passed (Apache
    /// mod_reqtimeout's body MinRate): each byte received buys 1/rate s
    /// more. A slower front end gets 408 (or, over FastCGI and AJP13, a
    /// closed connection), so it cannot hold a worker thread for longer
    /// than about read_timeout plus its body size over this rate. 0: no
    /// rate, only read_timeout for each wait.
    std::uint64_t min_body_rate = 500;
    /// Longest a write to the front end may block.
    std::chrono::milliseconds write_timeout{30'000};
    /// An idle kept-alive connection is closed after this long.
    std::chrono::milliseconds idle_timeout{300'000};
    /// Open connections per listener; beyond it new ones are closed at once.
    std::size_t max_connections = 16'384;
    /// TCP listeners: a connection is handed to the gateway once its first
    /// bytes have arrived (Linux TCP_DEFER_ACCEPT, as Apache's default
    /// `AcceptFilter ... data` and nginx's `listen ... deferred`), so its
    /// first request is read in the same turn as the accept; one that sends
    /// nothing is handed over after about this long (whole seconds, which
    /// the kernel rounds up to its SYN-ACK retransmissions: 1 s, 3 s, 7 s,
    /// ...). Until then it holds no descriptor of the gateway's. 0: off.
    std::chrono::milliseconds defer_accept{1'000};
    /// Response bytes buffered before the gateway starts streaming.
    std::size_t response_buffer = 64 * 1024;
};

/// The AJP13 listeners' settings (adapters/ajp).
struct AjpOptions {
    /// The shared secret every FORWARD_REQUEST must carry (mod_jk's worker
    /// `secret`, mod_proxy_ajp's `secret=`); a request without it, or with
    /// another, is refused with 403 and logged (CVE-2020-1938, Ghostcat).
    std::string secret;
    /// Accept requests without checking a secret. Without a secret and
    /// without this flag, an ajp listener refuses to start.
    bool insecure = false;
    /// The largest packet, header included: the front end's max_packet_size
    /// (mod_jk) or ProxyIOBufferSize (mod_proxy_ajp); 8192 to 65536. A bigger
    /// packet is a logged, closed connection.
    std::size_t packet_size = 8192;
    /// req_attribute names passed to the callback, as AJP_ATTR_<name>
    /// variables; every other attribute is dropped (javax.servlet.include.*
    /// and the like must never reach the application). The secret never is.
    std::vector<std::string> allowed_attributes;
};

struct Mount {
    /// "/app" serves "/app", "/app/" and "/app/..."; "/" serves everything.
    std::string prefix;
    Handler handler;
    /// For log lines (the module's file name in the executable).
    std::string name;
};

struct Options {
    std::vector<ListenSpec> listeners;
    std::vector<Mount> mounts;
    /// Worker threads running callbacks. Connections are not threads: every
    /// open connection waits in one reactor, so idle front-end connections
    /// never hold a worker.
    unsigned threads = 16;
    /// How many of the threads wait for requests at one time; 0: one per
    /// CPU this process may run on (the executable gives each worker
    /// process its share of the CPUs). The others stand by and are called
    /// in as requests take long (callbacks that sleep or wait on a
    /// database: within 2 ms while callbacks block, and within 32 ms for
    /// the first one after a calm spell; a response write that finds the
    /// front end's socket full, or a request body that is late, for more
    /// than 1 ms: at once), so a callback
    /// that blocks never holds up the requests behind it, while short
    /// requests are served without waking a thread for each (a context
    /// switch costs more than a small request).
    unsigned pollers = 0;
    Limits limits;
    /// Front-end addresses allowed to connect (IPv4/IPv6 addresses or CIDR
    /// blocks, as FCGI_WEB_SERVER_ADDRS); empty allows any peer that can
    /// reach the listening address (loopback by default).
    std::vector<std::string> allow;
    /// Proxies whose X-Forwarded-For / X-Forwarded-Proto / X-Forwarded-Port
    /// are believed (HTTP adapter). Empty: those headers are plain headers.
    std::vector<std::string> trusted_proxies;
    /// File mode of unix-socket listeners.
    unsigned socket_mode = 0660;
    /// Unix-socket listeners: the peers allowed in by their user or group id
    /// (SO_PEERCRED), on top of the socket file's mode, as PHP-FPM's
    /// listen.acl_users / listen.acl_groups. A peer whose uid is in
    /// allow_uids or whose gid is in allow_gids is served; any other is
    /// logged and closed. Both empty: any peer the file mode lets connect.
    std::vector<unsigned> allow_uids;
    std::vector<unsigned> allow_gids;
    /// Access log in the combined format: "" or "-" for stderr, "off" for
    /// none, otherwise a file appended to.
    std::string access_log = "-";
    /// A request for this path ("/postern-status"; matched before the mount
    /// table, on every listener) is answered with the gateway's counters:
    /// JSON, or the Prometheus text format with ?format=prometheus (as
    /// PHP-FPM's pm.status_path; keep it away from clients in the front
    /// end's configuration). "" for none: nothing is counted.
    std::string status_path;
    /// On stop, in-flight requests get this long to finish.
    std::chrono::milliseconds drain_timeout{30'000};
    /// AJP13 listeners.
    AjpOptions ajp;
};

/// A bound listener, as it ended up (the port chosen for port 0).
struct BoundListener {
    std::string protocol;
    std::string address;
};

/// A running gateway. The constructor binds every listener (throwing
/// std::runtime_error with one clear line when an address is in use or
/// invalid); start() runs the reactor and the worker threads; stop() stops
/// accepting, lets in-flight requests finish within the drain time, and
/// closes every connection. Not copyable; start/stop from one thread.
class Server {
  public:
    explicit Server(Options options);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    void start();
    void stop();
    /// Blocks until stop() was called (from another thread or a signal).
    void wait();
    const std::vector<BoundListener>& listeners() const;

    struct Impl;

  private:
    std::unique_ptr<Impl> impl_;
};

class App;
class Protocol;

/// Makes the protocol of one listener: what the gateway does with each
/// connection accepted on it. Called by the Server constructor, once per
/// listener of that protocol, with the gateway's mounted applications and
/// its options. Adapters provide factories (adapters/fastcgi:
/// make_fastcgi_protocol, ...); `Protocol` and `App` are the core's
/// adapter interface (gateway/src/core/connection.hpp, core/app.hpp), not
/// part of the public headers.
using ProtocolFactory = std::unique_ptr<Protocol> (*)(App& app, const Options& options);

/// The protocol registry: the names a ListenSpec's `protocol` may take, each
/// with its factory. The core knows no protocol of its own; a Server (and
/// the executable's --listen check) takes each listener's protocol from
/// this registry when it is constructed.
///
/// Filled when libpostern is loaded: a program linking postern::postern
/// finds "fastcgi", "http", "ajp", "scgi" and "uwsgi" registered before
/// main() (gateway/main/protocols.cpp, the one place that wires the adapters
/// to the core), so library mode needs no call. register_protocol adds a
/// protocol, or replaces the factory of a name already registered; a null
/// `factory` removes the name. Process-wide and thread-safe; a change
/// applies to Servers constructed after it.
void register_protocol(std::string name, ProtocolFactory factory);
/// The names registered, sorted.
std::vector<std::string> registered_protocols();

/// Library mode: serves `handler` at "/" (plus any mounts in `options`) on
/// the given listeners until SIGTERM or SIGINT, then drains and returns 0;
/// SIGUSR1 reopens the log files by name (after logrotate renamed them).
/// Returns 1 after logging one clear line if the gateway cannot start.
/// Serves in the calling process (worker processes, their supervision and
/// SIGHUP reloads are the `postern` executable's, --processes); under
/// systemd it sends READY=1 to NOTIFY_SOCKET once it serves.
int serve(Handler handler, Options options);

}  // namespace postern
