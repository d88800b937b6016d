#pragma once
// SSH keys: GET /v2/ssh-keys ({"ssh_keys":[{id,date_created,name,ssh_key}],
// "meta"}), POST /v2/ssh-keys {name, ssh_key} (201 {"ssh_key":{...}});
// POST /v2/instances refuses sshkey_id entries that do not exist (400).
// A stateful local Vultr API (v2) for tests: GET /v2/plans?type=vcg (a
// plan's `locations` lists only regions with capacity left), POST
// /v2/instances (202 {"instance":{..}}; user_data must be base64; 400 "Plan
// is not available in the selected region" when sold out), GET
// /v2/instances (tag and label filters, per_page + cursor pagination with
// meta.links.next), DELETE /v2/instances/{id} (204; gone at once; 404
// after). Error bodies {"error","status"}; Bearer auth (401). Instances go
// pending -> active/running/ok after boot_time.
//
// Faults (keys "plans", "create", "list", "delete"): NoCapacity, Throttle
// (429 + Retry-After), ServerError, Slow, LoseAnswer, Garbled, GarbledError,
// AuthFailure.
//
// Thread-safe.

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "operator/clock/clock.h"
#include "operator/httpserver/http_server.h"
#include "tests/emulators/common/fault_plan.h"
#include "tests/emulators/common/machine_table_emulator.h"

namespace gpupool::emulators {

struct VultrPlan {
  std::string id;        // "vcg-l40s-16c-180g-48vram" (real ids name the plan's GPU memory)
  std::string gpu_type;  // "NVIDIA_L40S"
  int gpu_vram_gb = 48;  // the plan's total GPU memory: 96 for 2 x L40S; 2 for an A16 slice
  double hourly_cost = 0;
  std::map<std::string, int> capacity;  // region -> instances (-1 unlimited)
};

struct VultrInstance {
  std::string id;
  std::string label;
  std::string plan;
  std::string region;
  std::string status;       // pending, active
  int os_id = 0;            // POST /v2/instances "os_id"; 0 when booted from a snapshot
  std::string snapshot_id;  // "snapshot_id", as sent
  std::vector<std::string> tags;
  std::string user_data;              // decoded
  std::vector<std::string> ssh_keys;  // public keys of its sshkey_id list
  Time created{};
};

struct VultrEmulatorOptions {
  std::string api_key = "vultr-test-key";
  const Clock* clock = nullptr;  // required
  std::vector<VultrPlan> plans;
  Duration boot_time{120};
  int max_per_page = 500;
  uint16_t port = 0;
};

class VultrEmulator final : public MachineTableEmulator<VultrEmulatorOptions, VultrInstance> {
 public:
  explicit VultrEmulator(VultrEmulatorOptions options);
  ~VultrEmulator();

  void set_capacity(const std::string& plan, const std::string& region, int n);
  std::vector<VultrInstance> instances() const { return machines(); }
  // Adds a key to the account as a user would in the console; returns its id.
  std::string add_ssh_key(const std::string& public_key);

 private:
  void handle(const http::HttpRequest& req, http::ResponseWriter& w) override;
  Reply route(const std::string& op, const http::HttpRequest& req);
  Reply create_locked(const std::string& body);
  std::string add_key_locked(const std::string& public_key);
  Reply list_locked(const http::HttpRequest& req);
  void advance_locked() override;
  int used_locked(const std::string& plan, const std::string& region) const;
  std::string instance_json_locked(const VultrInstance& in) const;
  static Reply error(int status, const std::string& message);
  // Vultr's answers to the faults it words itself.
  static ProviderFaultReplies fault_replies(const std::string& op);

  std::vector<std::pair<std::string, std::string>> ssh_keys_;  // id, public key
  int64_t next_ = 0;
};

}  // namespace gpupool::emulators
