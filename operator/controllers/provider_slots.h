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
// does not call the provider; it returns ReconcileResult::after(
// kProviderBusyRequeue) (not an error: no backoff growth), and its worker
// serves other keys meanwhile. With a limit below the workers per controller
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
#include <map>
#include <mutex>
#include <string>

namespace gpupool::controllers {

// How soon a reconcile refused a slot comes back: short (a few hundred ms),
// so the provider's work resumes as soon as a call finishes, but long enough
// that the refused keys of a hung provider do not spin the workers.
inline constexpr std::chrono::milliseconds kProviderBusyRequeue{300};

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

  explicit ProviderSlots(int limit) : limit_(limit) {}
  ProviderSlots(const ProviderSlots&) = delete;
  ProviderSlots& operator=(const ProviderSlots&) = delete;

  // A slot for GpuProvider `provider`, or an empty Slot (counted in
  // refusals()) when `limit` of its slots are taken. Never blocks.
  [[nodiscard]] Slot try_acquire(const std::string& provider);

  int limit() const { return limit_; }
  // Slots of `provider` taken now.
  int in_flight(const std::string& provider) const;
  // Refused try_acquire() calls by provider since construction (monotonic).
  std::map<std::string, int64_t> refusals() const;

 private:
  void give_back(const std::string& provider);

  const int limit_;
  mutable std::mutex mu_;
  std::map<std::string, int> in_flight_;     // guarded by mu_; no zero entries
  std::map<std::string, int64_t> refusals_;  // guarded by mu_
};

}  // namespace gpupool::controllers
