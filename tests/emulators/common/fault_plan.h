#pragma once
// Fault injection shared by the provider emulators. A test queues faults per
// operation ("RunInstances", "create", "list", ... or "" for any); each
// incoming call of that operation takes the next queued fault, if any, and
// the emulator acts it out in the provider's own wire format.
//
// Thread-safe.

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "operator/httpserver/http_server.h"

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

// Test-only admin endpoints every emulator serves under /__emulator/ (no
// auth; loopback only), so tests that run the operator as a separate
// process can steer an emulator over HTTP:
//   POST   /__emulator/faults    {"operation":"create","kind":"NoCapacity",
//                                 "times":2,"delayMs":0,"retryAfterSeconds":0}
//   DELETE /__emulator/faults    clears every queued fault
//   POST   /__emulator/capacity  {"id":"<type/plan/gpu id>","capacity":n}
//   GET    /__emulator/state     emulator-specific JSON (counts)
// kind is one of NoCapacity, Throttle, ServerError, Slow, LoseAnswer,
// Garbled, GarbledError, AuthFailure.
struct AdminHooks {
  // Sets capacity; returns "" or an error message.
  std::function<std::string(const std::string& id, int capacity)> set_capacity;
  std::function<std::string()> state_json;
};

// Returns true when `req` was an admin request (and has been answered).
bool handle_admin(const http::HttpRequest& req, http::ResponseWriter& w, FaultPlan& faults,
                  const AdminHooks& hooks);

// Parses a fault description (the POST /__emulator/faults body). Returns the
// error message, or "" on success with operation/fault/times filled in.
std::string parse_fault_json(std::string_view body, std::string& operation, Fault& fault,
                             int& times);

}  // namespace gpupool::emulators
