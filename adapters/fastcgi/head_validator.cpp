#include "fastcgi/head_validator.hpp"

#include <algorithm>
#include <cstdio>

namespace postern::fastcgi {

std::string record_type_name(std::uint8_t type) {
    switch (type) {
        case kBeginRequest:
            return "FCGI_BEGIN_REQUEST";
        case kAbortRequest:
            return "FCGI_ABORT_REQUEST";
        case kEndRequest:
            return "FCGI_END_REQUEST";
        case kParams:
            return "FCGI_PARAMS";
        case kStdin:
            return "FCGI_STDIN";
        case kStdout:
            return "FCGI_STDOUT";
        case kStderr:
            return "FCGI_STDERR";
        case 8:
            return "FCGI_DATA";
        case kGetValues:
            return "FCGI_GET_VALUES";
        case 10:
            return "FCGI_GET_VALUES_RESULT";
        case 11:
            return "FCGI_UNKNOWN_TYPE";
        default:
            return "type " + std::to_string(type);
    }
}

namespace {

/// "an FCGI_STDIN record", "a record of type 12", for log lines.
std::string a_record(std::uint8_t type) {
    if (type >= 1 && type <= 11)
        return "an " + record_type_name(type) + " record";
    return "a record of type " + std::to_string(type);
}

}  // namespace

HeadValidator::HeadValidator(std::uint64_t max_params_bytes) noexcept
    : max_params_bytes_(max_params_bytes) {}

void HeadValidator::fail(ErrorCode code, std::string reason, std::uint64_t offset) noexcept {
    status_ = Status::error;
    code_ = code;
    reason_ = std::move(reason);
    error_offset_ = offset;
}

HeadValidator::Status HeadValidator::feed(std::string_view bytes) noexcept {
    std::size_t i = 0;
    while (status_ == Status::need_more && i < bytes.size()) {
        const std::size_t left = bytes.size() - i;
        if (header_have_ < kHeaderLength) {
            if (header_have_ == 0)
                record_offset_ = offset_;
            const std::size_t take = std::min(kHeaderLength - header_have_, left);
            std::copy_n(bytes.data() + i, take, header_ + header_have_);
            header_have_ += take;
            i += take;
            offset_ += take;
            if (header_have_ == kHeaderLength)
                on_header();
        } else if (content_left_ > 0) {
            const std::size_t take = std::min<std::size_t>(content_left_, left);
            if (record_is_params_)
                on_content(bytes.substr(i, take));
            if (record_is_begin_)
                on_begin_body(bytes.substr(i, take));
            if (status_ == Status::error)
                break;
            content_left_ -= static_cast<std::uint32_t>(take);
            i += take;
            offset_ += take;
        } else {
            const std::size_t take = std::min<std::size_t>(padding_left_, left);
            padding_left_ -= static_cast<std::uint32_t>(take);
            i += take;
            offset_ += take;
        }
        // §3.3: a record is its header, contentLength bytes, paddingLength bytes.
        if (header_have_ == kHeaderLength && content_left_ == 0 && padding_left_ == 0)
            header_have_ = 0;
    }
    return status_;
}

void HeadValidator::on_header() noexcept {
    const std::uint8_t version = header_[0];
    const std::uint8_t type = header_[1];
    const auto id = static_cast<std::uint16_t>((header_[2] << 8) | header_[3]);
    content_left_ = static_cast<std::uint32_t>((header_[4] << 8) | header_[5]);
    padding_left_ = header_[6];
    record_type_ = type;
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
        // §3.3: a management record (FCGI_GET_VALUES, ...). libfcgi answers
        // it; it neither opens nor continues a request.
        if (type == kBeginRequest)
            fail(ErrorCode::bad_begin_request,
                 "an FCGI_BEGIN_REQUEST with request id 0 (FastCGI 1.0 §3.3)", record_offset_);
        return;
    }
    if (phase_ == Phase::before_begin) {
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
    if (type != kParams) {
        fail(ErrorCode::unexpected_record,
             a_record(type) + " before the end of FCGI_PARAMS (FastCGI 1.0 §5.2)", record_offset_);
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
        phase_ = Phase::done;
        status_ = Status::done;
        return;
    }
    record_is_params_ = true;
}

void HeadValidator::on_begin_body(std::string_view chunk) noexcept {
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

bool HeadValidator::read_long_length(std::string_view chunk, std::uint64_t base, std::size_t& j,
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

void HeadValidator::on_content(std::string_view chunk) noexcept {
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
            data_left_ = name_length_ + length;
            pair_state_ = data_left_ > 0 ? PairState::data : PairState::name_length;
        }
    }
}

}  // namespace postern::fastcgi
