#pragma once
// SSH keys: GET /v2/account/keys ({"ssh_keys":[{id,fingerprint,public_key,
// name}],"links","meta"}), POST /v2/account/keys {name, public_key} (201
// {"ssh_key":{...}}; 422 when the key is already on the account); POST
// /v2/droplets refuses ssh_keys entries (id or fingerprint) that do not
// exist (422).
// A stateful local DigitalOcean API (v2) for tests: GET /v2/sizes (a size's
// `regions` lists only regions with capacity left), POST /v2/droplets (202
// with the droplet and its create action; 422 unprocessable_entity when the
// size is sold out in the region), GET /v2/droplets (tag_name filter,
// page/per_page pagination with links.pages.next), DELETE
// /v2/droplets/{id} (204; the droplet is gone at once; 404 not_found
// after). Error bodies {"id","message","request_id"}; Bearer auth (401
// "Unauthorized"); every answer carries ratelimit-limit, ratelimit-remaining
// and ratelimit-reset (epoch seconds). Droplets go new -> active after
// boot_time.
//
// Faults (keys "sizes", "create", "list", "delete"): NoCapacity (422),
// Throttle (429 with ratelimit-remaining 0 and ratelimit-reset = now +
// retry_after, no Retry-After header: DigitalOcean documents only the
// ratelimit-* headers), ServerError, Slow, LoseAnswer, Garbled,
// GarbledError, AuthFailure.
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

struct DoSize {
  std::string slug;       // "gpu-l40sx1-48gb"
  std::string gpu_model;  // "nvidia_l40s"; empty for CPU sizes
  int gpus = 0;
  double price_hourly = 0;
  std::map<std::string, int> capacity;  // region -> droplets (-1 unlimited)
};

struct DoDroplet {
  int64_t id = 0;
  std::string name;
  std::string size;
  std::string region;
  std::string status;  // new, active
  std::string image;   // POST /v2/droplets "image": a slug, or an id's digits
  std::vector<std::string> tags;
  std::string user_data;
  std::vector<std::string> ssh_keys;  // public keys of its ssh_keys entries
  Time created{};
};

struct DoEmulatorOptions {
  std::string token = "do-test-token";
  const Clock* clock = nullptr;  // required
  std::vector<DoSize> sizes;
  Duration boot_time{90};
  int max_per_page = 200;
  uint16_t port = 0;
};

class DoEmulator final : public MachineTableEmulator<DoEmulatorOptions, DoDroplet> {
 public:
  explicit DoEmulator(DoEmulatorOptions options);
  ~DoEmulator();

  void set_capacity(const std::string& size, const std::string& region, int n);
  std::vector<DoDroplet> droplets() const { return machines(); }
  // Adds a key to the account as a user would in the console: {id, fingerprint}.
  std::pair<int64_t, std::string> add_ssh_key(const std::string& public_key,
                                              const std::string& name);

 private:
  void handle(const http::HttpRequest& req, http::ResponseWriter& w) override;
  Reply route(const std::string& op, const http::HttpRequest& req);
  Reply create_locked(const std::string& body);
  Reply list_locked(const http::HttpRequest& req);
  void advance_locked() override;
  struct Key;
  const Key& add_key_locked(const std::string& public_key, const std::string& name);
  int used_locked(const std::string& size, const std::string& region) const;
  std::string droplet_json_locked(const DoDroplet& d) const;
  static Reply error(int status, const std::string& id, const std::string& message);
  // DigitalOcean's answers to the faults it words itself; `now` in epoch seconds.
  static ProviderFaultReplies fault_replies(const std::string& op, int64_t now);

  struct Key {
    int64_t id = 0;
    std::string fingerprint;
    std::string public_key;
    std::string name;
  };
  std::vector<Key> keys_;
  int64_t next_id_ = 3164444;
  int64_t next_action_ = 7001;
};

}  // namespace gpupool::emulators
