#pragma once
// A stateful local Vast.ai for tests: asks (one machine each) searchable with
// POST /api/v0/bundles/ operator filters (eq, neq, gt, gte, lt, lte, in,
// notin), rented with PUT /api/v0/asks/{id}/ (a rented or unknown ask is
// 410 / 404 no_such_ask), instances listed with GET /api/v1/instances/
// (select_filters on label / id, keyset pages of at most 25), destroyed
// with DELETE /api/v0/instances/{id}/ (the ask becomes rentable again).
// "order" must be a list of [field, "asc"|"desc"] pairs (searchOffers) or the
// search is refused (400 invalid_args); offers are sorted by it. Offers carry
// geolocation as Vast.ai writes it ("Texas, US"). Bearer key auth: a bad key
// is 404 "Invalid user key" on search (as published) and 401 elsewhere; 429
// answers are plain text without Retry-After,
// like the real API. Lifecycle on the injected Clock: actual_status null ->
// "loading" -> "running" after boot_time; per-second billing.
//
// createInstance's env is "Docker flag format" (the published example:
// "-e HF_TOKEN=hf_xxx -e MODEL_ID=... -p 8000:8000"): words split on spaces
// outside quotes, "-e K=V" (quotes around V stripped) and "-p H:C"; any
// other word, a quote left open, or a bad mapping is a 400 invalid_args. The
// instance reports them back as extra_env pairs ([K, V] and ["-p H:C",
// "1"], the published example's shape). runtype must be one of the
// published values; args (runtype "args") are kept and reported as
// image_args. A running instance reports public_ipaddr and ports
// {"C/tcp": [{"HostIp": "0.0.0.0", "HostPort": "<string>"}]} for each -p,
// host ports taken from the machine's direct port range.
//
// SSH keys are attached after the rent with POST /api/v0/instances/{id}/ssh/
// {"ssh_key": "..."} (attachSshKey; the create body has no key field).
//
// Faults (keys "search", "create", "list", "destroy", "ssh"): NoCapacity (410
// no_such_ask), Throttle (429 plain text), ServerError (500), Slow,
// LoseAnswer, Garbled, GarbledError (502 HTML), AuthFailure (401).
//
// Thread-safe.

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "operator/clock/clock.h"
#include "operator/core/money.h"
#include "operator/httpserver/http_server.h"
#include "tests/emulators/common/fault_plan.h"
#include "tests/emulators/common/machine_table_emulator.h"

namespace gpupool::emulators {

struct VastAsk {
  int64_t id = 0;
  std::string gpu_name;  // "L40S"
  int num_gpus = 1;
  Money dph_total;
  Money inet_up_cost;
  std::string geolocation = "Texas, US";  // "<region>, <country code>", as Vast.ai sends it
  double reliability = 0.99;
  bool verified = true;
};

struct VastInstance {
  int64_t id = 0;
  int64_t ask_id = 0;
  std::string label;
  std::string image;
  std::string env;  // as sent
  std::string onstart;
  std::string runtype;
  double disk = 0;  // createInstance "disk": local disk partition in GB, as sent
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> extra_env;  // env, as parsed
  std::map<int, int> ports;           // container port -> host port, from -p
  std::vector<std::string> ssh_keys;  // attached with POST /api/v0/instances/{id}/ssh/
  Time created{};
  std::optional<Time> destroyed;
};

struct VastEmulatorOptions {
  std::string api_key = "vast-test-key";
  const Clock* clock = nullptr;  // required
  std::vector<VastAsk> asks;
  Duration boot_time{60};
  uint16_t port = 0;  // 0: ephemeral
};

class VastEmulator final : public MachineTableEmulator<VastEmulatorOptions, VastInstance> {
 public:
  explicit VastEmulator(VastEmulatorOptions options);
  ~VastEmulator();

  std::vector<VastInstance> instances() const { return machines(); }  // every rental ever made
  int alive() const;
  int64_t billed_seconds(int64_t id) const;
  // The public IP a running instance reports.
  static std::string public_ip_of(const VastInstance& in);

 private:
  void handle(const http::HttpRequest& req, http::ResponseWriter& w) override;
  // Vast.ai's answers to the faults it words itself.
  static ProviderFaultReplies fault_replies();
  Reply route(const std::string& op, const http::HttpRequest& req);
  Reply search_locked(const std::string& body) const;
  Reply rent_locked(int64_t ask_id, const std::string& body);
  Reply list_locked(const http::HttpRequest& req) const;
  Reply destroy_locked(int64_t id);
  Reply attach_key_locked(int64_t id, const std::string& body);
  bool rented_locked(int64_t ask_id) const;
  std::string instance_json_locked(const VastInstance& in) const;

  int64_t next_ = 0;
};

}  // namespace gpupool::emulators
