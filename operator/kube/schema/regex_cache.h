#pragma once
// Compiled ECMAScript regular expressions shared by every caller: a schema's
// `pattern` and CEL's matches() (schemas are few and long-lived; compiling a
// std::regex costs far more than matching it).
//
// compiled_regex(pattern) is nullptr when the pattern does not compile. The
// cache holds at most kMaxCompiledRegexes patterns and starts over when full,
// so arbitrary schemas cannot grow it without bound. Thread-safe.

#include <cstddef>
#include <memory>
#include <regex>
#include <string>

namespace gpupool::kube::schema {

inline constexpr std::size_t kMaxCompiledRegexes = 4096;

std::shared_ptr<const std::regex> compiled_regex(const std::string& pattern);

}  // namespace gpupool::kube::schema
