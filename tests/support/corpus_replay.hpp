// Test support: request heads recorded from the real front ends
// (tests/data/<protocol>/), replayed through a decoder the way a connection
// receives them: whole, one byte at a time, and in two reads split at every
// offset; every way must decode to the recorded request.
//
// For the decoders of the one-request protocols (SCGI, uwsgi), which share
// a shape: decode_request(bytes, limits, request) gives a Result with
// `status` (done, need_more, error), `consumed` and `reason`, and fills a
// request with `params` in the order sent.
//
// Header-only (it uses GoogleTest's assertions); belongs to the test thread.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "process.hpp"

namespace postern::test {

/// One recorded request and what it must decode to.
struct Recorded {
    const char* file;  ///< tests/data/<protocol>/<file>.bin
    const char* method;
    const char* uri;
    const char* body;
    std::size_t x_rep_copies;  ///< nginx 1.22 sends a repeated header apart
    bool proxy_sent;           ///< Apache drops a client's Proxy: itself
};

inline void PrintTo(const Recorded& r, std::ostream* os) {
    *os << r.file;
}

/// The requests recorded from nginx 1.22.1 and Apache 2.4.71 with the
/// snippets as shipped, on Debian 12: the same six for SCGI and uwsgi.
inline const std::vector<Recorded> kOneRequestRecordings = {
    {"nginx-get-query-repeated", "GET", "/app/x%20y?a=1&b=%20two", "", 2, true},
    {"nginx-post-body", "POST", "/app/upload", "hello", 0, false},
    {"nginx-head", "HEAD", "/hello", "", 0, false},
    {"apache-get-query-repeated", "GET", "/app/x%20y?a=1&b=%20two", "", 1, false},
    {"apache-post-body", "POST", "/app/upload", "hello", 0, false},
    {"apache-head", "HEAD", "/hello", "", 0, false},
};

/// The test name of a recording: its file name with '_' for '-'.
inline std::string recorded_name(const ::testing::TestParamInfo<Recorded>& info) {
    std::string name = info.param.file;
    for (char& c : name)
        if (c == '-')
            c = '_';
    return name;
}

/// Every value of the variable `name` in `params`, in the order sent.
inline std::vector<std::string> values_of(
    const std::vector<std::pair<std::string, std::string>>& params, std::string_view name) {
    std::vector<std::string> out;
    for (const auto& [k, v] : params)
        if (k == name)
            out.push_back(v);
    return out;
}

/// The fixture of a codec's corpus tests. `Codec` provides:
///   static constexpr std::string_view kDataDir;  // "scgi": tests/data/scgi/
///   using Request = ...;
///   static Result decode(std::string_view bytes, Request& req);  // as the adapter decodes
///   static std::uint64_t content_length(const Request& req);
///   static void check_protocol(const Request& req);  // the protocol's own expectations
/// A codec test names the fixture (`using ScgiCorpus =
/// test::CorpusReplay<ScgiCodec>;`), writes one TEST_P per replay_*() and
/// instantiates it over the recordings (kOneRequestRecordings).
template <class Codec>
class CorpusReplay : public ::testing::TestWithParam<Recorded> {
  protected:
    using Request = typename Codec::Request;

    void SetUp() override {
        const char* dir = std::getenv("POSTERN_SOURCE_DIR");
        bytes_ = read_file(std::string(dir ? dir : ".") + "/tests/data/" +
                           std::string(Codec::kDataDir) + "/" + GetParam().file + ".bin");
        ASSERT_FALSE(bytes_.empty()) << GetParam().file;
    }

    /// The whole recording in one read.
    void replay_whole() const {
        Request req;
        const auto r = Codec::decode(bytes_, req);
        ASSERT_EQ(r.status, decltype(r.status)::done) << r.reason;
        check(r.consumed, req);
    }

    /// The bytes arrive one at a time, the decoder is asked after each: it
    /// needs more until the header's last byte, then gives the same request
    /// as a whole decode.
    void replay_one_byte_at_a_time() const {
        std::string received;
        for (std::size_t i = 0; i < bytes_.size(); ++i) {
            received += bytes_[i];
            Request req;
            const auto r = Codec::decode(received, req);
            if (r.status == decltype(r.status)::done) {
                EXPECT_EQ(r.consumed, received.size()) << "done before the header's last byte";
                check(r.consumed, req);
                return;
            }
            ASSERT_EQ(r.status, decltype(r.status)::need_more)
                << "after byte " << i << ": " << r.reason;
        }
        FAIL() << "never done";
    }

    /// Two reads, split at every offset: the first needs more when it ends
    /// inside the header, and the whole decodes to the same request.
    void replay_split_at_every_offset() const {
        Request whole;
        const auto w = Codec::decode(bytes_, whole);
        using Status = decltype(w.status);
        ASSERT_EQ(w.status, Status::done) << w.reason;
        for (std::size_t at = 1; at < bytes_.size(); ++at) {
            std::string received = bytes_.substr(0, at);
            Request first;
            const auto p = Codec::decode(received, first);
            if (at < w.consumed) {
                ASSERT_EQ(p.status, Status::need_more)
                    << "first read of " << at << ": " << p.reason;
            } else {
                ASSERT_EQ(p.status, Status::done) << "first read of " << at << ": " << p.reason;
                EXPECT_EQ(p.consumed, w.consumed) << "first read of " << at;
            }
            received += bytes_.substr(at);
            Request req;
            const auto r = Codec::decode(received, req);
            ASSERT_EQ(r.status, Status::done) << "split at " << at << ": " << r.reason;
            EXPECT_EQ(r.consumed, w.consumed) << "split at " << at;
            EXPECT_EQ(describe(req), describe(whole)) << "split at " << at;
        }
    }

  private:
    /// What the recording must decode to: the header `consumed` bytes long,
    /// the body after it, and the variables of the recorded request.
    void check(std::size_t consumed, const Request& req) const {
        const Recorded& c = GetParam();
        EXPECT_EQ(bytes_.substr(consumed), c.body);
        EXPECT_EQ(Codec::content_length(req), std::string(c.body).size());
        Codec::check_protocol(req);
        EXPECT_EQ(values_of(req.params, "REQUEST_METHOD"), std::vector<std::string>{c.method});
        EXPECT_EQ(values_of(req.params, "REQUEST_URI"), std::vector<std::string>{c.uri});
        if (std::string(c.method) == "GET") {
            EXPECT_EQ(values_of(req.params, "HTTP_X_REP").size(), c.x_rep_copies);
            EXPECT_EQ(values_of(req.params, "HTTP_PROXY").size(), c.proxy_sent ? 1u : 0u);
        }
    }

    /// Every field of a decoded request, for comparing two decodes.
    static std::string describe(const Request& req) {
        std::string out = "content_length " + std::to_string(Codec::content_length(req)) + "\n";
        for (const auto& [k, v] : req.params)
            out += k + "=" + v + "\n";
        return out;
    }

    std::string bytes_;
};

}  // namespace postern::test
