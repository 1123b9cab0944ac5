// A module that exports both entry points: refused, naming it.
#include <postern/postern.hpp>

namespace {

void handle(postern::Request&, postern::Response& res) {
    res.write("app");
}

postern::Handler setup(const postern::ModuleConfig&) {
    return handle;
}

}  // namespace

POSTERN_APP(handle)
POSTERN_MODULE(setup)
