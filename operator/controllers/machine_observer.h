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
// Changes: a list is compared with the provider's previous successful list
// (whichever adapter answered it). Each machine whose provider_id, state,
// public_address or public_port differs, that appeared, or that is gone
// from the list, is reported to the change callback (set_on_change) as
// (provider name, pool uid, intent name), once per list, on the thread
// that took the list, after the observer's lock is released. The first
// list of a provider reports nothing: there is nothing to compare it with,
// and every machine read before it was read through get(). So a reader that saw a
// machine in list N learns of any later change from list N+1; the owner
// wires the callback to the instances' queue (wake_instance_on_change,
// instance_reconciler.h), and settled instances then need no short poll.
//
// Thread-safety: all methods are safe from any thread; list() runs outside
// the lock.

#include <functional>
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

  // Told of each machine a list found changed (above).
  using ChangeFn = std::function<void(const std::string& provider, const std::string& pool_uid,
                                      const std::string& name)>;
  // Sets (or, with an empty fn, clears) the change callback. Lists taken
  // from then on report to it. It runs outside the observer's lock (it may
  // read the observer) and must be thread-safe: lists are taken by
  // reconcile workers and the garbage collector alike.
  void set_on_change(ChangeFn fn);
  // Whether a change callback is set: readers of a list are then told of
  // its machines' changes and need not poll for them.
  bool reports_changes() const;
  // How old a list may be before observe() takes a new one.
  Duration max_age() const { return max_age_; }

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
    bool listed = false;   // in the list being merged
    bool changed = false;  // differs from the previous list (merge())
  };
  using Key = std::pair<std::string, std::string>;  // (pool uid, intent name)
  struct Entry {
    std::weak_ptr<Provider> adapter;  // who answered `machines`
    Time taken{};                     // when `machines` was listed
    bool has_list = false;
    bool compared = false;  // `machines` holds a successful list to compare with
    // (pool uid, intent name) -> the live machine (a gone one only when no
    // live one shares the name), as machine_named() chooses. Updated in
    // place, list after list, so at rest keeping it allocates nothing.
    // Kept across an adapter change (has_list is cleared): the next list
    // is compared with it.
    std::map<Key, Seen> machines;
    // Every machine of that list (listing()); null until one succeeded.
    std::shared_ptr<const std::vector<ListedMachine>> all;
    bool listing = false;
    std::optional<Time> failed_at;  // the last list() failed then
  };

  // Whether the caller should take a new list now (and marks it under way).
  bool claim_list(Entry& e, const std::shared_ptr<Provider>& provider, Time now) const;
  // Makes e.machines and e.all what `listed` says; returns the keys whose
  // machine changed, appeared or disappeared since the previous list.
  static std::vector<Key> merge(Entry& e, std::vector<Machine>& listed);
  // Takes a list (claimed with e.listing), stores it and reports its
  // changes to on_change_ (outside the lock); false when it failed.
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
  ChangeFn on_change_ GUARDED_BY(mu_);
};

}  // namespace gpupool::controllers
