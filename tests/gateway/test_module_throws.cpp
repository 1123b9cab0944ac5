// A module whose setup fails: throws, with a line feed in its message (the
// error stays one line), unless the setting `fail` is "no" (it serves) or
// "empty" (it returns an empty Handler).
#include <stdexcept>
#include <string>

#include <postern/postern.hpp>

namespace {

postern::Handler setup(const postern::ModuleConfig& cfg) {
    if (cfg.get("fail") == "empty")
        return {};
    if (cfg.get("fail", "yes") == "yes")
        throw std::runtime_error("cannot open the database " +
                                 std::string(cfg.get("database", "(none)")) + "\nat all");
    return [](postern::Request&, postern::Response& res) { res.write("set up"); };
}

}  // namespace

POSTERN_MODULE(setup)
