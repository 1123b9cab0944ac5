#include "in_process_gateway.hpp"

#include <algorithm>
#include <stdexcept>
#include <thread>

#include "postern/postern.hpp"
#include "test_data.hpp"

namespace postern::test {

using namespace std::chrono_literals;

namespace {

/// The value of `name` in a query string ("" if absent).
std::string query_value(std::string_view query, std::string_view name) {
    std::size_t at = 0;
    while (at <= query.size()) {
        std::size_t end = query.find('&', at);
        if (end == std::string_view::npos)
            end = query.size();
        const std::string_view pair = query.substr(at, end - at);
        if (pair.size() > name.size() && pair.substr(0, name.size()) == name &&
            pair[name.size()] == '=')
            return std::string(pair.substr(name.size() + 1));
        at = end + 1;
    }
    return {};
}

}  // namespace

void TestApp::handle(Request& req, Response& res) {
    ++calls_;
    if (extra && extra(req, res))
        return;
    const std::string_view path = req.path_info();
    if (path == "/hello") {
        res.header("Content-Type", "text/plain");
        res.write("Hello, world!\n");
    } else if (path.substr(0, 4) == "/env") {
        for (const auto& [name, value] : req.environ())
            res.write(name + "=" + value + "\n");
    } else if (path == "/sum") {
        // Not a divisor of any protocol's record size: reads cut records.
        char buf[50000];
        std::uint64_t bytes = 0;
        std::uint64_t hash = kFnvOffset;
        while (std::size_t n = req.read(buf, sizeof(buf))) {
            bytes += n;
            hash = fnv1a(std::string_view(buf, n), hash);
        }
        res.write("bytes=" + std::to_string(bytes) + " fnv=" + std::to_string(hash));
    } else if (path == "/echo") {
        res.write(req.read_all(std::size_t{16} << 20));
    } else if (path == "/sleep") {
        const std::string ms = query_value(req.query_string(), "ms");
        const long n = ms.empty() ? 0 : std::min(std::stol(ms), 10'000L);
        std::this_thread::sleep_for(std::chrono::milliseconds(n));
        res.write("slept\n");
    } else if (path == "/stream") {
        res.write("first");
        res.flush();
        {
            std::unique_lock lock(mutex_);
            cv_.wait_for(lock, 10s, [this] { return released_; });
        }
        res.write("second");
    } else if (path == "/big") {
        {
            std::lock_guard lock(mutex_);
            ++big_started_;
        }
        cv_.notify_all();
        // Far more than the socket buffers of a client that does not read.
        const std::string piece(64 * 1024, 'x');
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        bool ok = true;
        for (int i = 0; ok && i < 4096 && std::chrono::steady_clock::now() < deadline; ++i)
            ok = res.write(piece) && res.flush();
        {
            std::lock_guard lock(mutex_);
            ++big_done_;
            if (!ok && res.client_gone())
                ++big_client_gone_;
        }
        cv_.notify_all();
    } else if (path.substr(0, 8) == "/status/") {
        // A body the status may forbid (RFC 9110 §6.4.1), part of it
        // streamed after the head.
        res.status(std::stoi(std::string(path.substr(8))));
        res.write("a body ");
        res.flush();
        res.write("that must not be sent");
    } else if (path == "/throw") {
        throw std::runtime_error("boom from the test handler");
    } else if (path == "/flush-then-throw") {
        res.write("partial");
        res.flush();
        throw std::runtime_error("boom after the head was sent");
    } else {
        res.status(404);
    }
}

void TestApp::release() {
    {
        std::lock_guard lock(mutex_);
        released_ = true;
    }
    cv_.notify_all();
}

void TestApp::hold() {
    std::lock_guard lock(mutex_);
    released_ = false;
}

int TestApp::big_started() const {
    std::lock_guard lock(mutex_);
    return big_started_;
}

int TestApp::big_done() const {
    std::lock_guard lock(mutex_);
    return big_done_;
}

int TestApp::big_client_gone() const {
    std::lock_guard lock(mutex_);
    return big_client_gone_;
}

bool TestApp::wait(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
    // The predicate takes the lock itself (through the accessors): poll it
    // under a deadline, woken early by every change of the counters.
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::unique_lock lock(mutex_);
    for (;;) {
        lock.unlock();
        if (done())
            return true;
        lock.lock();
        if (std::chrono::steady_clock::now() >= deadline)
            return false;
        cv_.wait_for(lock, 10ms);
    }
}

InProcessGateway::InProcessGateway(std::vector<std::string> protocols) {
    for (auto& p : protocols)
        options_.listeners.push_back({std::move(p), "127.0.0.1:0"});
    std::shared_ptr<TestApp> app = app_;
    options_.mounts = {
        {"/app", [app](Request& req, Response& res) { app->handle(req, res); }, "test"}};
    options_.threads = 2;
    options_.access_log = "off";
    options_.drain_timeout = 2000ms;
    options_.ajp.secret = "s3cret";
}

InProcessGateway::~InProcessGateway() {
    stop();
}

void InProcessGateway::start() {
    if (server_)
        throw std::logic_error("InProcessGateway::start: already running");
    auto server = std::make_unique<Server>(options_);
    server->start();
    server_ = std::move(server);
}

void InProcessGateway::stop() {
    app_->release();
    if (server_)
        server_->stop();
    server_.reset();
}

const std::string& InProcessGateway::address(std::string_view protocol) const {
    if (!server_)
        throw std::logic_error("InProcessGateway::address: not started");
    for (const auto& l : server_->listeners())
        if (protocol.empty() || l.protocol == protocol)
            return l.address;
    throw std::invalid_argument("InProcessGateway::address: no " + std::string(protocol) +
                                " listener");
}

SocketClient InProcessGateway::connect(std::string_view protocol) const {
    return SocketClient(address(protocol));
}

}  // namespace postern::test
