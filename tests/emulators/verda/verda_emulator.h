#pragma once
// A stateful local Verda (formerly DataCrunch) public API for tests, under
// /v1: POST /oauth2/token (client_credentials and refresh_token grants;
// access tokens expire after token_lifetime on the injected clock), GET
// /instance-types, GET /instance-availability, POST /scripts (startup
// script; id as plain text), POST /instances (id as plain text; capacity per
// type and location), GET /instances, PUT /instances {"id":[..],"action":
// "delete"}. Error bodies {"code","message"} with Verda's codes
// (unauthorized_request, invalid_request, not_found, server_error,
// service_unavailable). Instances go ordered -> provisioning -> running
// after boot_time; deleting -> gone (no longer listed) after shutdown_time.
//
// No capacity: Verda documents no capacity code; the emulator answers 400
// {"code":"invalid_request","message":"Not enough capacity ..."} (the
// adapter's assumption, see verda_provider.h).
//
// Faults (keys "token", "types", "availability", "script", "create",
// "list", "action"): NoCapacity, Throttle (429 + Retry-After), ServerError,
// Slow, LoseAnswer, Garbled, GarbledError, AuthFailure.
//
// SSH keys: GET /sshkeys ([{id,name,key}]), POST /sshkeys {name,key} (id as
// plain text); POST /instances refuses ssh_key_ids that do not exist (400).
// The account starts with one key, id kVerdaSeedKeyId (a UUID, as Verda ids are).
//
// Prices (price_per_hour, spot_price) are sent as decimal strings ("0.91"),
// as the real API does.
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

struct VerdaType {
  std::string name;             // "1L40S.20V"
  std::string gpu_description;  // "1x L40S 48GB"
  int gpus = 1;
  double price_per_hour = 0;
  std::map<std::string, int> capacity;  // location -> machines (-1 unlimited)
};

// The id of the SSH key the emulated account starts with.
inline constexpr const char* kVerdaSeedKeyId = "0b0c31d2-4d2b-4c1e-9f00-00000000a001";

struct VerdaInstance {
  std::string id;
  std::string type;
  std::string location;
  std::string hostname;
  std::string description;
  std::string status;  // ordered, provisioning, running, deleting
  std::string startup_script;
  std::string image;                  // POST /instances "image", as sent
  std::vector<std::string> ssh_keys;  // the public keys of its ssh_key_ids
  Time created{};
  std::optional<Time> delete_requested;
};

struct VerdaEmulatorOptions {
  std::string client_id = "verda-client";
  std::string client_secret = "verda-secret";
  const Clock* clock = nullptr;  // required
  std::vector<VerdaType> types;
  Duration boot_time{120};
  Duration shutdown_time{30};
  Duration token_lifetime{3600};
  uint16_t port = 0;
};

class VerdaEmulator final : public MachineTableEmulator<VerdaEmulatorOptions, VerdaInstance> {
 public:
  explicit VerdaEmulator(VerdaEmulatorOptions options);
  // "http://127.0.0.1:<port>/v1": the API's base, as configured in adapters.
  std::string base_url() const {
    const std::string root = EmulatorBase::base_url();
    return root.empty() ? root : root + "/v1";
  }
  ~VerdaEmulator();

  void set_capacity(const std::string& type, const std::string& location, int n);
  // Instances still listed (deleted ones vanish after shutdown_time).
  std::vector<VerdaInstance> instances() const { return machines(); }
  // Invalidates every access token issued so far (as an expiry would).
  void revoke_tokens();

 private:
  void handle(const http::HttpRequest& req, http::ResponseWriter& w) override;
  Reply route(const std::string& op, const http::HttpRequest& req);
  Reply token_locked(const std::string& body);
  Reply create_locked(const std::string& body);
  Reply action_locked(const std::string& body);
  bool authorized_locked(const http::HttpRequest& req) const;
  void advance_locked() override;
  int used_locked(const std::string& type, const std::string& location) const;
  std::string instance_json_locked(const VerdaInstance& in) const;
  static Reply error(int status, const std::string& code, const std::string& message);
  // Verda's answers to the faults it words itself.
  static ProviderFaultReplies fault_replies();

  std::map<std::string, std::string> scripts_;   // id -> script
  std::map<std::string, std::string> ssh_keys_;  // id -> public key (the seed key exists)
  std::map<std::string, Time> tokens_;           // access token -> expiry
  std::map<std::string, bool> refresh_tokens_;
  int64_t next_ = 0;
};

}  // namespace gpupool::emulators
