#pragma once
// Helpers shared by the libFuzzer targets in this folder.
//
// FUZZ_CHECK(cond, what) is the targets' assert: it stays on in every build
// type and aborts with a message, so libFuzzer records the input as a crash.

#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

#define FUZZ_CHECK(cond, what)                                                               \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      std::fprintf(stderr, "%s:%d: invariant broken: %s (%s)\n", __FILE__, __LINE__, (what), \
                   #cond);                                                                   \
      std::abort();                                                                          \
    }                                                                                        \
  } while (0)

namespace gpupool::fuzz {

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Splits `text` at every occurrence of `sep` (at most `max_parts` parts; the
// last keeps the rest). Seeds stay readable text: "rule\n---\n{json}".
inline std::vector<std::string_view> split(std::string_view text, std::string_view sep,
                                           size_t max_parts) {
  std::vector<std::string_view> parts;
  while (parts.size() + 1 < max_parts) {
    const auto at = text.find(sep);
    if (at == std::string_view::npos) break;
    parts.push_back(text.substr(0, at));
    text.remove_prefix(at + sep.size());
  }
  parts.push_back(text);
  return parts;
}

}  // namespace gpupool::fuzz
