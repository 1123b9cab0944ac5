// ChunkedDecoder (http_codec.hpp): the chunked transfer coding of a request
// body (RFC 9112 §7.1), decoded in place as it arrives.
#include <algorithm>
#include <cstring>

#include "http/http_chars.hpp"
#include "http/http_codec.hpp"

namespace postern::http {

using chars::hex_value;
using chars::is_field_char;
using chars::is_tchar;

void ChunkedDecoder::reset() noexcept {
    state_ = State::size_first;
    chunk_size_ = 0;
    chunk_left_ = 0;
    line_bytes_ = 0;
    trailer_bytes_ = 0;
    trailer_colon_ = false;
    last_chunk_ = false;
    offset_ = 0;
}

void ChunkedDecoder::consume_data(std::size_t n) noexcept {
    if (state_ != State::data)
        return;
    n = static_cast<std::size_t>(std::min<std::uint64_t>(n, chunk_left_));
    chunk_left_ -= n;
    offset_ += n;
    if (chunk_left_ == 0)
        state_ = State::data_cr;
}

ChunkedDecoder::Step ChunkedDecoder::fail(Step step, std::size_t at, int code, std::string reason) {
    step.status = Status::error;
    step.consumed = at;
    step.code = code;
    step.reason = std::move(reason);
    step.offset = offset_ + at;
    return step;
}

ChunkedDecoder::Step ChunkedDecoder::decode(std::string_view in, char* out, std::size_t out_size) {
    Step step;
    std::size_t i = 0;
    bool full = false;  // `out` is full: stop inside chunk data
    while (i < in.size() && state_ != State::done && !full) {
        const unsigned char c = static_cast<unsigned char>(in[i]);
        switch (state_) {
            case State::size_first: {
                // RFC 9112 §7.1: chunk-size = 1*HEXDIG.
                int v = hex_value(c);
                if (v < 0)
                    return fail(step, i, 400, "invalid chunk size");
                chunk_size_ = static_cast<std::uint64_t>(v);
                line_bytes_ = 1;
                state_ = State::size;
                ++i;
                break;
            }
            case State::size: {
                int v = hex_value(c);
                if (v >= 0) {
                    if (chunk_size_ > (UINT64_MAX >> 5))  // keeps sizes below 2^63
                        return fail(step, i, 400, "chunk size too large");
                    chunk_size_ = chunk_size_ * 16 + static_cast<std::uint64_t>(v);
                } else if (c == ';') {
                    state_ = State::ext;
                } else if (c == ' ' || c == '\t') {
                    state_ = State::size_ws;
                } else if (c == '\r') {
                    state_ = State::size_lf;
                } else {
                    return fail(step, i, 400, "invalid chunk size");
                }
                ++line_bytes_;
                ++i;
                break;
            }
            case State::size_ws:
                // chunk-ext = *( BWS ";" ... ): whitespace is allowed only
                // before an extension, never as the end of the size.
                if (c == ';') {
                    state_ = State::ext;
                } else if (c != ' ' && c != '\t') {
                    return fail(step, i, 400, "whitespace after a chunk size");
                }
                ++line_bytes_;
                ++i;
                break;
            case State::ext:
                if (c == '\r') {
                    state_ = State::size_lf;
                } else if (!is_field_char(c)) {
                    return fail(step, i, 400, "control character in a chunk extension");
                }
                ++line_bytes_;
                ++i;
                break;
            case State::size_lf:
                if (c != '\n')
                    return fail(step, i, 400, "chunk size line not ended by CRLF");
                ++i;
                if (chunk_size_ == 0) {
                    last_chunk_ = true;
                    state_ = State::trailer;
                } else {
                    chunk_left_ = chunk_size_;
                    state_ = State::data;
                }
                break;
            case State::data: {
                std::size_t room = out_size - step.produced;
                if (room == 0) {
                    full = true;
                    break;
                }
                std::size_t n = static_cast<std::size_t>(
                    std::min<std::uint64_t>({chunk_left_, room, in.size() - i}));
                std::memcpy(out + step.produced, in.data() + i, n);
                step.produced += n;
                chunk_left_ -= n;
                i += n;
                if (chunk_left_ == 0)
                    state_ = State::data_cr;
                break;
            }
            case State::data_cr:
                if (c != '\r')
                    return fail(step, i, 400, "chunk data not followed by CRLF");
                state_ = State::data_lf;
                ++i;
                break;
            case State::data_lf:
                if (c != '\n')
                    return fail(step, i, 400, "chunk data not followed by CRLF");
                state_ = State::size_first;
                ++i;
                break;
            case State::trailer:
                if (c == '\r') {
                    state_ = State::end_lf;
                } else if (is_tchar(c)) {
                    state_ = State::trailer_line;
                    trailer_colon_ = false;
                } else {
                    return fail(step, i, 400, "invalid trailer field");
                }
                ++trailer_bytes_;
                ++i;
                break;
            case State::trailer_line:
                if (c == '\r') {
                    if (!trailer_colon_)
                        return fail(step, i, 400, "invalid trailer field");
                    state_ = State::trailer_lf;
                } else if (c == ':') {
                    trailer_colon_ = true;
                } else if (!trailer_colon_ ? !is_tchar(c) : !is_field_char(c)) {
                    return fail(step, i, 400, "invalid trailer field");
                }
                ++trailer_bytes_;
                ++i;
                break;
            case State::trailer_lf:
                if (c != '\n')
                    return fail(step, i, 400, "trailer field not ended by CRLF");
                state_ = State::trailer;
                ++trailer_bytes_;
                ++i;
                break;
            case State::end_lf:
                if (c != '\n')
                    return fail(step, i, 400, "chunked body not ended by CRLF");
                state_ = State::done;
                ++i;
                break;
            case State::done:
                break;
        }
        if (line_bytes_ > max_line_)
            return fail(step, i, 400, "chunk size line too long");
        if (trailer_bytes_ > max_trailer_)
            return fail(step, i, 431, "trailer section too long");
        if (state_ == State::size_lf || state_ == State::data)
            line_bytes_ = 0;
    }
    offset_ += i;
    step.consumed = i;
    if (state_ == State::done)
        step.status = Status::done;
    return step;
}

}  // namespace postern::http
