#pragma once
// Endpoint mode (issue 13): in-cluster clients reach a pool's inference
// servers through a Service name. For each GpuPool with
// spec.usage.mode Endpoint, the EndpointSliceReconciler keeps, in the pool's
// namespace:
//   * a selectorless Service named spec.usage.endpoint.serviceName, or
//     after the pool (endpoint_service_name),
//     one port "http" (TCP) = spec.usage.endpoint.port;
//   * EndpointSlices (discovery.k8s.io/v1) for that Service, labelled
//     kubernetes.io/service-name and endpointslice.kubernetes.io/managed-by
//     = gpupool.io, one endpoint per GpuInstance whose status has an address
//     and a port and that is Ready or ending (a Running machine whose health
//     check has not passed, or failed since, is not listed). Instances are grouped by address type
//     (IPv4, IPv6, FQDN, from the address's form) and by port, as the EndpointSlice controller
//     does; a group of more than 100 endpoints is split into slices of 100.
//     conditions: ready = serving = (phase Ready and not ending);
//     terminating = parked, Failed, being deleted or Terminating. targetRef
//     names the GpuInstance; nodeName is never set. Terminated instances
//     are not listed.
// Every object carries the labels gpupool.io/pool and gpupool.io/pool-uid
// and a controller ownerReference to the pool, so it goes with the pool; an
// object is "ours" only with that ownerReference (anything else, even with
// our labels, is never changed or deleted). Names are deterministic:
// "<service>-<ipv4|ipv6|fqdn>-<port>-<n>".
//
// Writes happen only when the stored object differs from the desired one in
// a field this controller sets (labels, ownerReferences, ports, addressType,
// endpoints); fields the API server defaults (clusterIP, ...) are kept. A
// pool at rest costs no writes. A pool that leaves Endpoint mode (or
// changes its Service) has the objects it no longer needs deleted.
//
// Errors: an address that is none of IPv4, IPv6 or a DNS name leaves that
// instance out (Warning Event InvalidEndpointAddress); a Service name that
// is not a DNS-1035 label is a terminal error (Warning Event); a Service of
// that name that is not ours is never taken over: no slice is written
// (Warning Event ServiceNameTaken, retried every minute). API errors make the
// reconcile fail so the controller backs off.
//
// Callers: the manager runs reconcile() on pool keys ("namespace/name") and
// enqueues a pool when it, one of its GpuInstances, or one of our Services or
// EndpointSlices changes. Context::services and Context::endpoint_slices
// must be set (stores indexed by kIndexOwnerUid); reconcile() fails
// terminally without them.
//
// Ending machines: the instance reconciler calls unlisted_before_end() before
// it ends an Endpoint-mode machine, so no machine is ended while a slice still
// lists it ready.
//
// Thread-safety: reconcile() is safe for distinct keys concurrently.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "operator/base/thread_annotations.h"
#include "operator/controllers/context.h"
#include "operator/core/api_types.h"
#include "operator/kube/runtime/controller.h"

namespace gpupool::controllers {

inline constexpr const char* kLabelServiceName = "kubernetes.io/service-name";
inline constexpr const char* kLabelManagedBy = "endpointslice.kubernetes.io/managed-by";
inline constexpr const char* kManagedBy = "gpupool.io";
inline constexpr const char* kEndpointPortName = "http";
inline constexpr size_t kMaxEndpointsPerSlice = 100;
// Store index of Services and EndpointSlices by their owners' uids.
inline constexpr const char* kIndexOwnerUid = "owner-uid";
// How long ending a machine waits for its slices to stop listing it ready
// before it is ended anyway (a stuck endpoints controller must not keep a
// machine, and its bill, alive).
inline constexpr Duration kUnlistTimeout{30};

enum class AddressType { IPv4, IPv6, FQDN };
std::string_view to_string(AddressType t);  // "IPv4", "IPv6", "FQDN"

struct EndpointAddress {
  AddressType type = AddressType::IPv4;
  std::string value;  // canonical form (IPv6 compressed, host names lower case)
};
// Pure: the kind and canonical form of an instance's status.address;
// nullopt when it is none of IPv4, IPv6 or a DNS-1123 subdomain.
std::optional<EndpointAddress> parse_endpoint_address(std::string_view address);

// The Service of an Endpoint pool: spec.usage.endpoint.serviceName, or the
// pool's name.
std::string endpoint_service_name(const api::GpuPool& pool);

struct EndpointObjects {
  kube::Json service;
  std::vector<kube::Json> slices;  // ordered by name
  // "<instance>: <why>" for instances left out (address unusable).
  std::vector<std::string> skipped;
};
// Pure: the Service and slices that should exist for `pool` (Endpoint mode,
// metadata.uid set) and its instances (any order).
EndpointObjects desired_endpoint_objects(const api::GpuPool& pool,
                                         const std::vector<api::GpuInstance>& instances);

class EndpointSliceReconciler {
 public:
  explicit EndpointSliceReconciler(Context& ctx) : ctx_(ctx) {}
  kube::ReconcileResult reconcile(const kube::ReconcileRequest& req);

 private:
  // A Warning Event when a pool's left-out instances change (not on every
  // reconcile: a pool at rest writes nothing).
  void report_skipped(const std::string& key, const std::vector<std::string>& skipped,
                      const kube::Json& pool) EXCLUDES(mu_);

  Context& ctx_;
  Mutex mu_;
  std::map<std::string, std::string> reported_ GUARDED_BY(mu_);  // pool key -> last message
};

struct UnlistStep {
  // Proceed: end the machine now. Otherwise requeue after `*wait`.
  std::optional<kube::Millis> wait;
  std::optional<kube::ApiError> error;
  bool proceed() const { return !wait && !error; }
};
// One step of the instance reconciler's deletion path, before terminate():
// an Endpoint-mode instance that a slice of its pool still lists ready (read
// live from the API, never from a cache) waits until the endpoints
// controller has marked it terminating, at most kUnlistTimeout after its
// deletion began (then a Warning Event EndpointStillReady, Proceed). Other
// modes, or once terminate() was called (status.endedAt): Proceed.
// REQUIRES: `inst` is being deleted.
UnlistStep unlisted_before_end(Context& ctx, const api::GpuInstance& inst, const kube::Json& obj,
                               Time now);

}  // namespace gpupool::controllers
