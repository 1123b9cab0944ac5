#include "postern/server.hpp"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <stdexcept>

#include "core/address_list.hpp"
#include "core/app.hpp"
#include "core/cli.hpp"
#include "core/connection.hpp"
#include "core/listen.hpp"
#include "core/log.hpp"
#include "core/reactor.hpp"
#include "core/status.hpp"
#include "core/systemd.hpp"

namespace postern {

struct Server::Impl {
    /// The status board of a process without a supervisor's (--status in
    /// one process, library mode); destroyed after the reactor.
    std::unique_ptr<status::Board> own_board;
    Options options;
    std::unique_ptr<App> app;
    std::unique_ptr<Reactor> reactor;
    std::vector<BoundListener> bound;
    std::mutex mutex;
    std::condition_variable cv;
    bool started = false;
    bool stopped = false;
};

Server::Server(Options options) : impl_(std::make_unique<Impl>()) {
    // A front end that goes away must show up as a failed write (EPIPE),
    // never as a signal that kills the process.
    ::signal(SIGPIPE, SIG_IGN);
    impl_->options = std::move(options);
    Options& o = impl_->options;
    if (o.listeners.empty())
        throw std::runtime_error("no listener: give at least one PROTOCOL=ADDRESS");
    if (o.mounts.empty())
        throw std::runtime_error("no application mounted");
    if (o.limits.response_buffer == 0)
        o.limits.response_buffer = 64 * 1024;
    AddressList allow(o.allow);  // throws on a bad entry
    AddressList trusted(o.trusted_proxies);
    log::open_access_log(o.access_log);
    // Counters for --status: on the supervisor's board in a worker process,
    // on one of this server's own otherwise.
    status::Board* board = nullptr;
    if (!o.status_path.empty()) {
        board = status::attached();
        if (board == nullptr) {
            impl_->own_board = std::make_unique<status::Board>(1, 0);
            board = impl_->own_board.get();
            const int record = board->claim();
            board->started(record, static_cast<long>(::getpid()));
            status::attach(board, record);
        }
    }
    impl_->app = std::make_unique<App>(o.mounts, o.limits, o.status_path);
    impl_->reactor = std::make_unique<Reactor>(o.limits, allow);
    impl_->reactor->allow_unix_peers(o.allow_uids, o.allow_gids);
    for (const ListenSpec& spec : o.listeners) {
        if (!known_protocol(spec.protocol))
            throw std::runtime_error("unknown protocol \"" + spec.protocol + "\" in --listen " +
                                     spec.protocol + "=" + spec.address);
        BoundSocket s = bind_listener(spec.address, o.socket_mode);
        std::string name = spec.protocol + "=" + s.address;
        auto proto = make_protocol(spec.protocol, *impl_->app, o);
        const int slot = board != nullptr ? board->listener(name, spec.protocol) : -1;
        impl_->reactor->add_listener(s.fd, std::move(proto), name, s.unix_socket, s.unix_path,
                                     s.owns_path, slot);
        impl_->bound.push_back(BoundListener{spec.protocol, s.address});
    }
}

Server::~Server() {
    stop();
}

void Server::start() {
    std::lock_guard lock(impl_->mutex);
    if (impl_->started)
        return;
    impl_->started = true;
    const unsigned pollers =
        impl_->options.pollers != 0 ? impl_->options.pollers : available_cpus();
    impl_->reactor->start(impl_->options.threads, pollers);
    for (const auto& b : impl_->bound)
        log::info("listening on " + b.protocol + "=" + b.address);
    for (const auto& m : impl_->app->router().mounts())
        log::info("mounted " + m.name + " at " + (m.prefix.empty() ? "/" : m.prefix));
}

void Server::stop() {
    {
        std::lock_guard lock(impl_->mutex);
        if (!impl_->started || impl_->stopped) {
            impl_->stopped = true;
            impl_->cv.notify_all();
            return;
        }
    }
    impl_->reactor->stop(impl_->options.drain_timeout);
    std::lock_guard lock(impl_->mutex);
    impl_->stopped = true;
    impl_->cv.notify_all();
}

void Server::wait() {
    std::unique_lock lock(impl_->mutex);
    impl_->cv.wait(lock, [this] { return impl_->stopped; });
}

const std::vector<BoundListener>& Server::listeners() const {
    return impl_->bound;
}

int serve(Handler handler, Options options) {
    raise_descriptor_limit();
    if (handler)
        options.mounts.insert(options.mounts.begin(), Mount{"/", std::move(handler), "app"});
    // Block the stop signals (and SIGUSR1, reopen the logs) in every
    // thread the server starts, and take them here with sigwait: no work in
    // a signal handler.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    log::remember_error_log();
    try {
        Server server(std::move(options));
        server.start();
        // Under systemd (Type=notify): the service is up. One process here;
        // worker processes are the `postern` executable's (--processes).
        const char* notify_socket = std::getenv("NOTIFY_SOCKET");
        const systemd::Notifier notifier(notify_socket ? notify_socket : "");
        notifier.notify("READY=1");
        int sig = 0;
        for (;;) {
            sigwait(&set, &sig);
            if (sig != SIGUSR1)
                break;
            // As the executable's master does: logrotate renamed the files.
            for (const std::string& what : log::reopen())
                log::info("SIGUSR1: reopened " + what);
        }
        log::info(std::string("received ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") +
                  ": draining requests in flight, then stopping");
        notifier.notify("STOPPING=1");
        server.stop();
        log::info("stopped");
        return 0;
    } catch (const std::exception& e) {
        log::error(e.what());
        return 1;
    }
}

}  // namespace postern
