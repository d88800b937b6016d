#pragma once
// ProviderSlots: a cap on the provider calls in flight per GpuProvider,
// checked without blocking, so one slow provider (an API that answers in
// 20 s, or hangs until its HTTP timeout) cannot hold every reconcile worker
// while pools on other providers wait.
//
// A reconcile about to call a provider takes a slot for that GpuProvider's
// name with try_acquire(); the Slot it gets back holds it until the Slot is
// destroyed (or release()d). When all of the provider's slots are taken,
// try_acquire() returns an empty Slot at once: the caller does not wait and
// does not call the provider. It names itself a waiter (wait(): its key and
// its work queue's enqueue function) and returns refused_result() (not an
// error: no backoff growth); its worker serves other keys meanwhile.
//
// Wake-up, not polling: when a slot of that provider is given back, the
// waiters are put back on their queues first in, first out, as many as the
// provider has slots free at that moment (one per freed slot in the steady
// state). Waking one per free slot, not all of them, is what keeps 10,000
// refused keys of a one-slot provider from all running (and all but one being
// refused again) each time a call finishes. A waiter is registered once
// (same queue and key: deduplicated; it keeps its place). A woken key that
// no longer needs the slot leaves it free for the next release to hand on,
// and every refused key also comes back after kProviderWaitSafetyRequeue,
// so a lost wake-up (or one spent on a key that did not call) costs seconds,
// never a stranded key. With a limit below the workers per controller
// (the default, default_provider_concurrency()), a provider can hold at most
// `limit` workers of a controller; the rest keep serving the other providers.
//
// The count is per process, shared by every reconciler (pools, instances)
// and the garbage collector: it is what the provider sees in flight.
//
// limit <= 0: unlimited (every try_acquire() succeeds; counts still kept).
// Thread-safety: every method is safe from any thread. A Slot must not
// outlive the ProviderSlots it came from.

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "operator/base/thread_annotations.h"
#include "operator/kube/runtime/controller.h"

namespace gpupool::controllers {

// How soon a reconcile refused a slot comes back when it cannot be woken
// (no enqueue function: tests, the simulator): short, so the provider's work
// resumes soon after a call finishes, but long enough that the refused keys
// of a hung provider do not spin the workers.
inline constexpr std::chrono::milliseconds kProviderBusyRequeue{300};
// How soon a refused key that waits to be woken comes back anyway: the
// safety net for a wake-up that never came (a woken key that did not take
// the slot, a provider whose call hangs until its HTTP timeout). Long, since
// the wake-up is what brings it back in the normal case.
inline constexpr std::chrono::milliseconds kProviderWaitSafetyRequeue{10000};

// The operator's default limit for `workers` workers per controller: half
// of them, at least 1 (so with one worker the cap cannot protect anything:
// the one call in flight holds the only worker).
int default_provider_concurrency(int workers);

class ProviderSlots {
 public:
  // A taken slot (true) or a refusal (false). Move-only.
  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& other) noexcept;
    Slot& operator=(Slot&& other) noexcept;
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot() { release(); }

    explicit operator bool() const { return owner_ != nullptr; }
    // Gives the slot back now (idempotent).
    void release();

   private:
    friend class ProviderSlots;
    Slot(ProviderSlots* owner, std::string provider)
        : owner_(owner), provider_(std::move(provider)) {}

    ProviderSlots* owner_ = nullptr;  // null: empty (refused or released)
    std::string provider_;
  };

  // Puts a key back on its work queue (Controller::enqueue). Called outside
  // ProviderSlots' lock; it must not block.
  using Enqueue = std::function<void(const std::string& key)>;
  // A refused reconcile: its key and its queue's enqueue function.
  // REQUIRES: *enqueue outlives the wait (the Context that owns it outlives
  // every reconcile).
  struct Waiter {
    const Enqueue* enqueue = nullptr;
    std::string key;
  };

  explicit ProviderSlots(int limit) : limit_(limit) {}
  ProviderSlots(const ProviderSlots&) = delete;
  ProviderSlots& operator=(const ProviderSlots&) = delete;

  // A slot for GpuProvider `provider`, or an empty Slot (counted in
  // refusals()) when `limit` of its slots are taken. Never blocks.
  [[nodiscard]] Slot try_acquire(const std::string& provider);

  // Registers `waiter` to be put back on its queue when a slot of
  // `provider` is given back (FIFO, one per free slot; see above). A waiter
  // already registered (same enqueue, same key) keeps its place. Returns
  // false, registering nothing, when a slot is free right now (it was given
  // back since the refusal: the caller should try again at once), or when
  // waiter.enqueue is null or empty.
  [[nodiscard]] bool wait(const std::string& provider, Waiter waiter);

  // What a reconcile refused a slot of each of `providers` returns: it waits
  // on every one of them and comes back after kProviderWaitSafetyRequeue, or
  // at once when one has a slot free again; with no enqueue function (the
  // key cannot be woken) it comes back after kProviderBusyRequeue.
  kube::ReconcileResult refused_result(const std::vector<std::string>& providers,
                                       const Enqueue* enqueue, const std::string& key);

  int limit() const { return limit_; }
  // Slots of `provider` taken now.
  int in_flight(const std::string& provider) const;
  // Keys waiting for a slot of `provider` now.
  int waiting(const std::string& provider) const;
  // Refused try_acquire() calls by provider since construction (monotonic).
  std::map<std::string, int64_t> refusals() const;
  // Waiters put back on their queues since construction (monotonic).
  int64_t wakes() const;

 private:
  using WaiterId = std::pair<const Enqueue*, std::string>;
  struct Waiting {
    std::deque<WaiterId> fifo;  // oldest first
    std::set<WaiterId> queued;  // what fifo holds (deduplication)
  };

  void give_back(const std::string& provider);

  const int limit_;
  mutable Mutex mu_;
  std::map<std::string, int> in_flight_ GUARDED_BY(mu_);  // no zero entries
  std::map<std::string, int64_t> refusals_ GUARDED_BY(mu_);
  std::map<std::string, Waiting> waiting_ GUARDED_BY(mu_);  // no empty entries
  int64_t wakes_ GUARDED_BY(mu_) = 0;
};

}  // namespace gpupool::controllers
