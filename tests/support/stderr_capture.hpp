// Test support: the gateway's log (stderr) captured in a temporary file.
#pragma once

#include <cstdio>
#include <string>

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

  private:
    std::FILE* file_;
    int saved_;
};

}  // namespace postern::test
