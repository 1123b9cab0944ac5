// Integration tests: the fixtures of suites that share one Stack, started
// once for the suite (SetUpTestSuite) and stopped after its last case. A
// start-up failure is reported by every case; the stop's problems become
// failures; the logs are printed when a case failed; POSTERN_KEEP_TEMP=1
// keeps the configs and logs for a post-mortem.
//
// - StackSuite<Derived>: a suite parameterised over topologies:
//   `class MyTest : public StackSuite<MyTest>`, with an optional
//   `static std::unique_ptr<Stack> make_stack()` (default: every topology,
//   default options). Each case then has endpoint_ for GetParam(), and
//   send(), get() and echo() to it.
// - GatewaySuite<Derived>: a suite that is not parameterised:
//   `class MyTest : public GatewaySuite<MyTest>`, with an optional
//   make_stack() (default: a stack of no topologies, the gateway alone);
//   each case has gateway(), and endpoint_of(name) for a topology of its
//   stack.
//
// A fixture derived from a suite's fixture (class B : public MyTest) shares
// its make_stack() and starts a stack of its own for its own suite.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "echo_reply.hpp"
#include "http_client.hpp"
#include "stack.hpp"

namespace postern::test {

/// The end of a stack that a suite (or a whole test binary) shared: the
/// stop's problems become failures, the logs are printed when `failed` or
/// the stop went wrong, POSTERN_KEEP_TEMP=1 keeps its directory; then the
/// stack is gone. Nothing happens when it never started.
inline void end_shared_stack(std::unique_ptr<Stack>& stack, bool failed) {
    if (!stack)
        return;
    const auto problems = stack->stop();
    for (const auto& p : problems)
        ADD_FAILURE() << p;
    if (failed || !problems.empty())
        std::fprintf(stderr, "%s", stack->log_tails().c_str());
    if (std::getenv("POSTERN_KEEP_TEMP") != nullptr) {
        stack->keep_dir();
        std::fprintf(stderr, "kept %s\n", stack->dir().path().c_str());
    }
    stack.reset();
}

/// The suite-wide life of one Stack, for the fixtures below: `Base` is the
/// gtest fixture (::testing::Test or ::testing::TestWithParam<Topology>).
template <class Derived, class Base>
class SharedStack : public Base {
  protected:
    static void SetUpTestSuite() {
        failed_ = false;
        startup_error_.clear();
        try {
            stack_ = Derived::make_stack();
        } catch (const std::exception& e) {
            startup_error_ = e.what();
        }
    }

    static void TearDownTestSuite() { end_shared_stack(stack_, failed_); }

    void SetUp() override {
        ASSERT_NE(stack_, nullptr) << "the test stack did not start: " << startup_error_;
    }

    void TearDown() override {
        if (this->HasFailure())
            failed_ = true;
    }

    static Stack& stack() { return *stack_; }
    static Gateway& gateway() { return stack_->gateway(); }

    /// The endpoint of the stack's topology `name` (a comparison site, a
    /// case of a suite that is not parameterised), its front end started
    /// if it is not running yet.
    static Stack::Endpoint endpoint_of(const std::string& name) { return stack_->endpoint(name); }

    static inline std::unique_ptr<Stack> stack_;
    static inline std::string startup_error_;
    static inline bool failed_ = false;
};

template <class Derived>
class StackSuite : public SharedStack<Derived, ::testing::TestWithParam<Topology>> {
  public:
    static std::unique_ptr<Stack> make_stack() { return std::make_unique<Stack>(); }

  protected:
    using Shared = SharedStack<Derived, ::testing::TestWithParam<Topology>>;

    void SetUp() override {
        Shared::SetUp();
        if (this->HasFatalFailure())
            return;
        try {
            endpoint_ = Shared::stack_->endpoint(this->GetParam());
        } catch (const std::exception& e) {
            FAIL() << "cannot start the front end of " << this->GetParam().name << ": " << e.what();
        }
    }

    /// `req` to the case's endpoint on a fresh connection, Host being the
    /// address the client connected to.
    HttpResponse send(const HttpRequest& req,
                      std::chrono::milliseconds timeout = std::chrono::seconds(60)) const {
        return http_request(endpoint_.address, endpoint_.address, req, timeout);
    }
    HttpResponse get(const std::string& target) const {
        HttpRequest req;
        req.target = target;
        return send(req);
    }
    /// A request to the echo module that must answer 200, parsed.
    EchoReply echo(const HttpRequest& req) const {
        const HttpResponse res = send(req);
        if (res.status != 200)
            throw std::runtime_error("echo answered " + std::to_string(res.status) + ": " +
                                     res.body.substr(0, 300));
        return EchoReply(res.body);
    }

    Stack::Endpoint endpoint_;
};

template <class Derived>
class GatewaySuite : public SharedStack<Derived, ::testing::Test> {
  public:
    /// The gateway alone: a stack of no topologies.
    static std::unique_ptr<Stack> make_stack() {
        return std::make_unique<Stack>(std::vector<Topology>{});
    }
};

}  // namespace postern::test
