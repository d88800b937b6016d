#pragma once
// A stateful local Runpod for tests, written from the REST v2 description
// (runpod-v2-openapi.json): pods (GET/POST /v2/pods, DELETE /v2/pods/{id})
// with RFC 9457 problem+json errors, Bearer-key auth (401), 429 with
// Retry-After, PROVISIONING -> RUNNING lifecycle on the injected Clock,
// per-second billing; and the GPU catalog (listGpuTypes, GET
// /v2/catalog/gpus).
//
// Data centers. Each GPU type runs in the data centers it lists (real-shaped
// ids: "US-TX-3", "EU-RO-1"), with its capacity per cloud in each of them. A
// createPod goes to the first of its dataCenterIds (in order) that runs the
// type and has room for gpu.count GPUs, or to the first such data center of
// the type when dataCenterIds is absent; none: 400 with the no-instances
// detail. A gpu.count above the type's maxCount is a 400 too.
//
// Catalog (listGpuTypes): the query parameters are the published ones (an
// unknown one is a 400); include=AVAILABILITY needs product and product is
// valid only with it (400 either way), as are count, cloud, countryCodes,
// cudaVersions and minCudaVersion; a malformed count, cloud, product,
// country code or CUDA version is a 422. Every GPU type is listed with
// price {secure, community} per GPU and maxCount; with AVAILABILITY also
// availability (NONE/LOW/MEDIUM/HIGH, for `count` GPUs in `cloud`, default
// SECURE) and dataCenters [{id, name, availability}]: every data center of
// the type (within countryCodes) when the type sells that count on that
// cloud, a full one with NONE; dataCenters is omitted when none does (the
// cloud does not sell the type, count > maxCount, or the machines' CUDA
// 12.8 is below minCudaVersion).
//
// createPod can answer 403 (forbidden) or a 400 whose detail says nothing
// about capacity (refused) per GPU type.
//
// Ports (createPod's ContainerConfig.ports, "formatted as port/protocol"):
// every item must read "<1..65535>/<http|tcp>" or the create is a 422. A
// RUNNING pod reports runtime.ports (PodRuntimePort): each "/tcp" port is
// mapped to a public port on the pod's public IP (the mapping ssh.direct
// reads for 22/tcp); an "/http" port is served through Runpod's HTTP proxy
// and has no direct mapping (public and ip null). A pod keeps and returns
// its image, args, ports and env as sent.
//
// Faults (FaultPlan keys: "prices" (the catalog), "list", "create",
// "delete"): NoCapacity (400 "There are no longer any instances
// available..."), Throttle (429, Retry-After), ServerError (500), Slow,
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

struct RunpodGpuType {
  std::string id;            // "NVIDIA L40S"
  std::string display_name;  // "L40S"
  int memory_gb = 48;
  Money secure_price;        // per GPU per hour; zero: not on secure cloud
  Money community_price;     // zero: not on community cloud
  int secure_capacity = -1;  // GPUs in each of its data centers (-1 unlimited)
  int community_capacity = -1;
  // createPod answers for this type: 403 ForbiddenError (the key is valid
  // but may not use it) or 400 BadRequestError with the published example
  // detail ("request could not be processed").
  bool forbidden = false;
  bool refused = false;
  int max_count = 8;  // maxCount (both clouds): the GPUs of its largest machine
  std::vector<std::string> data_centers = {"US-TX-3"};  // where it runs
};

struct RunpodPod {
  std::string id;
  std::string name;
  std::string gpu_id;
  int gpu_count = 1;
  std::string cloud;
  std::string status;  // PROVISIONING, RUNNING, TERMINATED
  std::string image;
  std::string args;                // createPod "args", as sent
  int disk = 50;                   // createPod "disk": container disk in GB (spec default 50)
  std::vector<std::string> ports;  // createPod "ports", as sent ("8000/tcp")
  std::map<std::string, std::string> env;
  Money cost_per_hour;
  Time created{};
  std::optional<Time> terminated;
  std::string data_center;       // where create placed it (see above)
  std::string min_cuda_version;  // createPod gpu.minCudaVersion, as sent
  std::string public_ip;         // the host's public IP, set at create
};

struct RunpodEmulatorOptions {
  std::string api_key = "rp-test-key";
  const Clock* clock = nullptr;  // required
  std::vector<RunpodGpuType> gpu_types;
  Duration boot_time{40};
  uint16_t port = 0;  // 0: ephemeral
};

class RunpodEmulator final : public MachineTableEmulator<RunpodEmulatorOptions, RunpodPod> {
 public:
  explicit RunpodEmulator(RunpodEmulatorOptions options);
  ~RunpodEmulator();

  // The GPUs of a type free in each of its data centers on `cloud`.
  void set_capacity(const std::string& gpu_id, const std::string& cloud, int gpus);

  std::vector<RunpodPod> pods() const { return machines(); }  // every pod ever created
  int alive() const;
  int64_t billed_seconds(const std::string& id) const;
  // The public port a RUNNING pod's "<private>/tcp" port is mapped to (what
  // runtime.ports reports), 0 when it has none.
  static int public_port_of(const RunpodPod& pod, int private_port);

 private:
  void handle(const http::HttpRequest& req, http::ResponseWriter& w) override;
  Reply route(const std::string& op, const http::HttpRequest& req);
  Reply catalog_locked(const http::HttpRequest& req) const;
  Reply create_locked(const std::string& body);
  void advance_locked() override;
  std::string pod_json_locked(const RunpodPod& p) const;
  static Reply problem(int status, const std::string& title, const std::string& detail);
  // Runpod's answers to the faults it words itself.
  static ProviderFaultReplies fault_replies(const std::string& op);

  int64_t next_ = 0;
};

}  // namespace gpupool::emulators
