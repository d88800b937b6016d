#pragma once
// Exact money: a signed count of micro-dollars (1e-6 USD). Ledgers, budgets
// and prices are Money; doubles appear only when ranking.
//
// Text form is a plain decimal with up to six fractional digits ("1.27",
// "0.000125", "-3"). That is how Money appears in the API objects (strings, so
// nothing is lost through JSON numbers) and in output.

#include <compare>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "operator/clock/clock.h"

namespace gpupool {

class Money {
 public:
  constexpr Money() = default;
  static constexpr Money from_micros(int64_t micros) { return Money(micros); }
  static constexpr Money from_cents(int64_t cents) { return Money(sat_mul(cents, 10'000)); }
  static constexpr Money from_dollars(int64_t dollars) {
    return Money(sat_mul(dollars, 1'000'000));
  }
  // Rounds to the nearest micro-dollar. For prices that arrive as JSON numbers
  // from a provider API; never use for arithmetic. NaN is 0; values beyond
  // the range saturate.
  static Money from_double(double dollars);
  // Parses "[-]digits[.digits]" with at most 6 fractional digits. No exponent,
  // no currency sign, no spaces. nullopt on anything else or when the value
  // (whole and fraction together) does not fit the range.
  static std::optional<Money> parse(std::string_view text);

  constexpr int64_t micros() const { return micros_; }
  double to_double() const { return static_cast<double>(micros_) / 1e6; }
  // Shortest exact decimal: "1.27", "0", "-0.000001", "12".
  std::string to_string() const;
  // Fixed number of fractional digits (0..6), rounded half away from zero:
  // to_string_fixed(2) of 1.275 is "1.28". For display only.
  std::string to_string_fixed(int digits) const;

  constexpr bool is_zero() const { return micros_ == 0; }
  constexpr auto operator<=>(const Money&) const = default;

  // Arithmetic saturates at the ends of the range (kMax / kMin) instead of
  // wrapping: a sum that overflows is still the largest amount there is, so
  // a budget check on it refuses rather than approves. Values that large are
  // refused by validation long before (kMaxPrice, kMaxBudget); saturation is
  // the last line, not the first.
  static constexpr Money max() { return Money(kMaxMicros); }
  static constexpr Money min() { return Money(kMinMicros); }
  constexpr bool saturated() const { return micros_ == kMaxMicros || micros_ == kMinMicros; }

  constexpr Money operator+(Money o) const { return Money(sat_add(micros_, o.micros_)); }
  constexpr Money operator-(Money o) const { return Money(sat_sub(micros_, o.micros_)); }
  constexpr Money operator-() const { return Money(sat_sub(0, micros_)); }
  constexpr Money& operator+=(Money o) {
    micros_ = sat_add(micros_, o.micros_);
    return *this;
  }
  constexpr Money& operator-=(Money o) {
    micros_ = sat_sub(micros_, o.micros_);
    return *this;
  }
  constexpr Money operator*(int64_t n) const { return Money(sat_mul(micros_, n)); }

  // this * numerator / denominator, rounded half away from zero, computed in
  // 128 bits so it cannot overflow for realistic values.
  // REQUIRES: denominator > 0.
  Money scaled(int64_t numerator, int64_t denominator) const;
  // Treats *this as a per-hour rate and returns the cost of running for d
  // (rounded to the micro-dollar).
  Money for_duration(Duration d) const { return scaled(d.count(), 3600); }

 private:
  static constexpr int64_t kMaxMicros = std::numeric_limits<int64_t>::max();
  static constexpr int64_t kMinMicros = std::numeric_limits<int64_t>::min();
  static constexpr int64_t sat_add(int64_t a, int64_t b) {
    int64_t r = 0;
    if (__builtin_add_overflow(a, b, &r)) return b > 0 ? kMaxMicros : kMinMicros;
    return r;
  }
  static constexpr int64_t sat_sub(int64_t a, int64_t b) {
    int64_t r = 0;
    if (__builtin_sub_overflow(a, b, &r)) return b < 0 ? kMaxMicros : kMinMicros;
    return r;
  }
  static constexpr int64_t sat_mul(int64_t a, int64_t b) {
    int64_t r = 0;
    if (__builtin_mul_overflow(a, b, &r)) return (a < 0) != (b < 0) ? kMinMicros : kMaxMicros;
    return r;
  }

  constexpr explicit Money(int64_t micros) : micros_(micros) {}
  int64_t micros_ = 0;
};

}  // namespace gpupool
