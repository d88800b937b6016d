#pragma once
// Fault injection shared by the provider emulators. A test queues faults per
// operation ("RunInstances", "create", "list", ... or "" for any); each
// incoming call of that operation takes the next queued fault, if any, and
// the emulator acts it out in the provider's own wire format.
//
// Thread-safe.

#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace gpupool::emulators {

enum class FaultKind {
  NoCapacity,    // the provider's "sold out" answer
  Throttle,      // the provider's throttling answer (429 / RequestLimitExceeded)
  ServerError,   // a 5xx with the provider's internal-error body
  Slow,          // wait `delay` (or until the client hangs up), then act normally
  LoseAnswer,    // act normally, then never answer until the client gives up
  Garbled,       // a success status with a truncated / unreadable body, nothing done
  GarbledError,  // a 5xx from a "gateway" with an HTML body, nothing done
  AuthFailure,   // the provider's credential-rejected answer
};

struct Fault {
  FaultKind kind = FaultKind::ServerError;
  std::chrono::milliseconds delay{0};   // Slow
  std::chrono::seconds retry_after{0};  // Throttle: Retry-After to send (0: none)
};

class FaultPlan {
 public:
  // Queues `fault` for the next `times` calls of `operation` ("" = any).
  void add(std::string operation, Fault fault, int times = 1);
  // The next fault for this operation (specific queue first, then ""), or
  // nullopt. Consumes it.
  std::optional<Fault> take(std::string_view operation);
  void clear();
  size_t pending() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::deque<Fault>, std::less<>> queues_;
};

}  // namespace gpupool::emulators
