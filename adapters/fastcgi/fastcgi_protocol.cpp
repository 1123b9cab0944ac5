#include "fastcgi/fastcgi_protocol.hpp"

#include <fcgiapp.h>

#include <csignal>
#include <mutex>
#include <stdexcept>
#include <string>

#include "core/log.hpp"
#include "fastcgi/fastcgi_connection.hpp"
#include "fastcgi/read_guard.hpp"

namespace postern {

namespace {

/// FCGX_Init, once per process. libfcgi's OS_LibInit installs handlers for
/// SIGPIPE, SIGUSR1 and SIGTERM where they are at their default (its
/// SIGUSR1/SIGTERM handlers only set a "shutdown pending" flag its own
/// accept loop reads, which Postern never runs); signals belong to the
/// core, so the dispositions are put back as they were.
void init_libfcgi() {
    static std::once_flag once;
    std::call_once(once, [] {
        const int signals[] = {SIGPIPE, SIGUSR1, SIGTERM};
        struct sigaction saved[3];
        for (int i = 0; i < 3; ++i)
            ::sigaction(signals[i], nullptr, &saved[i]);
        const int rc = FCGX_Init();
        for (int i = 0; i < 3; ++i)
            ::sigaction(signals[i], &saved[i], nullptr);
        if (rc != 0)
            throw std::runtime_error("libfcgi FCGX_Init failed (" + std::to_string(rc) + ")");
        if (!fastcgi::interposed())
            log::warn(
                "libfcgi's reads do not reach Postern's request-head check (libfcgi was linked "
                "before libpostern): FastCGI params are bounded only after libfcgi read them, "
                "and a head is bounded by the read timeout per read, not in total");
    });
}

class FastCgiProtocol : public Protocol {
  public:
    FastCgiProtocol(App& app, const Options& options) : app_(app), limits_(options.limits) {
        init_libfcgi();
    }

    std::unique_ptr<Connection> make_connection(int fd, Peer peer) override {
        return std::make_unique<fastcgi::FastCgiConnection>(fd, std::move(peer), app_, limits_);
    }

  private:
    App& app_;
    Limits limits_;
};

}  // namespace

std::unique_ptr<Protocol> make_fastcgi_protocol(App& app, const Options& options) {
    return std::make_unique<FastCgiProtocol>(app, options);
}

}  // namespace postern
