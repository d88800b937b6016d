#pragma once
// The small string helpers every adapter needs, in one place.

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>
#include <vector>

namespace gpupool::net {

// ASCII lower case.
inline std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Without leading and trailing white space.
inline std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())) != 0)
    s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())) != 0)
    s.remove_suffix(1);
  return std::string(s);
}

// Whether `hay` contains `needle` (given in lower case), ignoring case.
inline bool icontains(std::string_view hay, std::string_view needle) {
  return lower(hay).find(needle) != std::string::npos;
}

// A query list where empty means "any": whether `x` is allowed.
inline bool any_or_has(const std::vector<std::string>& allowed, const std::string& x) {
  return allowed.empty() || std::find(allowed.begin(), allowed.end(), x) != allowed.end();
}

}  // namespace gpupool::net
