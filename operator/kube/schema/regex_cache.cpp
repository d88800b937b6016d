#include "operator/kube/schema/regex_cache.h"

#include <map>

#include "operator/base/thread_annotations.h"

namespace gpupool::kube::schema {
namespace {

struct RegexCache {
  Mutex mu;
  std::map<std::string, std::shared_ptr<const std::regex>> compiled GUARDED_BY(mu);
};

RegexCache& regex_cache() {
  static RegexCache cache;
  return cache;
}

}  // namespace

std::shared_ptr<const std::regex> compiled_regex(const std::string& pattern) {
  RegexCache& c = regex_cache();
  MutexLock lock(c.mu);
  auto it = c.compiled.find(pattern);
  if (it != c.compiled.end()) return it->second;
  std::shared_ptr<const std::regex> re;
  try {
    re = std::make_shared<const std::regex>(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error&) {
    re = nullptr;
  }
  if (c.compiled.size() >= kMaxCompiledRegexes) c.compiled.clear();
  c.compiled.emplace(pattern, re);
  return re;
}

}  // namespace gpupool::kube::schema
