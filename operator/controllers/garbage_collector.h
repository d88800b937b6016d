#pragma once
// Garbage collection and adoption across providers. run_once() reads every
// registered provider's machines (only those carrying this operator's tags;
// see Provider::list) and compares them with the GpuInstances. It reads the
// list the instances' MachineObserver shares (ctx.machines; its own observer
// when that is null): the observer's last list when it is no older than
// `max_list_age` (the collector's period), else a list it takes through the
// observer, holding one of the provider's call slots, which then answers the
// instances as well. A provider without such a list (its last list failed,
// another is being taken, no free slot) is skipped this round: nothing is
// decided on a stale or failed list, and first-seen times are kept.
//   * a machine whose GpuInstance exists (by the tags' namespace and
//     instance name, same pool uid, and the instance's spec.offer names
//     this provider) but has no providerId yet is adopted:
//     providerId, region, price, billing and launch time are written into the
//     instance's status (phase Provisioning or Running);
//   * a machine no GpuInstance claims (no such object, another pool uid, or
//     the instance records a different providerId) is an orphan: it is left
//     alone for the pool's lifecycle.adoptionGraceSeconds (kDefaultGrace when
//     the pool is gone) from when this collector first saw it (the time of
//     the list that showed it), then, once a later list still shows it and a
//     live GET confirms nobody claims it, terminated with an Event (on the
//     pool when it exists) and counted in orphans_ended(). Its spend (from
//     its launch time, or first sighting when the provider gives none, to
//     now, at its offer's billing rule) is charged where caps and metrics see
//     it: folded into the spend ledger of the pool whose uid it carries under
//     "orphan/<provider>/<id>" (idempotent), else added to the GpuProvider's
//     status.unattributedSpend;
//   * GpuInstances whose machine vanished are the instance reconciler's job
//     (it marks them Failed): the lists this collector takes report the
//     change to the instances' queue (machine_observer.h), which at rest is
//     the only thing that lists a provider.
// Counters (metrics): orphans found (first sighting of an unclaimed machine
// since this process started) and ended, per GpuProvider name.
//
// First-seen times survive restarts: they are kept on the GpuProvider in the
// annotation kOrphansFirstSeenAnnotation, a JSON object from provider id to
// RFC 3339 time ({"m-1": "2026-11-10T12:00:00Z"}). An entry is written once,
// when the orphan is first seen, and removed when the machine is ended,
// claimed or gone, so a cluster with no orphans costs no writes. A restarted
// collector reads each GpuProvider's annotation once (live GET) before it
// trusts its own sightings and keeps the earlier of the two times, so a
// restart never starts the grace again. Until that read succeeds (the API is
// down) nothing is written for that provider and the grace counts from this
// process's own sighting, which only delays an end, never hastens one; a
// GpuProvider that does not exist (adapters put in the registry by hand)
// keeps its times in memory only. An unreadable annotation is replaced.
//
// Thread-safety: run_once() from one thread at a time; counters from any.

#include <atomic>
#include <map>
#include <optional>
#include <string>

#include "operator/base/thread_annotations.h"
#include "operator/controllers/context.h"
#include "operator/controllers/machine_observer.h"
#include "operator/controllers/provider_slots.h"

namespace gpupool::controllers {

// On a GpuProvider: the first sighting of each of its unclaimed machines.
inline constexpr const char* kOrphansFirstSeenAnnotation = "gpupool.io/orphans-first-seen";

class GarbageCollector {
 public:
  static constexpr Duration kDefaultGrace{600};
  // The operator's default collector period (--gc-period-seconds).
  static constexpr Duration kDefaultPeriod{15};

  explicit GarbageCollector(Context& ctx, Duration max_list_age = kDefaultPeriod)
      : ctx_(ctx), max_list_age_(max_list_age) {}
  void run_once();
  // Between collections: takes a list of every registered provider whose
  // shared list is older than the observer's max_age (holding one of its
  // call slots; a busy provider is looked at next time), deciding nothing
  // on it. What keeps each provider listed, and so its settled instances'
  // change wake-ups (machine_observer.h) coming, at least every list period
  // when the collector's period is longer; run_once() lists as often itself
  // when its period is not.
  void refresh_lists();

  uint64_t orphans_ended() const { return orphans_ended_.load(); }
  uint64_t adopted() const { return adopted_.load(); }
  struct OrphanCounts {
    uint64_t found = 0;
    uint64_t ended = 0;
  };
  std::map<std::string, OrphanCounts> orphans_by_provider() const;

 private:
  // A list of `provider` no older than `max_age`, or nullopt (skip it this
  // round).
  std::optional<MachineObserver::Listing> fresh_list(const std::string& pname,
                                                     const std::shared_ptr<Provider>& provider,
                                                     ProviderSlots::Slot& slot, Duration max_age,
                                                     Time now);
  MachineObserver& observer() { return ctx_.machines ? *ctx_.machines : own_observer_; }
  void charge_orphan(const std::string& provider, const Machine& m,
                     const std::optional<api::GpuPool>& pool, Time first_seen, Time now);

  void count_orphan(const std::string& provider, bool ended);

  // One provider's unclaimed machines and what its annotation holds.
  struct ProviderOrphans {
    bool loaded = false;                     // the GpuProvider's annotation has been read
    bool persistent = false;                 // the GpuProvider exists: times are written to it
    std::string written;                     // the annotation's value as last read or written
    std::map<std::string, Time> first_seen;  // provider id -> first seen unclaimed
    // Provider id -> when the list it was ended on was taken: that list,
    // still fresh next round, shows it unended.
    std::map<std::string, Time> ended;
  };
  // One machine of `provider`: adopts, skips or ends it (ending takes a
  // call slot into `slot` when it holds none). Returns whether it is an
  // orphan still waiting out its grace (or whose end must wait for a slot).
  bool visit_machine(const std::string& pname, Provider& provider, const ListedMachine& m,
                     ProviderOrphans& po, ProviderSlots::Slot& slot, Time listed, Time now);
  void adopt(const std::string& pname, const Machine& m, const kube::Json& obj, Time now);
  // Reads the annotation once per provider, keeping the earlier time of each.
  void load_first_seen(const std::string& provider, ProviderOrphans& po);
  // Writes the annotation when `po.first_seen` differs from what it holds.
  void persist_first_seen(const std::string& provider, ProviderOrphans& po);

  Context& ctx_;
  const Duration max_list_age_;
  MachineObserver own_observer_;  // when ctx_.machines is null
  mutable Mutex counts_mu_;
  std::map<std::string, OrphanCounts> per_provider_ GUARDED_BY(counts_mu_);
  std::map<std::string, ProviderOrphans> orphans_;  // by GpuProvider name (run_once only)
  std::atomic<uint64_t> orphans_ended_{0};
  std::atomic<uint64_t> adopted_{0};
};

}  // namespace gpupool::controllers
