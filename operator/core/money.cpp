#include "operator/core/money.h"

#include <cmath>
#include <limits>

namespace gpupool {

namespace {
// 128-bit intermediate so products of prices and durations cannot overflow.
__extension__ using Int128 = __int128;
}  // namespace

Money Money::from_double(double dollars) {
  if (std::isnan(dollars)) return Money();
  const double micros = std::round(dollars * 1e6);
  // 2^63 is exactly representable; anything at or beyond it saturates.
  if (micros >= 9223372036854775808.0) return max();
  if (micros < -9223372036854775808.0) return min();
  return Money(static_cast<int64_t>(micros));
}

std::optional<Money> Money::parse(std::string_view s) {
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.empty()) return std::nullopt;
  const size_t dot = s.find('.');
  const std::string_view whole = s.substr(0, dot);
  const std::string_view frac =
      dot == std::string_view::npos ? std::string_view{} : s.substr(dot + 1);
  if (whole.empty() && frac.empty()) return std::nullopt;
  if (dot != std::string_view::npos && frac.empty()) return std::nullopt;
  if (frac.size() > 6) return std::nullopt;
  Int128 v = 0;
  for (char c : whole) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
    if (v > std::numeric_limits<int64_t>::max()) return std::nullopt;  // no runaway digits
  }
  int64_t f = 0;
  for (size_t i = 0; i < 6; ++i) {
    const char c = i < frac.size() ? frac[i] : '0';
    if (c < '0' || c > '9') return std::nullopt;
    f = f * 10 + (c - '0');
  }
  // The bound is checked on the whole value, fraction included.
  const Int128 micros = v * 1'000'000 + f;
  if (micros > std::numeric_limits<int64_t>::max()) return std::nullopt;
  return Money(negative ? -static_cast<int64_t>(micros) : static_cast<int64_t>(micros));
}

std::string Money::to_string() const {
  std::string out = to_string_fixed(6);
  if (out.find('.') != std::string::npos) {
    while (out.back() == '0')
      out.pop_back();
    if (out.back() == '.') out.pop_back();
  }
  if (out == "-0") out = "0";
  return out;
}

std::string Money::to_string_fixed(int digits) const {
  if (digits < 0) digits = 0;
  if (digits > 6) digits = 6;
  int64_t unit = 1;
  for (int i = digits; i < 6; ++i)
    unit *= 10;
  const Money rounded = scaled(1, unit);  // now in units of 10^-digits
  const bool negative = rounded.micros_ < 0;
  const uint64_t mag = negative ? static_cast<uint64_t>(-(rounded.micros_ + 1)) + 1
                                : static_cast<uint64_t>(rounded.micros_);
  uint64_t scale = 1;
  for (int i = 0; i < digits; ++i)
    scale *= 10;
  std::string out = (negative ? "-" : "") + std::to_string(mag / scale);
  if (digits > 0) {
    std::string frac = std::to_string(mag % scale);
    out += '.';
    out.append(static_cast<size_t>(digits) - frac.size(), '0');
    out += frac;
  }
  return out;
}

Money Money::scaled(int64_t numerator, int64_t denominator) const {
  const Int128 product = static_cast<Int128>(micros_) * numerator;
  const Int128 half = denominator / 2;
  Int128 q = product >= 0 ? (product + half) / denominator : (product - half) / denominator;
  if (q > std::numeric_limits<int64_t>::max()) q = std::numeric_limits<int64_t>::max();
  if (q < std::numeric_limits<int64_t>::min()) q = std::numeric_limits<int64_t>::min();
  return Money(static_cast<int64_t>(q));
}

}  // namespace gpupool
