// Integration tests: concurrent clients and what they saw, and the waits
// and process lookups the multi-process suites share (supervisor, fail-over,
// balancer).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace postern::test {

/// What the clients saw: good answers, and failures by kind ("status 502",
/// "exception: ..."). Thread-safe.
struct Tally {
    /// Requests finished, good or not.
    std::atomic<int> done{0};
    std::mutex mutex;
    int ok = 0;
    std::map<std::string, int> failures;

    void add(bool good, const std::string& what);
    int failed();
    /// "1994 ok, 6 x status 502".
    std::string describe();
};

/// `clients` threads sharing `total` GETs of `target` through `address`,
/// one connection per request; an answer is good when it is a 200 whose
/// body is `expected`. Starts in the constructor; joins in join() or the
/// destructor.
class Load {
  public:
    Load(std::string address, std::string target, int total, int clients,
         std::string expected = "Hello, world!\n");
    ~Load();
    Load(const Load&) = delete;
    Load& operator=(const Load&) = delete;

    void join();
    /// Waits until `n` requests are done (or `timeout` passes).
    bool reached(int n, std::chrono::milliseconds timeout = std::chrono::seconds(60));

    Tally tally;

  private:
    void client();

    std::string address_;
    std::string target_;
    std::string expected_;
    int total_;
    std::atomic<int> next_{0};
    std::vector<std::thread> threads_;
};

/// Polls `condition` every 10 ms until it holds (true) or `timeout` passes.
bool eventually(const std::function<bool()>& condition,
                std::chrono::milliseconds timeout = std::chrono::seconds(20));

/// The live processes whose parent is `parent` (/proc/PID/stat; zombies
/// left to a parent that does not reap them are not counted).
std::set<pid_t> children_of(pid_t parent);

/// Non-overlapping occurrences of `needle` in `text`.
std::size_t occurrences(const std::string& text, const std::string& needle);

}  // namespace postern::test
