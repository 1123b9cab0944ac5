// Postern: name-value pairs from a query string or a form body.
#pragma once

#include <climits>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace postern {

/// Decoded name-value pairs in the order they came: a query string
/// (Request::query), an application/x-www-form-urlencoded body
/// (Request::form) or the segments a route captured (Request::params).
/// Names are case-sensitive; a name may occur more than once.
///
/// Threading: immutable once built, so it may be read from several threads.
/// Ownership: the views it returns point into the Params, valid while it
/// lives (for the Params of a Request: during the callback).
class Params {
  public:
    using value_type = std::pair<std::string, std::string>;
    using const_iterator = std::vector<value_type>::const_iterator;

    /// The most pairs parse_urlencoded takes: beyond it the input is
    /// refused, as PHP's max_input_vars and werkzeug's max_form_parts do.
    static constexpr std::size_t kMaxPairs = 1000;

    Params() = default;
    explicit Params(std::vector<value_type> pairs) : pairs_(std::move(pairs)) {}

    /// Decodes `a=1&b=x+y&c=%41` (the application/x-www-form-urlencoded
    /// format, WHATWG URL Standard §5.1): pairs split on '&' (not ';'), the
    /// first '=' splits name from value, '+' is a space, %XX a byte (either
    /// case), a name without '=' has the empty value, empty pieces between
    /// '&' are skipped. Decoded bytes are kept as they are: "%00" is a NUL
    /// byte inside the value (values are sized, never NUL-terminated; check
    /// before passing one to a C API), and bytes are not checked as UTF-8.
    ///
    /// Failure: throws RequestError(400) on a '%' not followed by two hex
    /// digits ("%", "%4", "%zz"), with a reason naming the byte offset but
    /// none of the input (the reason may reach a log or an error body), and
    /// on more than `max_pairs` pairs, before decoding the pair past the
    /// bound. Memory: the decoded pairs, at most the size of `text` plus a
    /// pair's overhead for each. Thread-safe (a pure function).
    static Params parse_urlencoded(std::string_view text, std::size_t max_pairs = kMaxPairs);

    /// The first value of `name`, if any.
    std::optional<std::string_view> get(std::string_view name) const noexcept {
        for (const auto& [k, v] : pairs_)
            if (k == name)
                return std::string_view(v);
        return std::nullopt;
    }
    /// The first value of `name`, or `fallback`.
    std::string_view get(std::string_view name, std::string_view fallback) const noexcept {
        return get(name).value_or(fallback);
    }
    /// Every value of `name`, in order.
    std::vector<std::string_view> all(std::string_view name) const {
        std::vector<std::string_view> out;
        for (const auto& [k, v] : pairs_)
            if (k == name)
                out.emplace_back(v);
        return out;
    }
    /// The first value of `name` as a decimal integer, `fallback` when the
    /// name is absent (the fallback is not checked against the bounds).
    /// Decimal means ASCII digits with an optional leading '-': no '+', no
    /// spaces, no "0x", no exponent; leading zeros are fine. Throws
    /// RequestError(400) with the reason `parameter "name" ...` when the
    /// value is empty or not a decimal integer, does not fit a long long, or
    /// lies outside [min, max] (both inclusive). The value itself stays out
    /// of the reason.
    long long get_int(std::string_view name, long long fallback, long long min = LLONG_MIN,
                      long long max = LLONG_MAX) const;
    bool contains(std::string_view name) const noexcept { return get(name).has_value(); }

    std::size_t size() const noexcept { return pairs_.size(); }
    bool empty() const noexcept { return pairs_.empty(); }
    const_iterator begin() const noexcept { return pairs_.begin(); }
    const_iterator end() const noexcept { return pairs_.end(); }

  private:
    std::vector<value_type> pairs_;
};

}  // namespace postern
