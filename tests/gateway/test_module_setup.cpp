// A module with state (POSTERN_MODULE(setup, teardown)) for module_test and
// module_lifecycle_test. Its settings:
//   greeting  what the handler answers with (default "hello");
//   record    a file: setup appends "setup PID GREETING", teardown
//             "teardown PID" (one line each), for a test to count them;
//   teardown  "throw": teardown throws after recording.
// The handler answers "GREETING pid=PID setups=N". test_module_setups()
// and test_module_teardowns() count the calls in this process.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <stdexcept>
#include <string>

#include <postern/postern.hpp>

namespace {

std::atomic<int> g_setups{0};
std::atomic<int> g_teardowns{0};
std::string g_record;
bool g_teardown_throws = false;

void record(const std::string& line) {
    if (g_record.empty())
        return;
    // One write(2) with O_APPEND: the lines of several worker processes
    // never interleave.
    const int fd = ::open(g_record.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        throw std::runtime_error("cannot open " + g_record);
    const std::string text = line + "\n";
    const ssize_t n = ::write(fd, text.data(), text.size());
    ::close(fd);
    if (n != static_cast<ssize_t>(text.size()))
        throw std::runtime_error("cannot write " + g_record);
}

postern::Handler setup(const postern::ModuleConfig& cfg) {
    const int n = ++g_setups;
    g_record = std::string(cfg.get("record"));
    g_teardown_throws = cfg.get("teardown") == "throw";
    // A view into the config: the gateway keeps it alive while the handler runs.
    const std::string_view greeting = cfg.get("greeting", "hello");
    record("setup " + std::to_string(::getpid()) + " " + std::string(greeting));
    return [greeting, n](postern::Request&, postern::Response& res) {
        res.header("Content-Type", "text/plain");
        res.write(std::string(greeting) + " pid=" + std::to_string(::getpid()) +
                  " setups=" + std::to_string(n));
    };
}

void teardown() {
    ++g_teardowns;
    record("teardown " + std::to_string(::getpid()));
    if (g_teardown_throws)
        throw std::runtime_error("the pool would not close");
}

}  // namespace

extern "C" __attribute__((visibility("default"))) int test_module_setups() {
    return g_setups.load();
}
extern "C" __attribute__((visibility("default"))) int test_module_teardowns() {
    return g_teardowns.load();
}

POSTERN_MODULE(setup, teardown)
