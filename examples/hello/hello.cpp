// Example: the smallest Postern application. The 2009 benchmark's "hello"
// round: a fixed 14-byte text/plain answer.
#include <postern/postern.hpp>

namespace {

void hello(postern::Request&, postern::Response& res) {
    res.header("Content-Type", "text/plain");
    res.write("Hello, world!\n");
}

}  // namespace

POSTERN_APP(hello)
