// adapters/fastcgi/head_validator.cpp: every input paired with its outcome.
#include "fastcgi/head_validator.hpp"

#include <gtest/gtest.h>

#include <string>

#include "fcgi_client.hpp"

namespace postern::fastcgi {
namespace {

namespace wire = postern::test::fcgi;
using Status = HeadValidator::Status;
using Code = HeadValidator::ErrorCode;

constexpr std::uint64_t kLimit = 1024;

/// BEGIN_REQUEST, two params, the empty PARAMS record.
std::string valid_head() {
    return wire::begin_request(1) +
           wire::params_stream(1, {{"REQUEST_METHOD", "GET"}, {"HTTP_X", "1"}});
}

std::string raw_lengths(std::uint32_t name, std::uint32_t value) {
    std::string out;
    for (std::uint32_t n : {name, value}) {
        out += static_cast<char>(((n >> 24) & 0x7f) | 0x80);
        out += static_cast<char>((n >> 16) & 0xff);
        out += static_cast<char>((n >> 8) & 0xff);
        out += static_cast<char>(n & 0xff);
    }
    return out;
}

TEST(HeadValidator, ValidHeadIsDoneAtItsLastByteAndNotBefore) {
    const std::string head = valid_head();
    for (std::size_t cut = 0; cut < head.size(); ++cut) {
        HeadValidator v(kLimit);
        EXPECT_EQ(v.feed(std::string_view(head).substr(0, cut)), Status::need_more)
            << "cut at " << cut;
    }
    HeadValidator v(kLimit);
    EXPECT_EQ(v.feed(head), Status::done);
    EXPECT_EQ(v.request_id(), 1);
    EXPECT_EQ(v.role(), wire::kResponder);
    EXPECT_EQ(v.params_bytes(), wire::name_value("REQUEST_METHOD", "GET").size() +
                                    wire::name_value("HTTP_X", "1").size());
}

TEST(HeadValidator, ByteByByteGivesTheSameOutcome) {
    const std::string head = valid_head() + wire::stdin_stream(1, "body");
    HeadValidator v(kLimit);
    std::size_t fed = 0;
    while (fed < head.size() && v.feed(head.substr(fed, 1)) == Status::need_more)
        ++fed;
    EXPECT_EQ(v.status(), Status::done);
    EXPECT_EQ(fed + 1, valid_head().size());
}

TEST(HeadValidator, PairsSpanningRecordsPaddingAndManagementRecordsAreValid) {
    const std::string pairs = wire::name_value("NAME", std::string(300, 'v'));
    const std::string head =
        wire::record(wire::kGetValues, 0, wire::name_value("FCGI_MAX_CONNS", "")) +
        wire::begin_request(7, true, 2) + wire::record(wire::kParams, 7, pairs.substr(0, 3), 5) +
        wire::record(wire::kGetValues, 0, "") + wire::record(wire::kParams, 7, pairs.substr(3), 3) +
        wire::record(wire::kParams, 7, "");
    HeadValidator v(kLimit);
    EXPECT_EQ(v.feed(head), Status::done);
    EXPECT_EQ(v.request_id(), 7);
    EXPECT_EQ(v.role(), 2);
    EXPECT_EQ(v.params_bytes(), pairs.size());
}

TEST(HeadValidator, BytesAfterTheHeadAreNotExamined) {
    HeadValidator v(kLimit);
    EXPECT_EQ(v.feed(valid_head() + "\x09garbage"), Status::done);
    EXPECT_EQ(v.offset(), valid_head().size());
    EXPECT_EQ(v.feed("more garbage"), Status::done);
}

struct BadCase {
    const char* name;
    std::string input;
    Code code;
    std::uint64_t offset;
    const char* reason_part;
};

class HeadValidatorError : public ::testing::TestWithParam<BadCase> {};

TEST_P(HeadValidatorError, IsReportedWithCodeOffsetAndReason) {
    const BadCase& c = GetParam();
    HeadValidator v(kLimit);
    EXPECT_EQ(v.feed(c.input), Status::error);
    EXPECT_EQ(v.error_code(), c.code);
    EXPECT_EQ(v.error_offset(), c.offset);
    EXPECT_NE(v.error_reason().find(c.reason_part), std::string::npos) << v.error_reason();
    // The outcome does not depend on how the bytes were cut.
    HeadValidator bytewise(kLimit);
    for (char ch : c.input)
        if (bytewise.feed(std::string(1, ch)) != Status::need_more)
            break;
    EXPECT_EQ(bytewise.status(), Status::error);
    EXPECT_EQ(bytewise.error_code(), c.code);
    EXPECT_EQ(bytewise.error_offset(), c.offset);
}

const std::string kBegin = wire::begin_request(1);  // 16 bytes

INSTANTIATE_TEST_SUITE_P(
    Cases, HeadValidatorError,
    ::testing::Values(
        BadCase{"bad_version", wire::record(wire::kBeginRequest, 1, std::string(8, '\0'), 0, 2),
                Code::bad_version, 0, "version byte 0x02"},
        BadCase{"bad_version_later", kBegin + wire::record(wire::kParams, 1, "", 0, 0),
                Code::bad_version, 16, "version byte 0x00"},
        BadCase{"stdin_before_begin", wire::stdin_stream(1, ""), Code::unexpected_record, 0,
                "FCGI_STDIN record for request 1 before FCGI_BEGIN_REQUEST"},
        BadCase{"unknown_type_before_begin", wire::record(12, 1, "x"), Code::unexpected_record, 0,
                "a record of type 12 for request 1 before FCGI_BEGIN_REQUEST"},
        BadCase{"begin_with_id_0", wire::begin_request(0), Code::bad_begin_request, 0,
                "request id 0"},
        BadCase{"begin_body_of_9", wire::record(wire::kBeginRequest, 1, std::string(9, '\0')),
                Code::bad_begin_request, 0, "body of 9 bytes"},
        BadCase{"second_begin", kBegin + wire::begin_request(2), Code::other_request, 16,
                "request 2 while request 1"},
        BadCase{"stdin_before_params_end", kBegin + wire::stdin_stream(1, "x"),
                Code::unexpected_record, 16, "FCGI_STDIN record before the end of FCGI_PARAMS"},
        BadCase{"params_end_inside_a_pair",
                kBegin +
                    wire::record(wire::kParams, 1,
                                 std::string("\x04\x01"
                                             "AB",
                                             4)) +
                    wire::record(wire::kParams, 1, ""),
                Code::split_pair, 28, "inside a name-value pair"},
        // A length larger than its record: the pair runs on, then the stream
        // ends inside it.
        BadCase{"length_larger_than_the_record",
                kBegin + wire::record(wire::kParams, 1, raw_lengths(0x100, 1) + "AAAA") +
                    wire::record(wire::kParams, 1, ""),
                Code::split_pair, 36, "inside a name-value pair"},
        // CVE-2025-23016: 0x7fffffff + 0x7fffffff + 2 wraps a 32-bit int.
        BadCase{"cve_2025_23016_lengths",
                kBegin + wire::record(wire::kParams, 1,
                                      raw_lengths(0x7fffffff, 0x7fffffff) + "AAAAAAAA"),
                Code::params_too_large, 24, "FastCGI params of 2147483652 bytes (limit 1024)"},
        // The name length alone is refused, before the value length arrives.
        BadCase{"name_length_alone_over_the_limit",
                kBegin + wire::record(wire::kParams, 1, raw_lengths(0x40000000, 0).substr(0, 4)),
                Code::params_too_large, 24, "FastCGI params of 1073741829 bytes"},
        BadCase{"many_small_pairs_over_the_limit",
                kBegin + wire::params_stream(1, wire::Params(100, {"HTTP_NAME", "value"})),
                Code::params_too_large, 24 + 16 * 64, "FastCGI params of 1035 bytes (limit 1024)"}),
    [](const ::testing::TestParamInfo<BadCase>& info) { return std::string(info.param.name); });

// Found by fastcgi_head_fuzz: offset() after a params limit error was 24
// when the bytes came whole and the error offset byte by byte.
TEST(HeadValidator, OffsetAfterALimitErrorDoesNotDependOnTheSplit) {
    const std::string head =
        kBegin + wire::params_stream(1, wire::Params(100, {"HTTP_NAME", "value"}));
    HeadValidator whole(kLimit);
    ASSERT_EQ(whole.feed(head), Status::error);
    HeadValidator bytes(kLimit);
    for (std::size_t i = 0; i < head.size() && bytes.feed(head.substr(i, 1)) == Status::need_more;
         ++i) {
    }
    ASSERT_EQ(bytes.status(), Status::error);
    EXPECT_EQ(whole.offset(), bytes.offset());
    EXPECT_EQ(whole.error_offset(), bytes.error_offset());
    EXPECT_GT(whole.offset(), whole.error_offset());
}

TEST(HeadValidator, ParamsExactlyAtTheLimitPass) {
    // 1 + 4 length bytes, 4 name bytes, 1015 value bytes: 1024 in all.
    const std::string head =
        kBegin + wire::params_stream(1, {{"NAME", std::string(kLimit - 6 - 3, 'v')}});
    HeadValidator v(kLimit);
    EXPECT_EQ(v.feed(head), Status::done) << v.error_reason();
    EXPECT_EQ(v.params_bytes(), kLimit);
}

TEST(HeadValidator, NameValueSizeFollowsTheSpec) {
    EXPECT_EQ(name_value_size(0, 0), 2u);
    EXPECT_EQ(name_value_size(127, 127), 256u);
    EXPECT_EQ(name_value_size(128, 1), 4u + 1 + 128 + 1);
    EXPECT_EQ(name_value_size(1, 0x7fffffff), 1u + 4 + 1 + 0x7fffffffull);
}

}  // namespace
}  // namespace postern::fastcgi
