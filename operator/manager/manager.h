#pragma once
// The operator process minus main(): informers for GpuPools, GpuInstances
// (one namespace or all), GpuProviders, and the Services and EndpointSlices
// of Endpoint-mode pools (endpoint_slices.h), the reconcilers on
// controllers with worker threads (pools, instances, providers, endpoints), the periodic garbage
// collector, optional leader election, and a health server.
//
// Health server (options.health_addr, "host:port"; empty: none), on
// civetweb (health_server.h):
//   GET /healthz  200 "ok" while the manager runs;
//   GET /readyz   200 once every informer has synced and (with leader
//                 election) this replica leads; 503 with the reason before;
//
// Metrics (every family of metrics/README.md, built by metrics::Metrics):
//   options.metrics_addr set and different from health_addr: GET /metrics is
//     served by prometheus-cpp's Exposer (civetweb) on that address, and the
//     health server has no /metrics;
//   options.metrics_addr empty or equal to health_addr: one port cannot hold
//     two servers, so the health server also answers GET /metrics, with the
//     text prometheus-cpp's TextSerializer makes of the same registry.
// The provider adapters report their calls to the registry's observer.
//
// Leader election (options.leader_elect; timings lease_duration >
// renew_deadline > 1.2 * retry_period, checked by start()): controllers start
// once leadership is acquired and the caches have synced (waited for on a
// thread of its own, so the elector keeps renewing during a long sync). Every write the
// controllers, the garbage collector and the event recorder make goes through a LeaderFencedApi
// (leader_fence.h): once this replica cannot prove it holds the lease (no
// successful renewal attempt started within renew_deadline, e.g. after a
// SIGSTOP or an API outage) writes are refused without being sent. When the
// elector gives up, lost_leadership() turns true and the process should exit
// (run_cmd does, with code 1) so a fresh one campaigns again, as
// controller-runtime does.
//
// Health checks of Endpoint-mode machines run on a pool of
// options.health_check_workers threads (controllers::ProbePool), never on a
// reconcile worker; a finished probe enqueues its instance. stop() waits for
// a probe in flight at most its timeout (and 2 s at most).
//
// Thread-safety: start()/stop() from the owning thread; the rest from any.

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "operator/base/result.h"
#include "operator/clock/clock.h"
#include "operator/kube/api/api.h"
#include "operator/manager/log.h"
#include "providers/factory/adapter_table.h"

namespace gpupool::manager {

struct ManagerOptions {
  std::string namespace_;  // "" = all namespaces
  bool leader_elect = false;
  std::string lease_namespace = "default";
  std::string lease_name = "gpupool-operator";
  std::string identity;         // leader election identity; empty: generated
  Duration lease_duration{15};  // see kube::LeaderElectionConfig
  Duration renew_deadline{10};
  Duration retry_period{2};
  std::string health_addr;            // "127.0.0.1:8081"; empty: no health server
  std::string metrics_addr;           // "127.0.0.1:8080"; empty: /metrics on the health server
  std::string version = "0.0.0-dev";  // gpupool_build_info labels
  std::string revision = "unknown";
  int workers = 4;
  // Threads that run Endpoint-mode HTTP health checks, off the reconcile
  // workers (controllers::ProbePool): 1..64.
  int health_check_workers = 4;
  // Provider calls in flight per GpuProvider, over all controllers
  // (controllers::ProviderSlots); <= 0: unlimited. run passes
  // --provider-concurrency, by default controllers::default_provider_concurrency(workers).
  int provider_concurrency = 1;
  Duration gc_period{15};
  Duration spend_status_period{300};  // see controllers::Context
  // Prometheus for autoscaling signals (metrics without prometheusUrl);
  // empty: such metrics fail and their pools hold their count.
  std::string prometheus_url;
  std::chrono::milliseconds prometheus_timeout{5'000};
  Duration scaling_period{15};  // see controllers::Context
  // The provider adapters the registry can build (main's table); empty:
  // "fake" providers only.
  factory::AdapterTable adapters;
};

struct ManagerError {
  std::string message;
};

class Manager {
 public:
  Manager(kube::KubeApi& api, const Clock& clock, Logger& log, ManagerOptions options);
  ~Manager();
  Manager(const Manager&) = delete;
  Manager& operator=(const Manager&) = delete;

  // Starts servers, informers and (directly or on leadership) controllers.
  Status<ManagerError> start();
  // Stops everything; idempotent.
  void stop();

  bool ready() const;
  bool lost_leadership() const { return lost_leadership_.load(); }
  // Whether the controllers' writes go through now: true without leader
  // election, else the elector's holds_lease().
  bool may_write() const;
  // Real-time wait until lost_leadership() or stop(); used by run.
  void wait_lost_leadership(std::chrono::milliseconds timeout);
  uint16_t health_port() const;
  // Port /metrics is served on (the Exposer's, or the health server's); 0: none.
  uint16_t metrics_port() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  std::atomic<bool> lost_leadership_{false};
};

}  // namespace gpupool::manager
