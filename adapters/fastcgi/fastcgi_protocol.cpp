#include "fastcgi/fastcgi_protocol.hpp"

#include <sys/socket.h>

#include <fcgiapp.h>

#include <csignal>
#include <mutex>
#include <stdexcept>
#include <string>

#include "core/log.hpp"
#include "fastcgi/fastcgi_connection.hpp"
#include "fastcgi/read_guard.hpp"
#include "fastcgi/record.hpp"
#include "fastcgi/record_validator.hpp"

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
        // libfcgi alone trusts lengths and management records it reads
        // (read_guard.hpp): without the guard, FastCGI is not served at all.
        if (!fastcgi::interposed())
            throw std::runtime_error(
                "libfcgi's reads do not reach Postern's FastCGI record check (libfcgi was "
                "linked before libpostern); refusing to serve FastCGI without it");
    });
}

class FastCgiProtocol : public Protocol {
  public:
    FastCgiProtocol(App& app, const Options& options)
        : app_(app),
          limits_(options.limits),
          values_{options.limits.max_connections, options.threads} {
        init_libfcgi();
    }

    std::unique_ptr<Connection> make_connection(int fd, Peer peer) override {
        return std::make_unique<fastcgi::FastCgiConnection>(fd, std::move(peer), app_, limits_,
                                                            values_);
    }

    void refuse_overloaded(int fd) noexcept override {
        // FastCGI 1.0 §5.5: FCGI_END_REQUEST with FCGI_OVERLOADED, after a
        // 503 on FCGI_STDOUT for the front ends that only read that (nginx,
        // Apache). The request id from the FCGI_BEGIN_REQUEST when it is
        // already there; front ends use 1 otherwise.
        unsigned char begin[8] = {};
        unsigned id = 1;
        if (::recv(fd, begin, sizeof(begin), MSG_PEEK | MSG_DONTWAIT) == 8 &&
            begin[0] == fastcgi::kVersion1 && begin[1] == fastcgi::kBeginRequest)
            id = (unsigned{begin[2]} << 8) | begin[3];
        std::string out;
        const auto rid = static_cast<std::uint16_t>(id);
        fastcgi::append_record(out, fastcgi::kStdout, rid, overloaded_);
        fastcgi::append_record(out, fastcgi::kStdout, rid, {});
        fastcgi::append_end_request(out, rid, 0, fastcgi::kOverloaded);
        answer_and_close(fd, out);
    }

  private:
    App& app_;
    Limits limits_;
    fastcgi::ManagementValues values_;
    // The CGI response that goes in FCGI_STDOUT, built once.
    const std::string overloaded_ = overloaded_cgi_response();
};

}  // namespace

std::unique_ptr<Protocol> make_fastcgi_protocol(App& app, const Options& options) {
    return std::make_unique<FastCgiProtocol>(app, options);
}

}  // namespace postern
