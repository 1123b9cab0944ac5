// adapters/fastcgi/record_validator.cpp: every input paired with its outcome.
#include "fastcgi/record_validator.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <initializer_list>
#include <string>

#include "fcgi_client.hpp"

namespace postern::fastcgi {
namespace {

namespace wire = postern::test::fcgi;
using Status = RecordValidator::Status;
using Code = RecordValidator::ErrorCode;

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

TEST(RecordValidator, ValidHeadIsDoneAtItsLastByteAndNotBefore) {
    const std::string head = valid_head();
    for (std::size_t cut = 0; cut < head.size(); ++cut) {
        RecordValidator v(kLimit);
        EXPECT_EQ(v.feed(std::string_view(head).substr(0, cut)), Status::need_more)
            << "cut at " << cut;
    }
    RecordValidator v(kLimit);
    EXPECT_EQ(v.feed(head), Status::done);
    EXPECT_EQ(v.request_id(), 1);
    EXPECT_EQ(v.role(), wire::kResponder);
    EXPECT_EQ(v.params_bytes(), wire::name_value("REQUEST_METHOD", "GET").size() +
                                    wire::name_value("HTTP_X", "1").size());
}

TEST(RecordValidator, ByteByByteGivesTheSameOutcome) {
    const std::string head = valid_head() + wire::stdin_stream(1, "body");
    RecordValidator v(kLimit);
    std::size_t fed = 0;
    while (fed < head.size() && v.feed(head.substr(fed, 1)) == Status::need_more)
        ++fed;
    EXPECT_EQ(v.status(), Status::done);
    EXPECT_EQ(fed + 1, valid_head().size());
}

TEST(RecordValidator, PairsSpanningRecordsPaddingAndManagementRecordsAreValid) {
    const std::string pairs = wire::name_value("NAME", std::string(300, 'v'));
    const std::string head =
        wire::record(wire::kGetValues, 0, wire::name_value("FCGI_MAX_CONNS", "")) +
        wire::begin_request(7, true, 2) + wire::record(wire::kParams, 7, pairs.substr(0, 3), 5) +
        wire::record(wire::kGetValues, 0, "") + wire::record(wire::kParams, 7, pairs.substr(3), 3) +
        wire::record(wire::kParams, 7, "");
    RecordValidator v(kLimit);
    EXPECT_EQ(v.feed(head), Status::done);
    EXPECT_EQ(v.request_id(), 7);
    EXPECT_EQ(v.role(), 2);
    EXPECT_EQ(v.params_bytes(), pairs.size());
}

TEST(RecordValidator, TheBodyIsCheckedAfterTheHead) {
    RecordValidator v(kLimit);
    EXPECT_EQ(v.feed(valid_head()), Status::done);
    EXPECT_EQ(v.feed(wire::record(wire::kStdin, 1, "body")), Status::done);
    EXPECT_FALSE(v.body_complete());
    EXPECT_EQ(v.feed(wire::record(wire::kStdin, 1, "")), Status::done);
    EXPECT_TRUE(v.body_complete());
    EXPECT_TRUE(v.ended());
}

TEST(RecordValidator, StopsAtTheEndOfTheRequest) {
    // What follows the empty FCGI_STDIN record (and its padding) is the
    // next request's, sent before this one was answered: not examined, not
    // passed on, left for the next validator, whether it comes in the same
    // read or in a later one, valid or not.
    const std::string request = valid_head() + wire::record(wire::kStdin, 1, "body") +
                                wire::record(wire::kStdin, 1, "", 3);
    for (const std::string& next :
         {valid_head(), std::string("\x09garbage"), wire::record(wire::kStdin, 1, "y")}) {
        RecordValidator v(kLimit);
        std::string out(request.size() + next.size(), '\0');
        const std::string in = request + next;
        EXPECT_EQ(v.filter(in.data(), in.size(), out.data()), request.size());
        EXPECT_EQ(v.taken(), request.size());
        EXPECT_EQ(v.status(), Status::done);
        EXPECT_TRUE(v.ended());
        EXPECT_EQ(v.offset(), request.size());
        EXPECT_EQ(out.substr(0, request.size()), request);
        // A later read: nothing taken.
        EXPECT_EQ(v.filter(next.data(), next.size(), out.data()), 0u);
        EXPECT_EQ(v.taken(), 0u);
        EXPECT_EQ(v.status(), Status::done);
    }
    // Cut at every byte, the end is found at the same place.
    const std::string in = request + valid_head();
    for (std::size_t cut = 0; cut <= in.size(); ++cut) {
        RecordValidator v(kLimit);
        v.feed(std::string_view(in).substr(0, cut));
        const std::size_t first = v.taken();
        v.feed(std::string_view(in).substr(cut));
        EXPECT_EQ(cut < request.size() ? cut + v.taken() : first, request.size()) << cut;
        EXPECT_TRUE(v.ended()) << cut;
        EXPECT_EQ(v.offset(), request.size()) << cut;
    }
}

TEST(RecordValidator, AnEmptyAbortBeforeTheNextRequestIsDropped) {
    // §5.4: a front end that gave up on the request it sent last, and said
    // so before it read that request's FCGI_END_REQUEST. The record reaches
    // the next validator, which drops it like a management record (with no
    // answer) and takes the request after it.
    RecordValidator v(kLimit);
    std::string out(64 + valid_head().size(), '\0');
    const std::string in = wire::record(wire::kAbortRequest, 1, "", 2) + valid_head();
    const std::size_t kept = v.filter(in.data(), in.size(), out.data());
    EXPECT_EQ(v.status(), Status::done);
    EXPECT_EQ(kept, valid_head().size());
    EXPECT_EQ(out.substr(0, kept), valid_head());
    EXPECT_TRUE(v.answers().empty());
    EXPECT_EQ(v.request_bytes(), valid_head().size());
    // One with content is still an error, and so is a flood of them.
    RecordValidator with_content(kLimit);
    EXPECT_EQ(with_content.feed(wire::record(wire::kAbortRequest, 1, "x")), Status::error);
    EXPECT_EQ(with_content.error_code(), Code::unexpected_record);
    RecordValidator flood(kLimit);
    std::string many;
    for (std::size_t i = 0; i <= RecordValidator::kMaxManagementRecords; ++i)
        many += wire::record(wire::kAbortRequest, 1, "");
    EXPECT_EQ(flood.feed(many), Status::error);
    EXPECT_EQ(flood.error_code(), Code::too_many_management);
}

struct BadCase {
    const char* name;
    std::string input;
    Code code;
    std::uint64_t offset;
    const char* reason_part;
};

class RecordValidatorError : public ::testing::TestWithParam<BadCase> {};

TEST_P(RecordValidatorError, IsReportedWithCodeOffsetAndReason) {
    const BadCase& c = GetParam();
    RecordValidator v(kLimit);
    EXPECT_EQ(v.feed(c.input), Status::error);
    EXPECT_EQ(v.error_code(), c.code);
    EXPECT_EQ(v.error_offset(), c.offset);
    EXPECT_NE(v.error_reason().find(c.reason_part), std::string::npos) << v.error_reason();
    // The outcome does not depend on how the bytes were cut.
    RecordValidator bytewise(kLimit);
    for (char ch : c.input)
        if (bytewise.feed(std::string(1, ch)) == Status::error)
            break;
    EXPECT_EQ(bytewise.status(), Status::error);
    EXPECT_EQ(bytewise.error_code(), c.code);
    EXPECT_EQ(bytewise.error_offset(), c.offset);
}

const std::string kBegin = wire::begin_request(1);  // 16 bytes

INSTANTIATE_TEST_SUITE_P(
    Cases, RecordValidatorError,
    ::testing::Values(
        BadCase{"bad_version", wire::record(wire::kBeginRequest, 1, std::string(8, '\0'), 0, 2),
                Code::bad_version, 0, "version byte 0x02"},
        BadCase{"bad_version_later", kBegin + wire::record(wire::kParams, 1, "", 0, 0),
                Code::bad_version, 16, "version byte 0x00"},
        BadCase{"stdin_before_begin", wire::stdin_stream(1, ""), Code::unexpected_record, 0,
                "FCGI_STDIN record for request 1 before FCGI_BEGIN_REQUEST"},
        BadCase{"unknown_type_before_begin", wire::record(12, 1, "x"), Code::unknown_type, 0,
                "a record of type 12 for request 1, which a front end never sends"},
        BadCase{"stdout_from_the_front_end", kBegin + wire::record(wire::kStdout, 1, "x"),
                Code::unknown_type, 16, "FCGI_STDOUT record for request 1"},
        BadCase{"get_values_with_a_request_id", wire::record(wire::kGetValues, 1, ""),
                Code::unknown_type, 0, "FCGI_GET_VALUES record for request 1"},
        BadCase{"abort_inside_the_params", kBegin + wire::record(wire::kAbortRequest, 1, ""),
                Code::unexpected_record, 16, "before the end of FCGI_PARAMS"},
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
TEST(RecordValidator, OffsetAfterALimitErrorDoesNotDependOnTheSplit) {
    const std::string head =
        kBegin + wire::params_stream(1, wire::Params(100, {"HTTP_NAME", "value"}));
    RecordValidator whole(kLimit);
    ASSERT_EQ(whole.feed(head), Status::error);
    RecordValidator bytes(kLimit);
    for (std::size_t i = 0; i < head.size() && bytes.feed(head.substr(i, 1)) == Status::need_more;
         ++i) {
    }
    ASSERT_EQ(bytes.status(), Status::error);
    EXPECT_EQ(whole.offset(), bytes.offset());
    EXPECT_EQ(whole.error_offset(), bytes.error_offset());
    EXPECT_GT(whole.offset(), whole.error_offset());
}

TEST(RecordValidator, ParamsExactlyAtTheLimitPass) {
    // 1 + 4 length bytes, 4 name bytes, 1015 value bytes: 1024 in all.
    const std::string head =
        kBegin + wire::params_stream(1, {{"NAME", std::string(kLimit - 6 - 3, 'v')}});
    RecordValidator v(kLimit);
    EXPECT_EQ(v.feed(head), Status::done) << v.error_reason();
    EXPECT_EQ(v.params_bytes(), kLimit);
}

TEST(RecordValidator, NameValueSizeFollowsTheSpec) {
    EXPECT_EQ(name_value_size(0, 0), 2u);
    EXPECT_EQ(name_value_size(127, 127), 256u);
    EXPECT_EQ(name_value_size(128, 1), 4u + 1 + 128 + 1);
    EXPECT_EQ(name_value_size(1, 0x7fffffff), 1u + 4 + 1 + 0x7fffffffull);
}

// After the head: the records of the body are held to the same rules.
const std::string kHead = kBegin + wire::params_stream(1, {{"REQUEST_METHOD", "POST"}});

INSTANTIATE_TEST_SUITE_P(
    BodyCases, RecordValidatorError,
    ::testing::Values(
        BadCase{
            "bad_version_in_the_body",
            kHead + wire::record(wire::kStdin, 1, "ab") + wire::record(wire::kStdin, 1, "cd", 0, 2),
            Code::bad_version, kHead.size() + 10, "version byte 0x02"},
        BadCase{"other_request_in_the_body", kHead + wire::record(wire::kStdin, 3, "ab"),
                Code::other_request, kHead.size(), "request 3 while request 1"},
        BadCase{"params_after_their_end", kHead + wire::record(wire::kParams, 1, ""),
                Code::unexpected_record, kHead.size(), "FCGI_PARAMS record in the request body"},
        BadCase{"data_for_a_responder", kHead + wire::record(kData, 1, "x"),
                Code::unexpected_record, kHead.size(), "FCGI_DATA record in the request body"},
        BadCase{"end_request_from_the_front_end",
                kHead + wire::record(wire::kEndRequest, 1, std::string(8, '\0')),
                Code::unknown_type, kHead.size(), "FCGI_END_REQUEST record for request 1"},
        BadCase{"abort_with_content", kHead + wire::record(wire::kAbortRequest, 1, "x"),
                Code::unexpected_record, kHead.size(), "FCGI_ABORT_REQUEST with 1 bytes"},
        BadCase{"begin_again", kHead + wire::begin_request(1), Code::unexpected_record,
                kHead.size(), "FCGI_BEGIN_REQUEST record in the request body"},
        BadCase{"get_values_over_the_bound",
                kHead + wire::record(wire::kGetValues, 0, std::string(1025, '\0')),
                Code::bad_management, kHead.size(), "FCGI_GET_VALUES body of 1025 bytes"},
        BadCase{"get_values_pair_past_its_record",
                wire::record(wire::kGetValues, 0,
                             "\x0e\x00"
                             "FCGI_MAX"),
                Code::bad_management, 0, "not a list of name-value pairs"},
        BadCase{"get_values_four_byte_length_cut", wire::record(wire::kGetValues, 0, "\x80\x00"),
                Code::bad_management, 0, "not a list of name-value pairs"}),
    [](const ::testing::TestParamInfo<BadCase>& info) { return std::string(info.param.name); });

std::string get_values(std::initializer_list<std::string_view> names) {
    std::string content;
    for (std::string_view n : names)
        content += wire::name_value(n, "");
    return wire::record(wire::kGetValues, 0, content);
}

/// Runs `input` through a validator in two pieces cut at `cut`, filtering
/// in place behind 8 bytes of head room as the read guard does, and returns
/// what it passed on.
std::string filter_in_two(RecordValidator& v, std::string_view input, std::size_t cut) {
    std::string passed;
    for (std::string_view piece : {input.substr(0, cut), input.substr(cut)}) {
        std::string buffer(8 + piece.size(), '\xee');
        std::copy(piece.begin(), piece.end(), buffer.begin() + 8);
        const std::size_t held = v.held_back();
        const std::size_t kept =
            v.filter(buffer.data() + 8, piece.size(), buffer.data() + 8 - held);
        passed.append(buffer.data() + 8 - held, kept);
    }
    return passed;
}

// FastCGI 1.0 §4.1 and libfcgi 2.4.2's ProcessManagementRecord: eight
// FCGI_MPXS_CONNS names (136 bytes) smashed its 64-byte stack buffer.
TEST(RecordValidator, GetValuesIsAnsweredOnceForEachKnownNameAndNeverPassedOn) {
    const std::string attack =
        get_values({"FCGI_MPXS_CONNS", "FCGI_MPXS_CONNS", "FCGI_MPXS_CONNS", "FCGI_MPXS_CONNS",
                    "FCGI_MPXS_CONNS", "FCGI_MPXS_CONNS", "FCGI_MPXS_CONNS", "FCGI_MPXS_CONNS"});
    ASSERT_EQ(attack.size(), 8u + 136);
    // Between two FCGI_PARAMS records, and between two FCGI_STDIN records.
    const std::string params = wire::record(wire::kParams, 1, wire::name_value("A", "b"));
    const std::string end_params = wire::record(wire::kParams, 1, "");
    const std::string bo = wire::record(wire::kStdin, 1, "bo");
    const std::string dy = wire::record(wire::kStdin, 1, "dy") + wire::record(wire::kStdin, 1, "");
    const std::string request = kBegin + params + end_params + bo + dy;
    const std::string input = kBegin + params + attack + end_params + bo + attack + dy;
    for (std::size_t cut = 0; cut <= input.size(); ++cut) {
        RecordValidator v(kLimit, {1000, 16});
        EXPECT_EQ(filter_in_two(v, input, cut), request) << "cut at " << cut;
        EXPECT_EQ(v.status(), Status::done) << v.error_reason();
        EXPECT_TRUE(v.body_complete());
        EXPECT_EQ(v.management_records(), 2u);
        EXPECT_EQ(v.request_bytes(), request.size());
        // One FCGI_GET_VALUES_RESULT of 18 bytes, padded to 24, for each.
        std::string one("\x01\x0a\x00\x00\x00\x12\x06\x00", 8);
        one += wire::name_value("FCGI_MPXS_CONNS", "0");
        one.append(6, '\0');
        const std::string expected = one + one;
        EXPECT_EQ(v.answers(), expected) << "cut at " << cut;
    }
}

TEST(RecordValidator, GetValuesNamesTheKnownVariablesInTheOrderAsked) {
    RecordValidator v(kLimit, {512, 8});
    EXPECT_EQ(v.feed(get_values({"FCGI_MAX_REQS", "X_UNKNOWN", "FCGI_MAX_CONNS", "FCGI_MPXS_CONNS",
                                 "FCGI_MAX_REQS"})),
              Status::need_more);
    const auto answer = wire::decode_record(v.answers());
    ASSERT_EQ(answer.status, wire::Decoded::Status::done) << answer.error;
    EXPECT_EQ(answer.consumed, v.answers().size());
    EXPECT_EQ(answer.record.type, 10);
    EXPECT_EQ(answer.record.request_id, 0);
    EXPECT_EQ(answer.record.content, wire::name_value("FCGI_MAX_REQS", "8") +
                                         wire::name_value("FCGI_MAX_CONNS", "512") +
                                         wire::name_value("FCGI_MPXS_CONNS", "0"));
    EXPECT_EQ(v.request_bytes(), 0u);
}

TEST(RecordValidator, AnEmptyGetValuesGetsAnEmptyResult) {
    RecordValidator v(kLimit);
    EXPECT_EQ(v.feed(wire::record(wire::kGetValues, 0, "")), Status::need_more);
    EXPECT_EQ(v.answers(), std::string("\x01\x0a\x00\x00\x00\x00\x00\x00", 8));
}

TEST(RecordValidator, OtherManagementTypesGetUnknownTypeCarryingTheType) {
    for (std::uint8_t type : {std::uint8_t{2}, std::uint8_t{5}, std::uint8_t{10}, std::uint8_t{11},
                              std::uint8_t{200}}) {
        RecordValidator v(kLimit);
        const std::string input = wire::record(type, 0, "some content", 4) + valid_head();
        EXPECT_EQ(filter_in_two(v, input, 5), valid_head());
        EXPECT_EQ(v.status(), Status::done);
        std::string expected("\x01\x0b\x00\x00\x00\x08\x00\x00", 8);
        expected += static_cast<char>(type);
        expected.append(7, '\0');
        EXPECT_EQ(v.answers(), expected) << int(type);
    }
}

TEST(RecordValidator, ManagementRecordsAreBoundedPerRequest) {
    RecordValidator v(kLimit);
    std::string input;
    for (std::size_t i = 0; i < RecordValidator::kMaxManagementRecords; ++i)
        input += wire::record(wire::kGetValues, 0, "");
    EXPECT_EQ(v.feed(input), Status::need_more);
    EXPECT_EQ(v.answers().size(), RecordValidator::kMaxManagementRecords * 8);
    EXPECT_EQ(v.feed(wire::record(wire::kGetValues, 0, "")), Status::error);
    EXPECT_EQ(v.error_code(), Code::too_many_management);
}

TEST(RecordValidator, AHeaderIsHeldBackUntilItsRequestIdIsKnown) {
    RecordValidator v(kLimit);
    const std::string head = valid_head();
    char out[16];
    EXPECT_EQ(v.filter(head.data(), 3, out), 0u);
    EXPECT_EQ(v.held_back(), 3u);
    EXPECT_EQ(v.request_bytes(), 0u);
    EXPECT_EQ(v.filter(head.data() + 3, 5, out), 8u);
    EXPECT_EQ(std::string(out, 8), head.substr(0, 8));
    EXPECT_EQ(v.held_back(), 0u);
}

TEST(RecordValidator, ThePairsTheFrontEndSentAreCounted) {
    RecordValidator v(64 * 1024);
    EXPECT_EQ(v.feed(kBegin + wire::params_stream(1, wire::Params(1000, {"HTTP_X", "v"}))),
              Status::done);
    EXPECT_EQ(v.params_count(), 1000u);
}

}  // namespace
}  // namespace postern::fastcgi
