#include "process_memory.hpp"

#include <dirent.h>

#include <algorithm>
#include <fstream>
#include <numeric>
#include <sstream>

namespace postern::test {

namespace {

std::vector<pid_t> children(pid_t pid) {
    std::vector<pid_t> out;
    const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
    DIR* dir = ::opendir(tasks.c_str());
    if (dir == nullptr)
        return out;
    while (const dirent* e = ::readdir(dir)) {
        if (e->d_name[0] == '.')
            continue;
        std::ifstream in(tasks + "/" + e->d_name + "/children");
        pid_t child = 0;
        while (in >> child)
            out.push_back(child);
    }
    ::closedir(dir);
    return out;
}

}  // namespace

std::vector<pid_t> process_tree(pid_t root) {
    std::vector<pid_t> tree{root};
    for (std::size_t i = 0; i < tree.size(); ++i) {
        for (pid_t c : children(tree[i]))
            if (std::find(tree.begin(), tree.end(), c) == tree.end())
                tree.push_back(c);
    }
    return tree;
}

std::uint64_t status_kib(pid_t pid, const std::string& field) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    const std::string prefix = field + ":";
    while (std::getline(in, line)) {
        if (line.compare(0, prefix.size(), prefix) == 0) {
            std::istringstream value(line.substr(prefix.size()));
            std::uint64_t kib = 0;
            value >> kib;
            return kib;
        }
    }
    return 0;
}

std::uint64_t TreeMemory::total_kib() const {
    return std::accumulate(rss_kib.begin(), rss_kib.end(), std::uint64_t{0});
}

std::string TreeMemory::describe() const {
    std::string out;
    for (std::size_t i = 0; i < pids.size(); ++i) {
        if (!out.empty())
            out += ", ";
        out += "pid " + std::to_string(pids[i]) + ": " + std::to_string(rss_kib[i]) + " KiB";
    }
    return out;
}

TreeMemory tree_memory(pid_t root) {
    TreeMemory m;
    for (pid_t pid : process_tree(root)) {
        const std::uint64_t rss = status_kib(pid, "VmRSS");
        if (rss == 0)
            continue;  // exited (or a kernel thread, which postern has none of)
        m.pids.push_back(pid);
        m.rss_kib.push_back(rss);
    }
    return m;
}

}  // namespace postern::test
