// Postern FastCGI adapter: the "fastcgi" listener protocol, over libfcgi.
#pragma once

#include <memory>

#include "core/app.hpp"
#include "core/connection.hpp"
#include "postern/server.hpp"

namespace postern {

/// The FastCGI 1.0 responder (FastCGI 1.0 §6.2) behind nginx
/// (fastcgi_pass, fastcgi_keep_conn) and Apache (mod_proxy_fcgi). One
/// request at a time per connection (FCGI_MPXS_CONNS=0); a connection the
/// front end opened with FCGI_KEEP_CONN serves request after request.
///
/// Initialises libfcgi on first use (FCGX_Init, once per process, keeping
/// the process's signal dispositions as they were). Thread-safe:
/// connections are served on any worker thread. `app` must outlive the
/// protocol and its connections; `options` is copied.
std::unique_ptr<Protocol> make_fastcgi_protocol(App& app, const Options& options);

}  // namespace postern
