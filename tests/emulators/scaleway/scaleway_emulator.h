#pragma once
// A stateful local Scaleway Instance API (v1) for tests, per zone under
// /instance/v1/zones/{zone}: GET products/servers (hourly_price, gpu,
// gpu_info), GET products/servers/availability ("available" / "shortage"
// by capacity left), POST servers (201, the server "stopped", as Scaleway
// creates servers powered off), PATCH servers/{id}/user_data/cloud-init
// (text/plain, 204), POST servers/{id}/action {"action":"poweron" |
// "terminate"} (202 with a task), GET servers (tags filter: servers having
// every listed tag; page/per_page with X-Total-Count). Error bodies
// {"type","message"}; X-Auth-Token auth (401 denied_authentication).
// States: stopped -> starting (poweron) -> running after boot_time;
// terminate -> stopping -> gone (404 unknown_resource) after shutdown_time,
// with its volumes. Each server has one local root volume ("volumes" map in
// the server object). An action on a server in a transient state (starting,
// stopping) answers 409 {"type":"transient_state"}; "terminate" is refused
// for a stopped server (400 invalid_request_error; a stopped server is
// removed with DELETE servers/{id} (204, its volumes stay) and DELETE
// volumes/{id}). GET servers/{id} reads one server.
// A create with no capacity left in the zone answers 412
// {"type":"out_of_stock"} (the adapter's reading, UNCONFIRMED).
//
// Faults (keys "products", "availability", "create", "user_data", "action",
// "list", "get", "delete", "delete_volume"): NoCapacity, Throttle (429 + Retry-After), ServerError,
// Slow, LoseAnswer, Garbled, GarbledError, AuthFailure.
//
// Thread-safe.

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "operator/clock/clock.h"
#include "operator/httpserver/http_server.h"
#include "tests/emulators/common/fault_plan.h"
#include "tests/emulators/common/machine_table_emulator.h"

namespace gpupool::emulators {

struct ScwType {
  std::string commercial_type;  // "L40S-1-48G"
  std::string gpu_name;         // "L40S"; empty for CPU types
  int gpus = 0;
  double hourly_price = 0;              // EUR in reality; the tests treat it as the unit price
  std::map<std::string, int> capacity;  // zone -> servers (-1 unlimited)
};

struct ScwServer {
  std::string id;
  std::string zone;
  std::string name;
  std::string commercial_type;
  std::string project;
  std::string state;  // stopped, starting, running, stopping
  std::vector<std::string> tags;
  std::string cloud_init;
  Time created{};
  std::optional<Time> started;
  std::optional<Time> terminate_requested;
  std::string volume_id;  // the root volume
};

struct ScwEmulatorOptions {
  std::string secret_key = "scw-test-secret";
  const Clock* clock = nullptr;  // required
  std::vector<ScwType> types;
  Duration boot_time{60};
  Duration shutdown_time{30};
  int max_per_page = 100;
  uint16_t port = 0;
};

class ScwEmulator final : public MachineTableEmulator<ScwEmulatorOptions, ScwServer> {
 public:
  explicit ScwEmulator(ScwEmulatorOptions options);
  ~ScwEmulator();

  void set_capacity(const std::string& type, const std::string& zone, int n);
  std::vector<ScwServer> servers() const { return machines(); }
  // Ids of the volumes that still exist (attached or not).
  std::vector<std::string> volumes() const;

 private:
  void handle(const http::HttpRequest& req, http::ResponseWriter& w) override;
  Reply route(const std::string& op, const std::string& zone, const std::string& id,
              const http::HttpRequest& req);
  Reply create_locked(const std::string& zone, const std::string& body);
  Reply action_locked(const std::string& zone, const std::string& id, const std::string& body);
  Reply list_locked(const std::string& zone, const http::HttpRequest& req);
  void advance_locked() override;
  int used_locked(const std::string& type, const std::string& zone) const;
  bool has_room_locked(const std::string& type, const std::string& zone) const;
  std::string server_json_locked(const ScwServer& s) const;
  ScwServer* find_locked(const std::string& zone, const std::string& id);
  static Reply error(int status, const std::string& type, const std::string& message);
  // Scaleway's answers to the faults it words itself.
  static ProviderFaultReplies fault_replies(const std::string& op);

  std::vector<std::string> volumes_;
  int64_t next_ = 0;
};

}  // namespace gpupool::emulators
