#include "load.hpp"

#include <dirent.h>

#include <cstdio>
#include <exception>

#include "http_client.hpp"
#include "process.hpp"

namespace postern::test {

void Tally::add(bool good, const std::string& what) {
    {
        std::lock_guard lock(mutex);
        if (good)
            ++ok;
        else
            ++failures[what];
    }
    ++done;
}

int Tally::failed() {
    std::lock_guard lock(mutex);
    int n = 0;
    for (const auto& [what, count] : failures)
        n += count;
    return n;
}

std::string Tally::describe() {
    std::lock_guard lock(mutex);
    std::string out = std::to_string(ok) + " ok";
    for (const auto& [what, count] : failures)
        out += ", " + std::to_string(count) + " x " + what;
    return out;
}

Load::Load(std::string address, std::string target, int total, int clients, std::string expected)
    : address_(std::move(address)),
      target_(std::move(target)),
      expected_(std::move(expected)),
      total_(total) {
    for (int c = 0; c < clients; ++c)
        threads_.emplace_back([this] { client(); });
}

Load::~Load() {
    join();
}

void Load::join() {
    for (auto& t : threads_)
        if (t.joinable())
            t.join();
}

bool Load::reached(int n, std::chrono::milliseconds timeout) {
    return eventually([&] { return tally.done.load() >= n; }, timeout);
}

void Load::client() {
    HttpRequest req;
    req.target = target_;
    while (next_.fetch_add(1) < total_) {
        try {
            const auto res = http_request(address_, address_, req, std::chrono::seconds(30));
            const bool good = res.status == 200 && res.body == expected_;
            tally.add(good, good ? "" : "status " + std::to_string(res.status));
        } catch (const std::exception& e) {
            tally.add(false, "exception: " + std::string(e.what()).substr(0, 60));
        }
    }
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!condition()) {
        if (std::chrono::steady_clock::now() > deadline)
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
}

std::set<pid_t> children_of(pid_t parent) {
    std::set<pid_t> out;
    DIR* proc = ::opendir("/proc");
    if (proc == nullptr)
        return out;
    while (const dirent* e = ::readdir(proc)) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        std::string stat;
        try {
            stat = read_file(std::string("/proc/") + e->d_name + "/stat");
        } catch (const std::exception&) {
            continue;  // gone meanwhile
        }
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        const auto close = stat.rfind(')');
        if (close == std::string::npos)
            continue;
        char state = 0;
        int ppid = 0;
        if (std::sscanf(stat.c_str() + close + 1, " %c %d", &state, &ppid) == 2 && ppid == parent &&
            state != 'Z')
            out.insert(static_cast<pid_t>(std::stoi(e->d_name)));
    }
    ::closedir(proc);
    return out;
}

std::size_t occurrences(const std::string& text, const std::string& needle) {
    std::size_t n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
        ++n;
    return n;
}

}  // namespace postern::test
