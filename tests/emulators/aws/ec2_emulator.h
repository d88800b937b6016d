#pragma once
// A stateful local EC2 (Query API 2016-11-15) for tests, served over
// loopback HTTP by operator/httpserver. It verifies every request's SigV4
// header signature itself (access key, scope, X-Amz-Date skew, signature),
// keeps instances with a lifecycle driven by the injected Clock
// (pending -> running after boot_time; shutting-down -> terminated after
// shutdown_time), capacity per instance type, an instance limit, and the
// billing clock (per second, 60 s minimum). Answers use EC2's element names
// and error codes: RunInstances (ClientToken idempotency, including
// IdempotentParameterMismatch; TagSpecification; base64 UserData),
// DescribeInstances (filters tag:K, tag-key, instance-state-name,
// instance-type, client-token; InstanceId.N; MaxResults/NextToken),
// TerminateInstances, DescribeInstanceTypeOfferings, DescribeInstanceTypes
// (gpuInfo for the g6e family).
//
// Faults (FaultPlan, keyed by Action): NoCapacity (500
// InsufficientInstanceCapacity), Throttle (503 RequestLimitExceeded),
// ServerError (500 InternalError), Slow, LoseAnswer, Garbled (200 with a
// truncated body), GarbledError (502 HTML), AuthFailure (401).
//
// Thread-safe.

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "operator/clock/clock.h"
#include "operator/core/money.h"
#include "operator/httpserver/http_server.h"
#include "tests/emulators/common/emulator_base.h"
#include "tests/emulators/common/fault_plan.h"

namespace gpupool::emulators {

struct Ec2EmulatorOptions {
  std::string region = "us-east-1";
  std::string access_key_id = "AKIDEMULATOR";
  std::string secret_access_key = "emulator/secret/KEY";
  const Clock* clock = nullptr;  // required
  // Instance types that exist here and how many may be alive at once
  // (-1: unlimited). Types not listed do not exist in the region.
  std::map<std::string, int> capacity = {
      {"g6e.xlarge", -1}, {"g6e.2xlarge", -1}, {"g6e.12xlarge", -1}, {"g6e.48xlarge", -1}};
  int instance_limit = -1;  // alive instances in the account (-1: unlimited)
  Duration boot_time{30};
  Duration shutdown_time{10};
  Duration max_clock_skew{300};
  uint16_t port = 0;  // 0: ephemeral
};

struct EmulatedInstance {
  std::string id;
  std::string reservation_id;
  std::string type;
  std::string image_id;
  std::string state;  // pending, running, shutting-down, terminated
  Time launch_time{};
  std::optional<Time> terminate_time;
  std::string client_token;
  std::map<std::string, std::string> tags;
  std::string user_data;  // decoded
  std::string zone;
  std::string public_ip;
};

class Ec2Emulator {
 public:
  explicit Ec2Emulator(Ec2EmulatorOptions options);
  ~Ec2Emulator();

  // Starts listening on 127.0.0.1:<ephemeral>. Returns false on failure.
  bool start();
  void stop();
  std::string base_url() const;  // "http://127.0.0.1:PORT/"

  FaultPlan& faults() { return faults_; }
  void set_capacity(const std::string& type, int n);
  void set_instance_limit(int n);

  std::vector<EmulatedInstance> instances() const;  // every instance ever launched
  int alive(const std::string& type = "") const;    // not terminated / shutting down
  // Requests received for an action ("" = all), including rejected ones.
  int requests(const std::string& action = "") const;
  // Billed seconds so far for an instance (per second, 60 s minimum, from
  // launch to the termination request or now); -1 for an unknown id.
  int64_t billed_seconds(const std::string& id) const;

 private:
  void handle(const http::HttpRequest& req, http::ResponseWriter& w);

  using Reply = emulators::Reply;  // sent as XML whatever its content_type says
  Reply dispatch(const std::string& action,
                 const std::vector<std::pair<std::string, std::string>>& params);
  Reply run_instances(const std::vector<std::pair<std::string, std::string>>& params);
  Reply describe_instances(const std::vector<std::pair<std::string, std::string>>& params);
  Reply terminate_instances(const std::vector<std::pair<std::string, std::string>>& params);
  Reply describe_offerings(const std::vector<std::pair<std::string, std::string>>& params);
  Reply describe_types(const std::vector<std::pair<std::string, std::string>>& params);
  std::optional<Reply> check_signature(const http::HttpRequest& req);
  void advance_locked();
  std::string instance_xml_locked(const EmulatedInstance& in) const;
  Reply error(int status, const std::string& code, const std::string& message);
  // EC2's answers to the faults it words itself, for `action` with `params`.
  ProviderFaultReplies fault_replies(
      const std::string& action, const std::vector<std::pair<std::string, std::string>>& params);
  std::string next_request_id();

  Ec2EmulatorOptions options_;
  FaultPlan faults_;
  std::unique_ptr<http::HttpServer> server_;
  mutable std::mutex mu_;
  std::vector<EmulatedInstance> instances_;
  std::map<std::string, int> requests_;
  std::map<std::string, std::string> token_fingerprints_;  // ClientToken -> request fingerprint
  std::atomic<int64_t> counter_{0};
  int64_t next_instance_ = 0;
};

}  // namespace gpupool::emulators
