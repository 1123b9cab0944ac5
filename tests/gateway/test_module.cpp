#include <postern/postern.hpp>

namespace {
void handle(postern::Request& req, postern::Response& res) {
    res.header("Content-Type", "text/plain");
    res.write("module saw ");
    res.write(req.path_info());
}
}  // namespace

POSTERN_APP(handle)
