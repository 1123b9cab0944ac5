// Test support: the gateway's log (stderr) captured in a temporary file.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>

namespace postern::test {

/// Redirects stderr (file descriptor 2) to a temporary file while alive and
/// puts the old one back on destruction. Read text() after Server::stop(),
/// once every worker thread has finished writing. Not copyable; one at a
/// time per process.
class StderrCapture {
  public:
    StderrCapture();
    ~StderrCapture();
    StderrCapture(const StderrCapture&) = delete;
    StderrCapture& operator=(const StderrCapture&) = delete;

    /// Everything written to stderr since construction.
    std::string text() const;
    /// Waits up to `timeout` for `needle` to appear in text(), looking
    /// every 10 ms (a line a worker thread writes while the gateway runs);
    /// true once it did.
    bool wait_for(std::string_view needle, std::chrono::milliseconds timeout) const;

  private:
    std::FILE* file_;
    int saved_;
};

}  // namespace postern::test
