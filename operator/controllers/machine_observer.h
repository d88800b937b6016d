#pragma once
// MachineObserver: one shared view of each provider's machines
// (ARCHITECTURE rule 4: machines are observed per provider, one paged list,
// not per instance).
//
// The instance reconciler reads a settled machine (its instance Running,
// Ready or Parked) from the provider's last list() instead of calling get()
// for it: the list is taken again only once it is older than `max_age`, by
// the first reconcile that needs it. So at rest the provider sees one list (its pages) per max_age,
// however many instances it runs. Machines in transition (being bought,
// booting, being ended) still ask get(): their answer must be fresh.
//
// observe() answers only from a list; whenever it cannot, the caller asks
// get() as before, so a machine missing from a list is never taken as gone:
//   * a machine the list does not hold (bought after the list was taken, or
//     a provider whose list lags its get) -> confirm with get();
//   * no list yet and another reconcile is taking it -> get() now rather
//     than wait (a slow provider holds one worker, not all of them); while
//     a newer list is under way, the previous one still answers;
//   * the last list() failed -> get() until max_age has passed, then one
//     reconcile tries list() again (a provider whose list is broken costs
//     what it cost before, not a list per reconcile).
// A list is tied to the adapter that answered it: when the registry rebuilds
// a GpuProvider's adapter (new credentials, a changed spec), the next
// observe() lists again.
//
// The garbage collector reads the same lists (listing()): every machine
// the provider's last list showed, when that list is fresh enough for it, and
// otherwise a list it takes through the observer, which then answers the
// instances too. So at rest a provider sees one list per collector period,
// not one for the collector and one for the instances.
//
// Thread-safety: all methods are safe from any thread; list() runs outside
// the lock.

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "operator/base/thread_annotations.h"
#include "operator/clock/clock.h"
#include "providers/provider.h"

namespace gpupool::controllers {

// How old a provider's machine list may be before a settled instance's
// reconcile lists again (the operator's default).
inline constexpr Duration kDefaultMachineListPeriod{30};

// One machine as a list showed it: what the garbage collector reads (its
// tags read into fields, the rest of the Machine dropped).
struct ListedMachine {
  std::string provider_id;
  std::string pool_uid;  // tag kTagPoolUid
  std::string pool;      // tag kTagPool: "<namespace>/<name>", "" when absent
  std::string instance;  // tag kTagInstance, else the machine's name
  MachineState state = MachineState::Unknown;
  std::string region;
  std::string offer_id;
  Money price_per_hour;
  std::optional<Time> launch_time;

  // The Machine with these fields and the three tags set.
  Machine to_machine() const;
};

class MachineObserver {
 public:
  explicit MachineObserver(Duration max_age = kDefaultMachineListPeriod) : max_age_(max_age) {}

  // The machine made for intent `name` of pool `pool_uid` at `provider`
  // (registered under `provider_name`) as the provider's list shows it,
  // listing first when the last list is older than max_age at `now`;
  // nullopt when no list can answer (above): ask get(). Only what watching
  // a machine reads is kept: provider_id, name, state, public_address and
  // public_port are set, the rest of the Machine is empty.
  std::optional<Machine> observe(const std::shared_ptr<Provider>& provider,
                                 const std::string& provider_name, std::string_view pool_uid,
                                 std::string_view name, Time now);

  // What observe() would answer from a list no older than max_age at `now`,
  // never taking one (nullopt when there is no such list): a caller can
  // tell, before it asks for a provider call slot, that it needs no call.
  std::optional<Machine> peek(const std::shared_ptr<Provider>& provider,
                              const std::string& provider_name, std::string_view pool_uid,
                              std::string_view name, Time now) const;

  // Every machine of `provider` from a successful list no older than
  // `max_age` at `now`. When there is none and `may_list` (the caller holds
  // a call slot of the provider), takes one now, which observe() and peek()
  // then answer from too. nullopt when no such list can be had: the last
  // list failed less than the observer's max_age ago (or fails now), another
  // caller is taking one, or !may_list. Never a stale or failed list.
  struct Listing {
    Time taken{};
    std::shared_ptr<const std::vector<ListedMachine>> machines;  // never null
  };
  std::optional<Listing> listing(const std::shared_ptr<Provider>& provider,
                                 const std::string& provider_name, Duration max_age, Time now,
                                 bool may_list);

  // Lists taken so far (tests and metrics).
  int64_t lists() const;
  // Lists that failed (their error is the provider's; get() answered instead).
  int64_t failed_lists() const;

 private:
  struct Seen {
    std::string provider_id;
    MachineState state = MachineState::Unknown;
    std::string public_address;
    int public_port = 0;
    bool listed = false;  // in the list being merged
  };
  struct Entry {
    std::weak_ptr<Provider> adapter;  // who answered `machines`
    Time taken{};                     // when `machines` was listed
    bool has_list = false;
    // (pool uid, intent name) -> the live machine (a gone one only when no
    // live one shares the name), as machine_named() chooses. Updated in
    // place, list after list, so at rest keeping it allocates nothing.
    std::map<std::pair<std::string, std::string>, Seen> machines;
    // Every machine of that list (listing()); null until one succeeded.
    std::shared_ptr<const std::vector<ListedMachine>> all;
    bool listing = false;
    std::optional<Time> failed_at;  // the last list() failed then
  };

  // Whether the caller should take a new list now (and marks it under way).
  bool claim_list(Entry& e, const std::shared_ptr<Provider>& provider, Time now) const;
  // Makes e.machines and e.all what `listed` says.
  static void merge(Entry& e, std::vector<Machine>& listed);
  // Takes a list (claimed with e.listing) and stores it; false when it failed.
  bool take_list(const std::shared_ptr<Provider>& provider, const std::string& provider_name,
                 Time now);
  static std::optional<Machine> lookup(const Entry& e, const std::shared_ptr<Provider>& provider,
                                       std::string_view pool_uid, std::string_view name);

  const Duration max_age_;
  mutable Mutex mu_;
  std::map<std::string, Entry> entries_ GUARDED_BY(mu_);  // by GpuProvider name
  int64_t lists_ GUARDED_BY(mu_) = 0;
  int64_t failed_lists_ GUARDED_BY(mu_) = 0;
  std::optional<Time> last_trim_ GUARDED_BY(mu_);  // the heap's free pages last given back
};

}  // namespace gpupool::controllers
