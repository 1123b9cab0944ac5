// Integration tests: the fixture of a suite parameterised over topologies
// that share one Stack, started once for the suite (SetUpTestSuite) and
// stopped after its last case. A start-up failure is reported by every case;
// the stop's problems become failures; the logs are printed when a case
// failed; POSTERN_KEEP_TEMP=1 keeps the configs and logs for a post-mortem.
//
// Derived: `class MyTest : public StackSuite<MyTest>`, with an optional
// `static std::unique_ptr<Stack> make_stack()` (default: every topology,
// default options). Each case then has endpoint_ for GetParam().
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>

#include "stack.hpp"

namespace postern::test {

template <class Derived>
class StackSuite : public ::testing::TestWithParam<Topology> {
  public:
    static std::unique_ptr<Stack> make_stack() { return std::make_unique<Stack>(); }

  protected:
    static void SetUpTestSuite() {
        try {
            stack_ = Derived::make_stack();
        } catch (const std::exception& e) {
            startup_error_ = e.what();
        }
    }

    static void TearDownTestSuite() {
        if (!stack_)
            return;
        const auto problems = stack_->stop();
        for (const auto& p : problems)
            ADD_FAILURE() << p;
        if (failed_ || !problems.empty())
            std::fprintf(stderr, "%s", stack_->log_tails().c_str());
        if (std::getenv("POSTERN_KEEP_TEMP") != nullptr) {
            stack_->keep_dir();
            std::fprintf(stderr, "kept %s\n", stack_->dir().path().c_str());
        }
        stack_.reset();
    }

    void SetUp() override {
        ASSERT_NE(stack_, nullptr) << "the test stack did not start: " << startup_error_;
        try {
            endpoint_ = stack_->endpoint(GetParam());
        } catch (const std::exception& e) {
            FAIL() << "cannot start the front end of " << GetParam().name << ": " << e.what();
        }
    }

    void TearDown() override {
        if (HasFailure())
            failed_ = true;
    }

    static inline std::unique_ptr<Stack> stack_;
    static inline std::string startup_error_;
    static inline bool failed_ = false;
    Stack::Endpoint endpoint_;
};

}  // namespace postern::test
