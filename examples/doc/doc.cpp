// Example: serving a document from the file system, re-read on every request
// as the 2009 benchmark's servers did (no cache: the cost of open/read is
// part of what the round measures). The file is named by the environment
// variable POSTERN_DOC when set, else the bundled 7,065-byte page
// examples/doc/index.html (path compiled in as POSTERN_DOC_DEFAULT).
// Served as text/html whatever PATH_INFO is; 404 when the file cannot be
// opened.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include <postern/postern.hpp>

#ifndef POSTERN_DOC_DEFAULT
#error "POSTERN_DOC_DEFAULT must name the bundled document"
#endif

namespace {

const std::string& doc_path() {
    // Read once: the environment is the process's start-up configuration.
    static const std::string path = [] {
        const char* env = std::getenv("POSTERN_DOC");
        return std::string(env != nullptr && *env != '\0' ? env : POSTERN_DOC_DEFAULT);
    }();
    return path;
}

/// Closes a descriptor on every path out.
struct Fd {
    int fd;
    ~Fd() {
        if (fd >= 0)
            ::close(fd);
    }
};

void doc(postern::Request&, postern::Response& res) {
    const Fd file{::open(doc_path().c_str(), O_RDONLY | O_CLOEXEC)};
    struct stat st {};
    if (file.fd < 0 || ::fstat(file.fd, &st) != 0) {
        res.status(404);
        res.header("Content-Type", "text/plain");
        res.write("doc: document not found\n");
        return;
    }
    res.header("Content-Type", "text/html");
    res.header("Content-Length", std::to_string(st.st_size));
    // Not zeroed: read() fills what is used.
    std::array<char, 64 * 1024> piece;
    for (;;) {
        const ssize_t n = ::read(file.fd, piece.data(), piece.size());
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            throw std::runtime_error("doc: reading " + doc_path() + " failed");
        if (n == 0)
            break;
        if (!res.write({piece.data(), static_cast<std::size_t>(n)}))
            return;
    }
}

}  // namespace

POSTERN_APP(doc)
