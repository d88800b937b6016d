#pragma once
// A stateful local Fluence GPU Cloud API (/gpu/...) for tests: plans with
// capacity, VMs with the INITIALIZED -> ACTIVE lifecycle driven by the
// injected Clock, delete only when ACTIVE (400 otherwise), ENDED/FAILED VMs
// kept in the list, X-API-KEY checked (403), FastAPI-style error bodies
// ({"detail": "..."} for 400, {"detail": [...]} for 422), and clock-aligned
// hourly billing (every started UTC hour of a live VM is charged).
//
// Faults (FaultPlan keys: "plans", "create", "list", "get", "delete"):
// NoCapacity (400 plan no longer available), Throttle (429 + Retry-After),
// ServerError (500), Slow, LoseAnswer, Garbled (200 with a truncated body),
// GarbledError (502 HTML), AuthFailure (403).
//
// Thread-safe.

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "operator/clock/clock.h"
#include "operator/core/money.h"
#include "operator/httpserver/http_server.h"
#include "tests/emulators/common/fault_plan.h"
#include "tests/emulators/common/machine_table_emulator.h"

namespace gpupool::emulators {

struct FluencePlan {
  std::string id;     // plan_id (option id)
  std::string model;  // "l40s", "l40", "a100", ...
  int gpu_count = 1;
  std::string location;  // "us-central-3"
  std::string provider = "massed-compute";
  Money price_per_hour;
  int capacity = -1;  // live VMs it can hold (-1: unlimited)
  std::vector<std::string> os_options = {"Ubuntu Server 22.04"};
};

struct FluenceVm {
  std::string id;
  std::string name;
  std::string plan_id;
  std::string status;  // INITIALIZED, ACTIVE, ENDED, FAILED
  std::string ssh_key;
  std::string os_image;
  Time created{};
  std::optional<Time> ended;
  std::string domain;
};

struct FluenceEmulatorOptions {
  std::string api_key = "fluence-test-key";
  const Clock* clock = nullptr;  // required
  std::vector<FluencePlan> plans;
  Duration boot_time{150};
  uint16_t port = 0;  // 0: ephemeral
};

class FluenceEmulator final : public MachineTableEmulator<FluenceEmulatorOptions, FluenceVm> {
 public:
  explicit FluenceEmulator(FluenceEmulatorOptions options);
  ~FluenceEmulator();

  void set_capacity(const std::string& plan_id, int capacity);
  // The next `n` VMs end FAILED instead of becoming ACTIVE.
  void fail_next_boots(int n);

  std::vector<FluenceVm> vms() const { return machines(); }
  int alive() const;  // INITIALIZED or ACTIVE
  // Hours charged so far for a VM (clock-aligned: each started UTC hour).
  int64_t charged_hours(const std::string& id) const;

 private:
  void handle(const http::HttpRequest& req, http::ResponseWriter& w) override;
  Reply route(const std::string& op, const http::HttpRequest& req);
  Reply plans_locked() const;
  Reply create_locked(const std::string& body);
  void advance_locked() override;
  std::string vm_json_locked(const FluenceVm& vm, bool details) const;
  static Reply detail(int status, const std::string& message);
  // Fluence's answers to the faults it words itself.
  static ProviderFaultReplies fault_replies(const std::string& op);

  int fail_boots_ = 0;
  std::vector<std::string> failing_;  // ids that will fail at boot
  int64_t next_ = 0;
};

}  // namespace gpupool::emulators
