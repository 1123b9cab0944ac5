#include "core/module.hpp"

#include <dlfcn.h>

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "recording_sink.hpp"
#include "stderr_capture.hpp"

namespace postern {
namespace {

using Settings = std::vector<std::pair<std::string, std::string>>;

ModuleConfig config_of(const std::string& file, Settings settings = {},
                       const std::string& mount = "/m") {
    return ModuleConfig(mount, file, std::move(settings));
}

/// Runs `h` on a GET of `path`; returns the body.
std::string call(const Handler& h, const std::string& path = "/x") {
    test::RecordingSink sink;
    test::StringBody body("");
    Request req("http", {{"REQUEST_METHOD", "GET"}, {"PATH_INFO", path}}, body);
    Response res(sink, false);
    h(req, res);
    res.finish();
    return sink.body;
}

/// A counter the setup test module exports (it is loaded once, never
/// unloaded: RTLD_NOLOAD finds the same copy).
int module_counter(const char* name) {
    void* handle = ::dlopen(TEST_MODULE_SETUP, RTLD_NOW | RTLD_NOLOAD);
    if (handle == nullptr)
        return -1;
    auto fn = reinterpret_cast<int (*)()>(::dlsym(handle, name));
    const int n = fn != nullptr ? fn() : -1;
    ::dlclose(handle);  // drops the reference NOLOAD took only
    return n;
}

TEST(Module, LoadsTheEntryPoint) {
    LoadedModule m = load_module(config_of(TEST_MODULE));
    EXPECT_EQ(m.file, TEST_MODULE);
    EXPECT_EQ(m.teardown, nullptr) << "POSTERN_APP has none";
    EXPECT_EQ(call(m.handler), "module saw /x");
}

void expect_error_naming(const std::string& file, const std::string& words,
                         Settings settings = {}) {
    try {
        load_module(config_of(file, std::move(settings)));
        FAIL() << "expected an error for " << file;
    } catch (const std::runtime_error& e) {
        std::string what = e.what();
        EXPECT_NE(what.find(file), std::string::npos) << what;
        EXPECT_NE(what.find(words), std::string::npos) << what;
        EXPECT_EQ(what.find('\n'), std::string::npos) << "one line: " << what;
    }
}

TEST(Module, ClearErrors) {
    expect_error_naming(TEST_NO_ENTRY, "has no entry point: neither POSTERN_APP");
    expect_error_naming(TEST_NOT_A_MODULE, "cannot load module");
    expect_error_naming("/nonexistent/x.so", "cannot load module");
}

TEST(Module, BothEntryPointsIsAnErrorNamingTheModule) {
    expect_error_naming(TEST_MODULE_BOTH, "exports both POSTERN_MODULE");
}

TEST(Module, SetupRunsOnceWithTheMountsSettingsAndTeardownOnce) {
    const int setups = module_counter("test_module_setups");
    const int teardowns = module_counter("test_module_teardowns");
    std::vector<LoadedModule> modules;
    modules.push_back(load_module(
        config_of(TEST_MODULE_SETUP,
                  {{"greeting", "first"}, {"other", "x"}, {"greeting", "bonjour"}}, "/api")));
    ASSERT_EQ(module_counter("test_module_setups"), std::max(setups, 0) + 1);
    ASSERT_NE(modules[0].teardown, nullptr);
    ASSERT_NE(modules[0].config, nullptr);
    EXPECT_EQ(modules[0].config->mount(), "/api");
    EXPECT_EQ(modules[0].config->module(), TEST_MODULE_SETUP);
    // The last of a repeated key wins; the handler, called as often as
    // wanted, sets nothing up again.
    const std::string first = call(modules[0].handler);
    EXPECT_EQ(first.rfind("bonjour pid=", 0), 0u) << first;
    EXPECT_EQ(call(modules[0].handler), first);
    EXPECT_EQ(module_counter("test_module_setups"), std::max(setups, 0) + 1);
    EXPECT_EQ(module_counter("test_module_teardowns"), std::max(teardowns, 0));

    teardown_modules(modules);
    EXPECT_EQ(module_counter("test_module_teardowns"), std::max(teardowns, 0) + 1);
    EXPECT_FALSE(modules[0].handler) << "the handler goes before teardown";
    teardown_modules(modules);
    EXPECT_EQ(module_counter("test_module_teardowns"), std::max(teardowns, 0) + 1) << "once";
}

TEST(Module, ATeardownThatThrowsIsLoggedNamingTheModuleAndTheOthersStillRun) {
    std::vector<LoadedModule> modules;
    modules.push_back(load_module(config_of(TEST_MODULE_SETUP, {{"teardown", "throw"}}, "/a")));
    modules.push_back(load_module(config_of(TEST_MODULE, {}, "/b")));
    const int teardowns = module_counter("test_module_teardowns");
    test::StderrCapture capture;
    teardown_modules(modules);
    const std::string log = capture.text();
    EXPECT_EQ(module_counter("test_module_teardowns"), teardowns + 1);
    EXPECT_NE(log.find(std::string("module ") + TEST_MODULE_SETUP +
                       ": teardown threw: the pool would not close"),
              std::string::npos)
        << log;
}

TEST(Module, AFailingSetupIsOneLineNamingTheModuleAndTheError) {
    try {
        load_module(config_of(TEST_MODULE_THROWS, {{"database", "/srv/db"}}));
        FAIL() << "setup threw";
    } catch (const std::runtime_error& e) {
        EXPECT_EQ(std::string(e.what()), std::string("module ") + TEST_MODULE_THROWS +
                                             ": setup failed: cannot open the database "
                                             "/srv/db\\x0Aat all");
    }
    expect_error_naming(TEST_MODULE_THROWS, "setup returned no handler", {{"fail", "empty"}});
    // The same module, set up to succeed, serves.
    LoadedModule ok = load_module(config_of(TEST_MODULE_THROWS, {{"fail", "no"}}));
    EXPECT_EQ(call(ok.handler), "set up");
}

TEST(ModuleConfig, GetTakesTheLastValueOrTheFallback) {
    const ModuleConfig cfg("/api", "rest.so",
                           {{"db", "a"}, {"empty", ""}, {"db", "b"}, {"size", "50"}});
    EXPECT_EQ(cfg.get("db"), "b");
    EXPECT_EQ(cfg.get("empty", "fallback"), "") << "given, if empty";
    EXPECT_EQ(cfg.get("missing", "fallback"), "fallback");
    EXPECT_EQ(cfg.get("missing"), "");
    EXPECT_EQ(cfg.get("DB", "-"), "-") << "keys are exact";
    EXPECT_EQ(ModuleConfig().get("db", "x"), "x") << "no section";
}

TEST(ModuleConfig, GetIntChecksTheNumberAndItsRange) {
    const ModuleConfig cfg("/api", "rest.so",
                           {{"size", "50"},
                            {"negative", "-5"},
                            {"plus", "+5"},
                            {"word", "fifty"},
                            {"trailing", "50x"},
                            {"inner", "5 0"},
                            {"empty", ""},
                            {"huge", "99999999999999999999"},
                            {"ctl", "1\x01"}});
    EXPECT_EQ(cfg.get_int("size", 10, 1, 100), 50);
    EXPECT_EQ(cfg.get_int("missing", 10, 1, 100), 10);
    EXPECT_EQ(cfg.get_int("negative", 0, -10, 10), -5);
    EXPECT_EQ(cfg.get_int("size", 0, 50, 50), 50) << "the bounds are inclusive";
    for (const char* bad : {"plus", "word", "trailing", "inner", "empty", "huge", "ctl"})
        EXPECT_THROW(cfg.get_int(bad, 0, -1000, 1000), std::invalid_argument) << bad;
    EXPECT_THROW(cfg.get_int("size", 0, 1, 49), std::invalid_argument);
    EXPECT_THROW(cfg.get_int("negative", 0, 0, 10), std::invalid_argument);
    try {
        cfg.get_int("ctl", 0, 0, 10);
    } catch (const std::invalid_argument& e) {
        EXPECT_EQ(std::string(e.what()),
                  "setting ctl of mount /api: expected a whole number from 0 to 10, got "
                  "\"1\\x01\"");
    }
}

}  // namespace
}  // namespace postern
