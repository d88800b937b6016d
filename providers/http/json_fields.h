#pragma once
// Reading fields out of a provider's JSON answer without exceptions: a field
// that is missing or of another type reads as empty, and the adapter decides
// what an empty value means.

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "operator/core/money.h"

namespace gpupool::net {

// j[key] when j holds a string there; "" otherwise (also when j is not an object).
inline std::string json_str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The strings of the array j[key] (other items skipped); empty when there is
// no such array.
inline std::vector<std::string> json_strings(const nlohmann::json& j, const char* key) {
  std::vector<std::string> out;
  auto it = j.find(key);
  if (it == j.end() || !it->is_array()) return out;
  for (const auto& v : *it) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

// A price in dollars that a provider sends either as a JSON number (0.91) or
// as a decimal string ("0.91", Verda's price_per_hour): nullopt when absent,
// of another type, unparseable, negative or above max_dollars (a garbled or
// hostile answer must not become an offer).
inline std::optional<Money> json_price(const nlohmann::json& j, const char* key,
                                       double max_dollars = 100'000.0) {
  auto it = j.find(key);
  if (it == j.end()) return std::nullopt;
  if (it->is_number()) {
    const double d = it->get<double>();
    if (!(d >= 0 && d <= max_dollars)) return std::nullopt;  // also NaN
    return Money::from_double(d);
  }
  if (!it->is_string()) return std::nullopt;
  auto m = Money::parse(it->get_ref<const std::string&>());
  if (!m || m->micros() < 0 || m->to_double() > max_dollars) return std::nullopt;
  return m;
}

// The JSON text of a request body. A string that is not UTF-8 (an id or a
// script with stray bytes) is written with U+FFFD in its place instead of
// throwing nlohmann::type_error out of the adapter.
inline std::string json_text(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace gpupool::net
