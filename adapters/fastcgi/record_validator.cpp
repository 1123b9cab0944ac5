#include "fastcgi/record_validator.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <iterator>

namespace postern::fastcgi {

namespace {

/// "an FCGI_STDIN record", "a record of type 12", for log lines.
std::string a_record(std::uint8_t type) {
    if (type >= 1 && type <= 11)
        return "an " + record_type_name(type) + " record";
    return "a record of type " + std::to_string(type);
}

}  // namespace

RecordValidator::RecordValidator(std::uint64_t max_params_bytes, ManagementValues values) noexcept
    : max_params_bytes_(max_params_bytes), values_(values) {}

void RecordValidator::fail(ErrorCode code, std::string reason, std::uint64_t offset) {
    status_ = Status::error;
    code_ = code;
    reason_ = std::move(reason);
    error_offset_ = offset;
}

std::size_t RecordValidator::held_back() const noexcept {
    return header_have_ < kHeaderLength ? header_have_ : 0;
}

RecordValidator::Status RecordValidator::feed(std::string_view bytes) {
    filter(bytes.data(), bytes.size(), nullptr);
    return status_;
}

std::size_t RecordValidator::filter(const char* in, std::size_t size, char* out) {
    // Never overtakes the reading: what is written for a record is at most
    // its bytes read so far plus the header bytes held back before the
    // call, so `out` may sit held_back() bytes before `in`.
    std::size_t written = 0;
    const auto pass = [&](const char* p, std::size_t n) {
        if (out != nullptr)
            std::memmove(out + written, p, n);
        written += n;
        request_bytes_ += n;
    };
    std::size_t i = 0;
    while (status_ != Status::error && i < size && !ended()) {
        const std::size_t left = size - i;
        if (header_have_ < kHeaderLength) {
            if (header_have_ == 0)
                record_offset_ = offset_;
            const std::size_t take = std::min(kHeaderLength - header_have_, left);
            std::memcpy(header_ + header_have_, in + i, take);
            header_have_ += take;
            i += take;
            offset_ += take;
            if (header_have_ == kHeaderLength) {
                on_header();
                if (status_ == Status::error)
                    break;
                if (kind_ == Kind::request)
                    pass(header_, kHeaderLength);
            }
        } else if (content_left_ > 0) {
            const std::size_t take = std::min<std::size_t>(content_left_, left);
            const std::string_view chunk(in + i, take);
            if (kind_ == Kind::request) {
                if (record_is_params_)
                    on_content(chunk);
                if (record_is_begin_)
                    on_begin_body(chunk);
                if (status_ == Status::error)
                    break;
                pass(in + i, take);
            } else if (kind_ == Kind::get_values) {
                management_content_.append(chunk);  // bounded in on_management_header
            }
            content_left_ -= static_cast<std::uint32_t>(take);
            i += take;
            offset_ += take;
        } else {
            const std::size_t take = std::min<std::size_t>(padding_left_, left);
            if (kind_ == Kind::request)
                pass(in + i, take);
            padding_left_ -= static_cast<std::uint32_t>(take);
            i += take;
            offset_ += take;
        }
        // §3.3: a record is its header, contentLength bytes, paddingLength bytes.
        if (header_have_ == kHeaderLength && content_left_ == 0 && padding_left_ == 0) {
            if (kind_ == Kind::management || kind_ == Kind::get_values)
                on_management_end();
            header_have_ = 0;
        }
    }
    taken_ = i;
    return written;
}

void RecordValidator::on_header() {
    const auto version = static_cast<std::uint8_t>(header_[0]);
    const auto type = static_cast<std::uint8_t>(header_[1]);
    const auto id = static_cast<std::uint16_t>((static_cast<unsigned char>(header_[2]) << 8) |
                                               static_cast<unsigned char>(header_[3]));
    content_left_ = static_cast<std::uint32_t>((static_cast<unsigned char>(header_[4]) << 8) |
                                               static_cast<unsigned char>(header_[5]));
    padding_left_ = static_cast<unsigned char>(header_[6]);
    record_type_ = type;
    kind_ = Kind::request;
    record_is_params_ = false;
    record_is_begin_ = false;

    if (version != kVersion1) {
        char hex[8];
        std::snprintf(hex, sizeof(hex), "0x%02x", version);
        fail(ErrorCode::bad_version,
             std::string("a FastCGI record with version byte ") + hex +
                 " (FastCGI 1.0 §3.3 requires FCGI_VERSION_1)",
             record_offset_);
        return;
    }
    if (id == kNullRequestId) {
        if (type == kBeginRequest) {
            fail(ErrorCode::bad_begin_request,
                 "an FCGI_BEGIN_REQUEST with request id 0 (FastCGI 1.0 §3.3)", record_offset_);
            return;
        }
        on_management_header(type);
        return;
    }
    // The types a front end sends for a request (§8); FCGI_STDOUT,
    // FCGI_END_REQUEST, ... go the other way, and 9-11 are management types.
    if (type != kBeginRequest && type != kAbortRequest && type != kParams && type != kStdin &&
        type != kData) {
        fail(ErrorCode::unknown_type,
             a_record(type) + " for request " + std::to_string(id) +
                 ", which a front end never sends (FastCGI 1.0 §8)",
             record_offset_);
        return;
    }
    if (phase_ == Phase::before_begin) {
        if (type == kAbortRequest && content_left_ == 0) {
            // §5.4: the front end gave up on the request it sent last, and
            // sent this before it read that request's FCGI_END_REQUEST. That
            // request is over; the record is dropped (no answer is owed),
            // and counts against the bound on records that are not a
            // request's.
            kind_ = Kind::stale_abort;
            count_management_record();
            return;
        }
        if (type != kBeginRequest) {
            fail(ErrorCode::unexpected_record,
                 a_record(type) + " for request " + std::to_string(id) +
                     " before FCGI_BEGIN_REQUEST (FastCGI 1.0 §5.1)",
                 record_offset_);
            return;
        }
        if (content_left_ != 8) {
            fail(ErrorCode::bad_begin_request,
                 "an FCGI_BEGIN_REQUEST body of " + std::to_string(content_left_) +
                     " bytes (FastCGI 1.0 §5.1: 8)",
                 record_offset_);
            return;
        }
        request_id_ = id;
        record_is_begin_ = true;
        phase_ = Phase::params;
        return;
    }
    if (id != request_id_) {
        fail(ErrorCode::other_request,
             "a record for request " + std::to_string(id) + " while request " +
                 std::to_string(request_id_) +
                 " is open (Postern does not multiplex, FCGI_MPXS_CONNS=0)",
             record_offset_);
        return;
    }
    if (type == kAbortRequest && phase_ != Phase::params) {
        // §5.4: the front end gives up on the request; libfcgi ends it.
        if (content_left_ != 0)
            fail(ErrorCode::unexpected_record,
                 "an FCGI_ABORT_REQUEST with " + std::to_string(content_left_) +
                     " bytes of content (FastCGI 1.0 §5.4: none)",
                 record_offset_);
        return;
    }
    switch (phase_) {
        case Phase::params:
            if (type != kParams) {
                fail(ErrorCode::unexpected_record,
                     a_record(type) + " before the end of FCGI_PARAMS (FastCGI 1.0 §5.2)",
                     record_offset_);
                return;
            }
            if (content_left_ == 0) {
                // §3.3: an empty stream record ends the stream.
                if (pair_state_ != PairState::name_length || length_have_ != 0) {
                    fail(ErrorCode::split_pair,
                         "FCGI_PARAMS that end inside a name-value pair (FastCGI 1.0 §3.4)",
                         record_offset_);
                    return;
                }
                phase_ = Phase::body;
                status_ = Status::done;
                return;
            }
            record_is_params_ = true;
            return;
        case Phase::body:
            if (type != kStdin) {
                fail(ErrorCode::unexpected_record,
                     a_record(type) +
                         " in the request body (FastCGI 1.0 §6.2: a responder reads FCGI_STDIN)",
                     record_offset_);
                return;
            }
            if (content_left_ == 0)
                phase_ = Phase::body_done;
            return;
        case Phase::body_done:     // never: filter() stops at the end of the request
        case Phase::before_begin:  // handled above
            break;
    }
}

void RecordValidator::on_management_header(std::uint8_t type) {
    // §3.3: a management record (FCGI_GET_VALUES, ...) neither opens nor
    // continues a request; it is answered here and never passed on.
    kind_ = type == kGetValues ? Kind::get_values : Kind::management;
    if (!count_management_record())
        return;
    if (kind_ == Kind::get_values && content_left_ > kMaxGetValuesContent) {
        fail(ErrorCode::bad_management,
             "an FCGI_GET_VALUES body of " + std::to_string(content_left_) + " bytes (limit " +
                 std::to_string(kMaxGetValuesContent) + ")",
             record_offset_);
        return;
    }
    management_content_.clear();
}

bool RecordValidator::count_management_record() {
    if (++management_records_ <= kMaxManagementRecords)
        return true;
    fail(ErrorCode::too_many_management,
         "more than " + std::to_string(kMaxManagementRecords) +
             " FastCGI management records for one request",
         record_offset_);
    return false;
}

void RecordValidator::on_management_end() {
    if (!answer_management(record_type_, management_content_, values_, answers_))
        fail(ErrorCode::bad_management,
             "an FCGI_GET_VALUES body that is not a list of name-value pairs (FastCGI 1.0 "
             "§3.4, §4.1)",
             record_offset_);
    management_content_.clear();
}

void RecordValidator::on_begin_body(std::string_view chunk) noexcept {
    // §5.1: FCGI_BeginRequestBody is roleB1, roleB0, flags, reserved[5].
    for (char c : chunk) {
        const auto byte = static_cast<unsigned char>(c);
        if (begin_have_ == 0)
            role_ = static_cast<std::uint16_t>(byte << 8);
        if (begin_have_ == 1)
            role_ = static_cast<std::uint16_t>(role_ | byte);
        ++begin_have_;
    }
}

bool RecordValidator::read_long_length(std::string_view chunk, std::uint64_t base, std::size_t& j,
                                       std::uint64_t& length) noexcept {
    if (length_have_ == 0) {
        if (pair_state_ == PairState::name_length)
            pair_offset_ = base + j;
        length_need_ = (static_cast<unsigned char>(chunk[j]) & 0x80) ? 4 : 1;
    }
    length_bytes_[length_have_++] = static_cast<unsigned char>(chunk[j++]);
    if (length_have_ < length_need_)
        return false;
    length = length_bytes_[0];
    if (length_need_ == 4)
        length = (std::uint64_t{length_bytes_[0] & 0x7fu} << 24) |
                 (std::uint64_t{length_bytes_[1]} << 16) | (std::uint64_t{length_bytes_[2]} << 8) |
                 length_bytes_[3];
    length_have_ = 0;
    return true;
}

void RecordValidator::on_content(std::string_view chunk) {
    const std::uint64_t base = offset_;
    std::size_t j = 0;
    while (j < chunk.size()) {
        if (pair_state_ == PairState::data) {
            const auto take = std::min<std::uint64_t>(data_left_, chunk.size() - j);
            j += static_cast<std::size_t>(take);
            data_left_ -= take;
            if (data_left_ == 0)
                pair_state_ = PairState::name_length;
            continue;
        }
        // §3.4: a length is one byte (high bit clear) or four (high bit set,
        // 31 bits of length).
        std::uint64_t length;
        if (length_have_ == 0 && (static_cast<unsigned char>(chunk[j]) & 0x80) == 0) {
            // The common case, a one-byte length, without the staging buffer.
            if (pair_state_ == PairState::name_length)
                pair_offset_ = base + j;
            length = static_cast<unsigned char>(chunk[j++]);
        } else {
            if (!read_long_length(chunk, base, j, length))
                continue;
        }
        // Checked before libfcgi would allocate: the name alone, then the
        // whole pair (CVE-2025-23016: never let the sum wrap or grow past
        // the limit).
        const std::uint64_t claimed = pair_state_ == PairState::name_length
                                          ? params_bytes_ + name_value_size(length, 0)
                                          : params_bytes_ + name_value_size(name_length_, length);
        if (claimed > max_params_bytes_) {
            fail(ErrorCode::params_too_large,
                 "FastCGI params of " + std::to_string(claimed) + " bytes (limit " +
                     std::to_string(max_params_bytes_) + ")",
                 pair_offset_);
            // Consumed: up to the length that broke the limit, however the
            // bytes were split (feed() counts no more of this slice).
            offset_ = base + j;
            return;
        }
        if (pair_state_ == PairState::name_length) {
            name_length_ = length;
            pair_state_ = PairState::value_length;
        } else {
            params_bytes_ = claimed;
            ++params_count_;
            data_left_ = name_length_ + length;
            pair_state_ = data_left_ > 0 ? PairState::data : PairState::name_length;
        }
    }
}

std::string_view error_name(RecordValidator::ErrorCode code) noexcept {
    // In the order of the enumerators.
    static constexpr std::string_view kNames[] = {
        "none",
        "bad_version",
        "unknown_type",
        "unexpected_record",
        "bad_begin_request",
        "other_request",
        "params_too_large",
        "split_pair",
        "bad_management",
        "too_many_management",
    };
    static_assert(std::size(kNames) ==
                  static_cast<std::size_t>(RecordValidator::ErrorCode::too_many_management) + 1);
    const auto i = static_cast<std::size_t>(code);
    return i < std::size(kNames) ? kNames[i] : "unknown";
}

bool answer_management(std::uint8_t type, std::string_view content, const ManagementValues& values,
                       std::string& out) {
    if (type != kGetValues) {
        // §4.2: FCGI_UnknownTypeBody is the type, then 7 reserved bytes.
        const char body[8] = {static_cast<char>(type), 0, 0, 0, 0, 0, 0, 0};
        append_record(out, kUnknownType, kNullRequestId, std::string_view(body, sizeof(body)));
        return true;
    }
    // §4.1: the names asked for, with empty values; each known one is
    // answered once, in the order first asked, the others left out.
    struct Known {
        std::string_view name;
        std::string value;
        bool asked;
    };
    Known known[] = {{"FCGI_MAX_CONNS", std::to_string(values.max_conns), false},
                     {"FCGI_MAX_REQS", std::to_string(values.max_reqs), false},
                     {"FCGI_MPXS_CONNS", "0", false}};
    std::string result;
    std::size_t at = 0;
    const auto length = [&](std::uint64_t& n) {
        if (at >= content.size())
            return false;
        const auto first = static_cast<unsigned char>(content[at]);
        if ((first & 0x80) == 0) {
            n = first;
            ++at;
            return true;
        }
        if (content.size() - at < 4)
            return false;
        n = (std::uint64_t{first & 0x7fu} << 24) |
            (std::uint64_t{static_cast<unsigned char>(content[at + 1])} << 16) |
            (std::uint64_t{static_cast<unsigned char>(content[at + 2])} << 8) |
            static_cast<unsigned char>(content[at + 3]);
        at += 4;
        return true;
    };
    while (at < content.size()) {
        std::uint64_t name_length = 0;
        std::uint64_t value_length = 0;
        if (!length(name_length) || !length(value_length))
            return false;
        // Lengths compared with what is left, never added to a pointer first.
        if (name_length > content.size() - at || value_length > content.size() - at - name_length)
            return false;
        const std::string_view name = content.substr(at, name_length);
        at += name_length + value_length;
        for (Known& k : known) {
            if (k.name == name && !k.asked) {
                k.asked = true;
                append_name_value(result, k.name, k.value);
            }
        }
    }
    append_record(out, kGetValuesResult, kNullRequestId, result);
    return true;
}

}  // namespace postern::fastcgi
