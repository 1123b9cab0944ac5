// Integration tests: the memory of a running process tree, from /proc.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace postern::test {

/// `root` and every process below it (children, their children, ...), read
/// from /proc/PID/task/TID/children; processes that exit meanwhile are left
/// out.
std::vector<pid_t> process_tree(pid_t root);

/// One line of /proc/PID/status in KiB ("VmRSS", "VmHWM"); 0 when the
/// process is gone.
std::uint64_t status_kib(pid_t pid, const std::string& field);

/// VmRSS of each process of the tree.
struct TreeMemory {
    std::vector<pid_t> pids;
    std::vector<std::uint64_t> rss_kib;
    std::uint64_t total_kib() const;
    /// "pid 1234: 10240 KiB, pid 1240: 9000 KiB".
    std::string describe() const;
};
TreeMemory tree_memory(pid_t root);

}  // namespace postern::test
