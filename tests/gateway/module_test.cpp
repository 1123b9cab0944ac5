#include "core/module.hpp"

#include <gtest/gtest.h>

#include "sink.hpp"

namespace postern {
namespace {

TEST(Module, LoadsTheEntryPoint) {
    Handler h = load_module(TEST_MODULE);
    test::RecordingSink sink;
    test::StringBody body("");
    Request req("http", {{"PATH_INFO", "/x"}}, body);
    Response res(sink, false);
    h(req, res);
    res.finish();
    EXPECT_EQ(sink.body, "module saw /x");
}

void expect_error_naming(const std::string& file, const std::string& words) {
    try {
        load_module(file);
        FAIL() << "expected an error for " << file;
    } catch (const std::runtime_error& e) {
        std::string what = e.what();
        EXPECT_NE(what.find(file), std::string::npos) << what;
        EXPECT_NE(what.find(words), std::string::npos) << what;
    }
}

TEST(Module, ClearErrors) {
    expect_error_naming(TEST_NO_ENTRY, "no POSTERN_APP entry point");
    expect_error_naming(TEST_NOT_A_MODULE, "cannot load module");
    expect_error_naming("/nonexistent/x.so", "cannot load module");
}

}  // namespace
}  // namespace postern
