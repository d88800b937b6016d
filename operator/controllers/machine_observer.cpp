#include "operator/controllers/machine_observer.h"

#include "operator/base/heap.h"

#include <iterator>
#include <vector>

namespace gpupool::controllers {

bool MachineObserver::claim_list(Entry& e, const std::shared_ptr<Provider>& provider,
                                 Time now) const {
  if (e.listing) return false;
  const bool same_adapter = e.adapter.lock() == provider;
  if (same_adapter && e.failed_at && now - *e.failed_at < max_age_) return false;
  if (same_adapter && e.has_list && now - e.taken < max_age_) return false;
  e.listing = true;
  return true;
}

namespace {

// How often a list gives the heap's free pages back (operator/base/heap.h;
// the manager trims too, every kHeapTrimPeriod). A provider's list is the
// largest transient allocation at rest (its whole answer decoded at once,
// on whichever worker's malloc arena), and glibc keeps what it frees: in
// the scale benchmark (1,000 pools x 2, 9 providers) the operator at rest
// grew from 78 to 115 MiB over four minutes without this, and stayed at
// 85 MiB with it (84 MiB when every instance asked get()). At most once per
// kTrimInterval of the observer's clock: each trim hands pages back that
// the next allocations fault in again, and a trim after every list (the
// collector lists each period too) took a third of the simulator's CPU.
constexpr Duration kTrimInterval{300};

}  // namespace

std::optional<Machine> MachineObserver::lookup(const Entry& e,
                                               const std::shared_ptr<Provider>& provider,
                                               std::string_view pool_uid, std::string_view name) {
  if (!e.has_list || e.adapter.lock() != provider) return std::nullopt;
  auto it = e.machines.find({std::string(pool_uid), std::string(name)});
  if (it == e.machines.end()) return std::nullopt;
  Machine m;
  m.provider_id = it->second.provider_id;
  m.name = std::string(name);
  m.state = it->second.state;
  m.public_address = it->second.public_address;
  m.public_port = it->second.public_port;
  return m;
}

Machine ListedMachine::to_machine() const {
  Machine m;
  m.provider_id = provider_id;
  m.name = instance;
  m.state = state;
  m.region = region;
  m.offer_id = offer_id;
  m.price_per_hour = price_per_hour;
  m.launch_time = launch_time;
  m.tags[std::string(kTagPoolUid)] = pool_uid;
  if (!pool.empty()) m.tags[std::string(kTagPool)] = pool;
  m.tags[std::string(kTagInstance)] = instance;
  return m;
}

namespace {

std::string take_tag(Machine& m, std::string_view tag) {
  auto it = m.tags.find(std::string(tag));
  return it == m.tags.end() ? std::string() : std::move(it->second);
}

// Every listed machine, in the form the garbage collector reads; `listed`
// is consumed.
std::shared_ptr<const std::vector<ListedMachine>> listed_machines(std::vector<Machine>& listed) {
  auto all = std::make_shared<std::vector<ListedMachine>>();
  all->reserve(listed.size());
  for (Machine& m : listed) {
    ListedMachine l;
    l.provider_id = std::move(m.provider_id);
    l.pool_uid = take_tag(m, kTagPoolUid);
    l.pool = take_tag(m, kTagPool);
    l.instance = take_tag(m, kTagInstance);
    if (l.instance.empty()) l.instance = std::move(m.name);
    l.state = m.state;
    l.region = std::move(m.region);
    l.offer_id = std::move(m.offer_id);
    l.price_per_hour = m.price_per_hour;
    l.launch_time = m.launch_time;
    all->push_back(std::move(l));
  }
  return all;
}

}  // namespace

std::vector<MachineObserver::Key> MachineObserver::merge(Entry& e, std::vector<Machine>& listed) {
  for (auto& [key, seen] : e.machines) {
    seen.listed = false;
    seen.changed = false;
  }
  Key key;
  for (Machine& m : listed) {
    key.first = m.pool_uid();
    if (key.first.empty() || m.name.empty()) continue;
    key.second = m.name;
    auto it = e.machines.find(key);
    if (it == e.machines.end()) {
      it = e.machines.emplace(key, Seen{}).first;
      it->second.changed = true;  // appeared
    } else if (it->second.listed && !is_gone(it->second.state) && is_gone(m.state)) {
      continue;  // a live machine wins over a gone one of the same name
    }
    Seen& s = it->second;
    if (s.provider_id != m.provider_id || s.state != m.state ||
        s.public_address != m.public_address || s.public_port != m.public_port) {
      s.changed = true;
    }
    // Assignments reuse the strings' storage when nothing changed.
    s.provider_id = m.provider_id;
    s.state = m.state;
    s.public_address = m.public_address;
    s.public_port = m.public_port;
    s.listed = true;
  }
  std::vector<Key> changed;  // at rest: empty, nothing allocated
  for (auto it = e.machines.begin(); it != e.machines.end();) {
    if (it->second.changed || !it->second.listed) changed.push_back(it->first);
    it = it->second.listed ? std::next(it) : e.machines.erase(it);  // gone from the list
  }
  e.all = listed_machines(listed);
  return changed;
}

std::optional<Machine> MachineObserver::observe(const std::shared_ptr<Provider>& provider,
                                                const std::string& provider_name,
                                                std::string_view pool_uid, std::string_view name,
                                                Time now) {
  if (!provider) return std::nullopt;
  {
    MutexLock lock(mu_);
    Entry& e = entries_[provider_name];
    if (!claim_list(e, provider, now)) {
      // While the last list() is a recent failure, get() answers.
      if (e.failed_at && now - *e.failed_at < max_age_) return std::nullopt;
      return lookup(e, provider, pool_uid, name);
    }
  }
  // This reconcile takes the list; the others answer from the previous one.
  if (!take_list(provider, provider_name, now)) return std::nullopt;
  MutexLock lock(mu_);
  return lookup(entries_[provider_name], provider, pool_uid, name);
}

bool MachineObserver::take_list(const std::shared_ptr<Provider>& provider,
                                const std::string& provider_name, Time now) {
  // Declared first, so it runs last: after `listed` is freed and the lock
  // released.
  struct ReleaseAfter {
    ReleaseAfter() = default;
    ReleaseAfter(const ReleaseAfter&) = delete;
    ReleaseAfter& operator=(const ReleaseAfter&) = delete;
    ~ReleaseAfter() {
      if (due) release_free_heap();
    }
    bool due = false;
  } release_after;
  auto listed = provider->list(MachineFilter{});
  std::vector<Key> changed;
  ChangeFn on_change;
  {
    MutexLock lock(mu_);
    if (!last_trim_ || now - *last_trim_ >= kTrimInterval) {
      last_trim_ = now;
      release_after.due = true;
    }
    Entry& e = entries_[provider_name];
    e.listing = false;
    ++lists_;
    if (e.adapter.lock() != provider) {  // the old list was another adapter's answer
      e.has_list = false;
      e.all.reset();
      e.adapter = provider;
    }
    if (!listed.ok()) {
      ++failed_lists_;
      e.failed_at = now;
      return false;
    }
    e.failed_at.reset();
    e.taken = now;
    e.has_list = true;
    changed = merge(e, *listed);
    if (!e.compared || !on_change_) changed.clear();  // a first list reports nothing
    e.compared = true;
    if (!changed.empty()) on_change = on_change_;
  }
  for (const auto& [pool_uid, name] : changed)
    on_change(provider_name, pool_uid, name);
  return true;
}

void MachineObserver::set_on_change(ChangeFn fn) {
  MutexLock lock(mu_);
  on_change_ = std::move(fn);
}

bool MachineObserver::reports_changes() const {
  MutexLock lock(mu_);
  return static_cast<bool>(on_change_);
}

std::optional<MachineObserver::Listing> MachineObserver::listing(
    const std::shared_ptr<Provider>& provider, const std::string& provider_name, Duration max_age,
    Time now, bool may_list) {
  if (!provider) return std::nullopt;
  auto fresh = [&](const Entry& e) -> std::optional<Listing> {
    if (!e.has_list || !e.all || e.adapter.lock() != provider || now - e.taken >= max_age) {
      return std::nullopt;
    }
    return Listing{e.taken, e.all};
  };
  {
    MutexLock lock(mu_);
    Entry& e = entries_[provider_name];
    if (auto l = fresh(e)) return l;
    // The last list failed lately: no new one before the observer's period
    // (a broken list costs one call per period), and nothing to act on.
    const bool failed_lately =
        e.failed_at && e.adapter.lock() == provider && now - *e.failed_at < max_age_;
    if (!may_list || e.listing || failed_lately) return std::nullopt;
    e.listing = true;
  }
  if (!take_list(provider, provider_name, now)) return std::nullopt;
  MutexLock lock(mu_);
  return fresh(entries_[provider_name]);
}

std::optional<Machine> MachineObserver::peek(const std::shared_ptr<Provider>& provider,
                                             const std::string& provider_name,
                                             std::string_view pool_uid, std::string_view name,
                                             Time now) const {
  if (!provider) return std::nullopt;
  MutexLock lock(mu_);
  auto it = entries_.find(provider_name);
  if (it == entries_.end()) return std::nullopt;
  const Entry& e = it->second;
  if (e.failed_at && now - *e.failed_at < max_age_) return std::nullopt;
  if (!e.has_list || now - e.taken >= max_age_) return std::nullopt;
  return lookup(e, provider, pool_uid, name);
}

int64_t MachineObserver::lists() const {
  MutexLock lock(mu_);
  return lists_;
}

int64_t MachineObserver::failed_lists() const {
  MutexLock lock(mu_);
  return failed_lists_;
}

}  // namespace gpupool::controllers
