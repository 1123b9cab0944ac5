// Postern FastCGI adapter: one connection from a FastCGI front end.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "core/app.hpp"
#include "core/connection.hpp"
#include "core/input_wait.hpp"
#include "fastcgi/read_guard.hpp"
#include "fastcgi/record_validator.hpp"

namespace postern::fastcgi {

/// Serves the requests of one front-end connection, one per serve() call,
/// with libfcgi reading and writing the records on the connection's own
/// (blocking) descriptor:
///
///   * the head, and a body of up to kMaxCollectedBody bytes, are read in
///     the reactor: serve() takes what the socket has without blocking and
///     returns `keep` while the request is incomplete, under the InputWait
///     deadline (--read-timeout from the first byte, plus --min-body-rate
///     for the body), so a trickling front end holds no worker thread; a
///     larger body is read by libfcgi under the BodyRate rule;
///   * every byte libfcgi reads of the request — the head (FCGI_BEGIN_REQUEST,
///     FCGI_PARAMS) read by FCGX_Accept_r within Limits::read_timeout in
///     total, and the body — is checked first by a RecordValidator
///     (read_guard.hpp); management records (FCGI_GET_VALUES, ...) are
///     answered by it and never reach libfcgi, before, between or inside
///     requests;
///   * the body streams from FCGI_STDIN (fcgx_body.hpp), the response goes
///     out as FCGI_STDOUT (fcgx_sink.hpp), FCGX_Finish_r ends it with
///     FCGI_END_REQUEST;
///   * the connection is kept for the next request only when the front end
///     asked for it (FCGI_KEEP_CONN, FastCGI 1.0 §5.1) and the request left
///     it in step (Outcome::reusable).
///
/// Bad input (a malformed or oversized head, a stalled or vanished front
/// end) is logged naming the front end, and the connection is closed; a
/// front end closing an idle kept connection is not an error. When libfcgi
/// has closed the descriptor itself (FCGX_Accept_r failing does), the
/// connection releases it so that it is not closed twice.
class FastCgiConnection : public Connection {
  public:
    FastCgiConnection(int fd, Peer peer, App& app, const Limits& limits,
                      ManagementValues values) noexcept
        : Connection(fd, std::move(peer)),
          app_(app),
          values_(values),
          max_params_bytes_(limits.max_params_bytes),
          max_params_(limits.max_params),
          read_timeout_(limits.read_timeout),
          min_body_rate_(limits.min_body_rate),
          wait_(limits.read_timeout, limits.min_body_rate) {}

    /// Reads to a short read or EAGAIN before it returns keep, and says so.
    bool edge_triggered() const noexcept override { return true; }
    /// Bytes of a next request were read with the last one's: no edge will
    /// come for them.
    bool pending() const noexcept override { return !carry_.empty(); }

  protected:
    Next serve_one() override { return serve_request(); }
    std::string_view wire_name() const noexcept override { return "FastCGI"; }

  private:
    Next serve_request();
    /// Reads what the socket has into pre_ through the validator, until the
    /// head is whole and the body whole or over kMaxCollectedBody. Returns
    /// nothing when the request is ready; otherwise what serve() returns.
    std::optional<Next> collect();
    /// Sends the validator's answers to management records (blocking).
    bool send_answers();
    void log_bad_head(const RecordValidator& validator, ReadGuard::Failure failure, int read_errno,
                      std::chrono::steady_clock::time_point start) const;
    Next refuse_role(int request_id, int role);
    /// Unread bytes wait in the socket's receive queue.
    bool input_pending() const noexcept;

    App& app_;
    ManagementValues values_;
    std::uint64_t max_params_bytes_;
    std::size_t max_params_;
    std::chrono::milliseconds read_timeout_;
    std::uint64_t min_body_rate_;

    // The request arriving, read in the reactor (core/input_wait.hpp): its
    // validator, the bytes it passed, and the deadline's clock.
    std::optional<RecordValidator> validator_;
    std::string pre_;
    std::size_t head_bytes_ = 0;  // pre_'s size before the read that completed the head
    bool read_dry_ = false;       // collect()'s last read took less than it asked for
    std::string params_;          // the request's FCGI_PARAMS content, decoded in serve_request()
    // Bytes read from the socket after the end of the last request (a front
    // end that sent the next one before it was answered), unfiltered: the
    // next request's collect() takes them before it reads the socket.
    // Bounded by one read (collect()'s, or libfcgi's through the guard).
    std::string carry_;
    InputWait wait_;
};

}  // namespace postern::fastcgi
