#pragma once
// Garbage collection and adoption across providers. run_once() lists every
// registered provider's machines (only those carrying this operator's tags;
// see Provider::list) and compares them with the GpuInstances:
//   * a machine whose GpuInstance exists (by the tags' namespace and
//     instance name, same pool uid) but has no providerId yet is adopted:
//     providerId, region, price, billing and launch time are written into the
//     instance's status (phase Provisioning or Running);
//   * a machine no GpuInstance claims (no such object, another pool uid, or
//     the instance records a different providerId) is an orphan: it is left
//     alone for the pool's lifecycle.adoptionGraceSeconds (kDefaultGrace when
//     the pool is gone) from when this collector first saw it, then, after a
//     live GET confirms nobody claims it, terminated with an Event (on the
//     pool when it exists) and counted in orphans_ended(). Its spend (from
//     its launch time, or first sighting when the provider gives none, to
//     now, at its offer's billing rule) is charged where caps and metrics see
//     it: folded into the spend ledger of the pool whose uid it carries under
//     "orphan/<provider>/<id>" (idempotent), else added to the GpuProvider's
//     status.unattributedSpend;
//   * GpuInstances whose machine vanished are the instance reconciler's job
//     (it polls get() and marks them Failed).
// Counters (metrics): orphans found (first sighting of an unclaimed machine
// since this process started) and ended, per GpuProvider name.
// The first-seen times live in memory: after a restart the grace starts
// again, which only delays an end, never hastens one.
//
// Thread-safety: run_once() from one thread at a time; counters from any.

#include <atomic>
#include <map>
#include <mutex>
#include <string>

#include <optional>

#include "operator/controllers/context.h"

namespace gpupool::controllers {

class GarbageCollector {
 public:
  static constexpr Duration kDefaultGrace{600};

  explicit GarbageCollector(Context& ctx) : ctx_(ctx) {}
  void run_once();

  uint64_t orphans_ended() const { return orphans_ended_.load(); }
  uint64_t adopted() const { return adopted_.load(); }
  struct OrphanCounts {
    uint64_t found = 0;
    uint64_t ended = 0;
  };
  std::map<std::string, OrphanCounts> orphans_by_provider() const;

 private:
  void charge_orphan(const std::string& provider, const Machine& m,
                     const std::optional<api::GpuPool>& pool, Time first_seen, Time now);

  void count_orphan(const std::string& provider, bool ended);

  Context& ctx_;
  mutable std::mutex counts_mu_;
  std::map<std::string, OrphanCounts> per_provider_;  // guarded by counts_mu_
  std::map<std::string, Time> first_seen_;            // provider/id -> first seen unclaimed
  std::atomic<uint64_t> orphans_ended_{0};
  std::atomic<uint64_t> adopted_{0};
};

}  // namespace gpupool::controllers
