// Hostile input, the real `postern` executable: out of descriptors. Under
// `prlimit --nofile=64`, with the doc example opening a file per request,
// a little load and 100 idle connections held, the process used to spin in
// its accept loop (over 100 % CPU, ~500,000 "accept ... Too many open files"
// lines a second). Now a listener that runs out stops accepting for 500 ms
// at a time and logs one line per interval; once descriptors are free
// again, requests are served.
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "http_client.hpp"
#include "process.hpp"
#include "socket_client.hpp"
#include "stack.hpp"

namespace postern::test {
namespace {

using namespace std::chrono_literals;

/// utime + stime of a process, in seconds (/proc/PID/stat fields 14, 15).
double cpu_seconds(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // After the command name in parentheses: state is field 3.
    std::istringstream fields(stat.substr(stat.rfind(')') + 2));
    std::string f;
    unsigned long ticks = 0;
    for (int i = 3; i <= 15 && fields >> f; ++i)
        if (i == 14 || i == 15)
            ticks += std::stoul(f);
    return static_cast<double>(ticks) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

HttpRequest doc_request() {
    HttpRequest req;
    req.target = "/doc";
    return req;
}

std::size_t count(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
        ++n;
    return n;
}

TEST(OutOfDescriptors, TheAcceptLoopPausesInsteadOfSpinningAndServesOnceDescriptorsFree) {
    TempDir dir("postern-hostile-nofile");
    const std::string log = dir.file("postern.log");
    const int port = free_port();
    const std::string address = "127.0.0.1:" + std::to_string(port);
    Process gateway;
    gateway.start({"/usr/bin/prlimit", "--nofile=64", "--", binary_dir() + "/bin/postern",
                   "--processes", "0", "--threads", "4", "--access-log", "off", "--app",
                   binary_dir() + "/examples/doc.so", "--listen", "http=" + address},
                  {}, log);
    ASSERT_TRUE(wait_for_listener(address, 10s)) << tail_file(log);
    ASSERT_EQ(http_request(address, "localhost", doc_request(), 10s).status, 200);

    // A little load on /doc (a file opened per request) while 100 idle
    // connections take every descriptor left.
    std::atomic<bool> loading{true};
    std::vector<std::thread> load;
    for (int t = 0; t < 6; ++t)
        load.emplace_back([&] {
            while (loading.load()) {
                try {
                    HttpConnection c(address, "localhost");
                    for (int i = 0; i < 20 && loading.load(); ++i)
                        c.request(doc_request(), 2s);
                } catch (const std::exception&) {
                    // Refused, cut or timed out: descriptors ran out.
                }
            }
        });
    std::vector<std::unique_ptr<SocketClient>> idle;
    for (int i = 0; i < 100; ++i)
        idle.push_back(std::make_unique<SocketClient>(address));
    // Until the gateway says it ran out (bounded).
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    while (read_file(log).find("Too many open files") == std::string::npos &&
           std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(20ms);  // polls the condition, up to the deadline
    loading = false;
    for (auto& t : load)
        t.join();
    ASSERT_NE(read_file(log).find("Too many open files"), std::string::npos)
        << "descriptors never ran out: " << tail_file(log);

    // Descriptors exhausted, connections queued: the process idles.
    const double before = cpu_seconds(gateway.pid());
    const auto t0 = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(2s);  // the span measured, not a synchronisation
    const double used = cpu_seconds(gateway.pid()) - before;
    const double span =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_LT(used, 0.3 * span) << used << " s of CPU in " << span << " s";
    const std::string text = read_file(log);
    const std::size_t lines = count(text, "accept on ");
    EXPECT_GE(lines, 1u);
    EXPECT_LE(lines, 10u) << tail_file(log);
    EXPECT_NE(text.find("not accepting on it for 500 ms"), std::string::npos) << tail_file(log);

    // Descriptors free again: new requests are served (within a few pauses).
    idle.clear();
    int status = 0;
    const auto served_by = std::chrono::steady_clock::now() + 10s;
    while (status != 200 && std::chrono::steady_clock::now() < served_by) {
        try {
            status = http_request(address, "localhost", doc_request(), 2s).status;
        } catch (const std::exception&) {
            std::this_thread::sleep_for(50ms);  // polls the condition, up to the deadline
        }
    }
    EXPECT_EQ(status, 200) << tail_file(log);
    EXPECT_TRUE(gateway.running());
    gateway.stop(10s);
}

}  // namespace
}  // namespace postern::test
