#pragma once
// A stateful local Lambda Cloud API for tests: GET /api/v1/instance-types
// (regions listed only while they have capacity), POST
// /api/v1/instance-operations/launch (tags, exactly one SSH key, capacity
// per type and region), GET /api/v1/instances, POST
// /api/v1/instance-operations/terminate; {"error":{code,message,suggestion}}
// bodies; Bearer auth (401 global/invalid-api-key); booting -> active after
// boot_time, terminating -> terminated after shutdown_time (kept listed).
//
// Launch checks the SSH key name against the account's keys (an unknown one
// is 404 global/object-does-not-exist, as the real API answers) and enforces
// the published launch limit: a launch less than launch_interval (12 s) after
// the previous one, on the injected clock, is 429 global/too-many-requests.
//
// Faults (keys "types", "launch", "list", "terminate"): NoCapacity (400
// insufficient-capacity), Throttle (429 + Retry-After), ServerError (500),
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

struct LambdaType {
  std::string name;             // "gpu_1x_l40s"
  std::string gpu_description;  // "L40S (48 GB PCIe)"
  int gpus = 1;
  int64_t price_cents_per_hour = 0;
  std::map<std::string, int> capacity;  // region -> machines (-1 unlimited)
};

struct LambdaInstance {
  std::string id;
  std::string name;
  std::string type;
  std::string region;
  std::string status;  // booting, active, terminating, terminated
  std::vector<std::pair<std::string, std::string>> tags;
  std::string user_data;
  Time created{};
  std::optional<Time> terminate_requested;
};

struct LambdaEmulatorOptions {
  std::string api_key = "lambda-test-key";
  const Clock* clock = nullptr;  // required
  std::vector<LambdaType> types;
  Duration boot_time{120};
  Duration shutdown_time{30};
  std::vector<std::string> ssh_key_names = {"operator"};  // the account's SSH keys
  Duration launch_interval{12};                           // "one request per 12 seconds" on launch
  uint16_t port = 0;
};

class LambdaEmulator final : public MachineTableEmulator<LambdaEmulatorOptions, LambdaInstance> {
 public:
  explicit LambdaEmulator(LambdaEmulatorOptions options);
  ~LambdaEmulator();

  void set_capacity(const std::string& type, const std::string& region, int n);
  std::vector<LambdaInstance> instances() const { return machines(); }

 private:
  void handle(const http::HttpRequest& req, http::ResponseWriter& w) override;
  Reply route(const std::string& op, const http::HttpRequest& req);
  Reply launch_locked(const std::string& body);
  Reply terminate_locked(const std::string& body);
  void advance_locked() override;
  int used_locked(const std::string& type, const std::string& region) const;
  std::string instance_json_locked(const LambdaInstance& in) const;
  static Reply error(int status, const std::string& code, const std::string& message);
  // Lambda's answers to the faults it words itself.
  static ProviderFaultReplies fault_replies();

  std::optional<Time> last_launch_;
  int64_t next_ = 0;
};

}  // namespace gpupool::emulators
