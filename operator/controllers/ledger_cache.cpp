#include "operator/controllers/ledger_cache.h"

#include <utility>

namespace gpupool::controllers {

LedgerCache::LedgerCache(std::size_t capacity) : capacity_(capacity < 1 ? 1 : capacity) {}

Result<spend::SpendLedger, spend::LedgerError> LedgerCache::parse(const std::string& uid,
                                                                  std::string_view text) {
  {
    MutexLock lock(mu_);
    auto it = entries_.find(uid);
    if (it != entries_.end() && it->second.text == text) {
      lru_.splice(lru_.begin(), lru_, it->second.lru);
      return it->second.ledger;
    }
  }
  auto ledger = spend::parse_ledger(text);  // outside the lock: the slow part
  MutexLock lock(mu_);
  ++parses_;
  auto it = entries_.find(uid);
  if (it != entries_.end()) {
    it->second.text = std::string(text);
    it->second.ledger = ledger;
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return ledger;
  }
  if (entries_.size() >= capacity_) {
    entries_.erase(lru_.back());
    lru_.pop_back();
  }
  lru_.push_front(uid);
  entries_.emplace(uid, Entry{std::string(text), ledger, lru_.begin()});
  return ledger;
}

std::size_t LedgerCache::size() const {
  MutexLock lock(mu_);
  return entries_.size();
}

std::size_t LedgerCache::parses() const {
  MutexLock lock(mu_);
  return parses_;
}

}  // namespace gpupool::controllers
