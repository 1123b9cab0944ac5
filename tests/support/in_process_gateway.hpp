// Test support: a real in-process gateway for tests — a postern::Server on
// 127.0.0.1:0 with a listener for each protocol asked for, serving a test
// application at /app — instead of a copy of that set-up in every suite.
// (tests/integration/stack.hpp's Gateway is the other kind: the real
// `postern` executable in a process of its own.)
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "postern/server.hpp"
#include "socket_client.hpp"

namespace postern::test {

/// The application the suites talk to, dispatching on PATH_INFO:
///   /hello             "Hello, world!\n", text/plain
///   /env...            the request's variables, one "NAME=value" line each
///   /sum               reads the body: "bytes=N fnv=H" (fnv1a of the body)
///   /echo              the body back (read whole, up to 16 MiB)
///   /sleep?ms=N        sleeps N ms (at most 10 s), then "slept\n"
///   /stream            "first", flush, waits for release() (10 s at most),
///                      "second"
///   /big               64 KiB pieces, each flushed, until a write fails, 256
///                      MiB are out or 10 s pass; then big_done() holds
///   /status/N          status N with a body, part of it flushed
///   /throw             throws; /flush-then-throw flushes "partial" first
///   anything else      404
/// `extra`, when set, is asked first and answers the paths it returns true
/// for. Thread-safe: callbacks run on the gateway's worker threads.
class TestApp {
  public:
    /// Answers a request (the Handler of the mount).
    void handle(Request& req, Response& res);

    /// A suite's own paths, tried before the ones above.
    std::function<bool(Request&, Response&)> extra;

    /// Callbacks that ran.
    int calls() const noexcept { return calls_.load(); }
    /// Lets every /stream (present and future) finish.
    void release();
    /// Makes /stream wait again.
    void hold();

    /// /big requests that have started writing.
    int big_started() const;
    /// /big requests that have finished; and of those, how many saw a
    /// write fail with Response::client_gone().
    int big_done() const;
    int big_client_gone() const;
    /// Waits up to `timeout` for `done` of the counters above to hold.
    bool wait(const std::function<bool()>& done, std::chrono::milliseconds timeout);

  private:
    std::atomic<int> calls_{0};
    mutable std::mutex mutex_;
    std::condition_variable cv_;
    bool released_ = false;
    int big_started_ = 0;
    int big_done_ = 0;
    int big_client_gone_ = 0;
};

/// A Server on 127.0.0.1:0 for each protocol in `protocols`, mounting
/// app() at /app, with 2 threads, no access log, a 2 s drain and the AJP
/// secret "s3cret". Change options() before start(); stop() ends it (the
/// destructor too, after releasing /stream). Not copyable; start and stop
/// from the test's thread.
class InProcessGateway {
  public:
    explicit InProcessGateway(std::vector<std::string> protocols = {"http"});
    ~InProcessGateway();
    InProcessGateway(const InProcessGateway&) = delete;
    InProcessGateway& operator=(const InProcessGateway&) = delete;

    Options& options() noexcept { return options_; }
    Limits& limits() noexcept { return options_.limits; }
    TestApp& app() noexcept { return *app_; }
    const TestApp& app() const noexcept { return *app_; }

    /// Builds and starts the Server (binding throws std::runtime_error).
    void start();
    /// Releases /stream, stops and destroys the Server; a no-op if stopped.
    void stop();
    bool running() const noexcept { return server_ != nullptr; }
    Server& server() { return *server_; }

    /// The bound address of the listener of `protocol` ("" for the first).
    const std::string& address(std::string_view protocol = {}) const;
    /// A new connection to it.
    SocketClient connect(std::string_view protocol = {}) const;

  private:
    Options options_;
    std::shared_ptr<TestApp> app_ = std::make_shared<TestApp>();
    std::unique_ptr<Server> server_;
};

}  // namespace postern::test
