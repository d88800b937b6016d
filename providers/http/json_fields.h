#pragma once
// Reading fields out of a provider's JSON answer without exceptions: a field
// that is missing or of another type reads as empty, and the adapter decides
// what an empty value means.

#include <string>

#include <nlohmann/json.hpp>

namespace gpupool::net {

// j[key] when j holds a string there; "" otherwise (also when j is not an object).
inline std::string json_str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace gpupool::net
