#pragma once
// Spend ledgers parsed from pools' annotations (spend::kLedgerAnnotation),
// kept by pool uid while the annotation's text is unchanged.
//
// Every pool pass reads its ledger, and the text changes only when an
// instance's final spend is folded in; parsing it each time was a tenth of
// a simulated week's CPU once a week of ended machines (up to
// spend::kLedgerFoldedNames names) were in it. A hit compares the text
// (memcmp) and copies the parsed ledger; a miss parses as before. A corrupt
// ledger's error is kept the same way, so it is reported on every pass.
//
// Bounded: at most `capacity` pools are kept, the least recently read
// dropped first (at 10,000 pools the cache must not hold every ledger
// twice, text and parse).
//
// Thread-safety: every member function may be called from any thread.

#include <cstddef>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>

#include "operator/base/result.h"
#include "operator/base/thread_annotations.h"
#include "operator/core/spend.h"

namespace gpupool::controllers {

class LedgerCache {
 public:
  // REQUIRES: capacity >= 1 (0 is treated as 1).
  explicit LedgerCache(std::size_t capacity = 256);

  // spend::parse_ledger(text), remembered for `uid` until its text changes.
  Result<spend::SpendLedger, spend::LedgerError> parse(const std::string& uid,
                                                       std::string_view text) EXCLUDES(mu_);

  std::size_t size() const EXCLUDES(mu_);
  // Parses done (misses), for tests.
  std::size_t parses() const EXCLUDES(mu_);

 private:
  struct Entry {
    std::string text;
    Result<spend::SpendLedger, spend::LedgerError> ledger;
    std::list<std::string>::iterator lru;
  };
  const std::size_t capacity_;
  mutable Mutex mu_;
  std::unordered_map<std::string, Entry> entries_ GUARDED_BY(mu_);
  std::list<std::string> lru_ GUARDED_BY(mu_);  // most recently read first
  std::size_t parses_ GUARDED_BY(mu_) = 0;
};

}  // namespace gpupool::controllers
