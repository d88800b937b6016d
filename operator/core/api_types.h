#pragma once
// The three resources of API group gpupool.io, version v1alpha1, as plain
// value types: GpuPool (namespaced; what the user wants), GpuInstance
// (namespaced, owned by its pool; one machine) and GpuProvider
// (cluster-scoped; one provider account).
//
// Pure data, no behaviour. The wire mapping (camelCase JSON/YAML) lives in
// api_codec.h, defaults and validation in api_validation.h. Field comments
// give the wire name in [brackets] where it is not the obvious camelCase of
// the C++ name, and the default that apply_defaults() fills in.
//
// Conventions:
//  - Money is exact and travels as a decimal string ("1.27").
//  - Time is whole UTC seconds and travels as RFC 3339 ("2026-11-22T02:10:42Z").
//  - std::optional marks fields whose absence means something ("no cap",
//    "not yet known"); the encoder omits them when unset. Plain fields always
//    have a value (their documented default when the document omitted them).
//  - Closed vocabularies defined by this API are C++ enums (string forms in
//    api_codec.h); names that belong to other systems (GPU model, provider
//    adapter type, region) are strings, validated where a fixed list exists.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "operator/clock/clock.h"
#include "operator/core/money.h"
#include "operator/core/offer.h"

namespace gpupool::api {

inline constexpr const char* kGroup = "gpupool.io";
inline constexpr const char* kVersion = "v1alpha1";
inline constexpr const char* kApiVersion = "gpupool.io/v1alpha1";
inline constexpr const char* kGpuPoolKind = "GpuPool";
inline constexpr const char* kGpuInstanceKind = "GpuInstance";
inline constexpr const char* kGpuProviderKind = "GpuProvider";

// ---------------------------------------------------------------------------
// Shared Kubernetes shapes

struct OwnerReference {
  std::string api_version;  // [apiVersion]
  std::string kind;
  std::string name;
  std::string uid;
  bool controller = false;
  bool block_owner_deletion = false;  // [blockOwnerDeletion]

  bool operator==(const OwnerReference&) const = default;
};

struct ObjectMeta {
  std::string name;
  std::string namespace_;        // [namespace]; empty for cluster-scoped objects
  std::string uid;               // set by the API server
  std::string resource_version;  // [resourceVersion]; set by the API server
  int64_t generation = 0;        // set by the API server; bumps on spec changes
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  std::vector<OwnerReference> owner_references;  // [ownerReferences]
  std::vector<std::string> finalizers;
  std::optional<Time> creation_timestamp;  // [creationTimestamp]
  std::optional<Time> deletion_timestamp;  // [deletionTimestamp]

  bool operator==(const ObjectMeta&) const = default;
};

enum class ConditionStatus { True, False, Unknown };

// The standard metav1.Condition shape.
struct Condition {
  std::string type;  // CamelCase, e.g. "Ready", "BudgetExceeded", "Healthy"
  ConditionStatus status = ConditionStatus::Unknown;
  std::string reason;  // CamelCase machine-readable cause
  std::string message;
  Time last_transition_time{};      // [lastTransitionTime]
  int64_t observed_generation = 0;  // [observedGeneration]

  bool operator==(const Condition&) const = default;
};

// Wire form of BillingRule (operator/core/offer.h):
//   minimumSeconds, incrementSeconds, alignment ("Launch"|"WallClock"),
//   minimumKind ("Charge"|"Deposit"), egressPerGb (Money string).

// ---------------------------------------------------------------------------
// GpuPool

struct GpuModelSpec {
  std::string name;  // "L40S", "L40", or any other canonical model name
  // Relative throughput of one GPU of this model (the reference model is 1.0):
  // an L40 at 0.8 means an L40 offer is compared as if it bought 0.8 of an
  // L40S. [throughputWeight] Default 1.0; must be > 0.
  double throughput_weight = 1.0;

  bool operator==(const GpuModelSpec&) const = default;
};

struct GpuSpec {
  std::vector<GpuModelSpec> models;  // accepted models; at least one
  int count = 1;                     // GPUs per machine; default 1; >= 1

  bool operator==(const GpuSpec&) const = default;
};

struct ReplicasSpec {
  // Fixed desired machine count when autoscaling is off; the scale
  // subresource's specReplicasPath (.spec.replicas.count). Default: min.
  std::optional<int> count;
  int min = 0;             // default 0
  std::optional<int> max;  // default: max(min, count)

  bool operator==(const ReplicasSpec&) const = default;
};

struct PoolProviderRef {
  std::string name;  // a GpuProvider object name
  // Price cap per GPU-hour for offers from this provider. [maxPricePerGpuHour]
  std::optional<Money> max_price_per_gpu_hour;
  std::vector<std::string> regions;  // empty: any region

  bool operator==(const PoolProviderRef&) const = default;
};

// Which reliability tiers a pool accepts.
enum class ReliabilityRequirement {
  Datacenter,  // only ReliabilityTier::Datacenter offers (default)
  Any,         // datacenter and community offers
};

struct SpotSpec {
  bool allowed = false;

  bool operator==(const SpotSpec&) const = default;
};

struct BudgetSpec {
  std::optional<Money> max_usd_per_hour;   // [maxUsdPerHour]; >= 0
  std::optional<Money> max_usd_per_month;  // [maxUsdPerMonth]; calendar month (UTC); >= 0

  bool operator==(const BudgetSpec&) const = default;
};

struct EgressSpec {
  double gb_per_gpu_hour = 0.0;  // [gbPerGpuHour]; expected egress; >= 0

  bool operator==(const EgressSpec&) const = default;
};

struct PlanningSpec {
  // How long new capacity is expected to live, for ranking offers by total
  // cost. Unset: the planner chooses. [expectedLifetimeHours]; > 0
  std::optional<double> expected_lifetime_hours;

  bool operator==(const PlanningSpec&) const = default;
};

struct LifecycleSpec {
  // End a parked machine this long before its next billing increment starts.
  // [parkMarginSeconds] Default 120; >= 0.
  int64_t park_margin_seconds = 120;
  // How long an untracked machine carrying this pool's tags is left alone
  // before it is ended as an orphan. [adoptionGraceSeconds] Default 600; >= 0.
  int64_t adoption_grace_seconds = 600;
  // A parked machine with fine-grained billing (increments no longer than
  // this: per second, per minute) is kept at least this long, so demand that
  // returns within minutes finds it warm (Karpenter's consolidateAfter).
  // Coarser billing keeps only the time already paid: an hourly machine is
  // kept to its hour's end, never into a new hour.
  // [minParkSeconds] Default 600; 0..86400.
  int64_t min_park_seconds = 600;
  // Consolidation (pool_decision.h rule 4c): this long before a serving
  // machine's next billing increment (per-second billing: before each hour
  // of its age ends, and as each UTC hour starts, for a bridge to a clock-hour
  // offer: docs/billing.md) the operator prices a replacement on the best offer over
  // the expected remaining need. When that is clearly cheaper than keeping
  // the machine, the replacement is bought and the old machine is parked as
  // soon as the new one serves; its paid window is not wasted (it ends just
  // before the increment, and can be un-parked until then). Long enough for
  // a replacement to boot. [consolidationLeadSeconds] Default 600; 0 turns
  // consolidation off; 0..3600.
  int64_t consolidation_lead_seconds = 600;

  bool operator==(const LifecycleSpec&) const = default;
};

// QueueDepth, RequestsPerSecond, GpuUtilization and External are read from
// Prometheus; PendingPods is counted by the operator from the API (Node mode).
enum class MetricType { QueueDepth, RequestsPerSecond, GpuUtilization, External, PendingPods };

struct MetricSpec {
  MetricType type = MetricType::QueueDepth;
  // Per-replica target value; > 0. For PendingPods: the GPUs one replica
  // takes (normally spec.gpu.count).
  double target = 0.0;
  // PromQL instant query; required for External; for the other Prometheus
  // types a documented default query on the pool's name (crds/README.md).
  std::optional<std::string> query;
  // Prometheus base URL for this metric; unset: the operator's
  // --prometheus-url. [prometheusUrl]; http:// or https://
  std::optional<std::string> prometheus_url;

  bool operator==(const MetricSpec&) const = default;
};

// Most replicas added (scale-up) or removed (scale-down) per period: the
// larger of `pods` and `percent` % of the count (HPA's behavior policies,
// selectPolicy Max).
struct ScalingLimitSpec {
  int pods = 4;
  int percent = 100;
  int64_t period_seconds = 60;  // [periodSeconds]; 1..3600

  bool operator==(const ScalingLimitSpec&) const = default;
};

// A window of minimum replicas: from each instant matching `start` until the
// next matching `end` (5-field cron, in `timeZone`), the pool keeps at least
// `minReplicas` (KEDA's cron scaler).
struct ScheduleSpec {
  std::string start;              // cron, e.g. "0 8 * * 1-5"
  std::string end;                // cron, e.g. "0 20 * * 1-5"
  std::string time_zone = "UTC";  // [timeZone]; IANA name
  int min_replicas = 0;           // [minReplicas]; >= 0

  bool operator==(const ScheduleSpec&) const = default;
};

struct AutoscalingSpec {
  bool enabled = false;
  std::vector<MetricSpec> metrics;                 // at least one when enabled
  int64_t scale_up_stabilization_seconds = 0;      // [scaleUpStabilizationSeconds]; >= 0
  int64_t scale_down_stabilization_seconds = 300;  // [scaleDownStabilizationSeconds]; >= 0
  double tolerance = 0.1;                          // 0..1; no change within this band
  ScalingLimitSpec scale_up{4, 100, 60};           // [scaleUp]
  ScalingLimitSpec scale_down{1, 10, 60};          // [scaleDown]
  std::vector<ScheduleSpec> schedules;             // minimum-replica windows

  bool operator==(const AutoscalingSpec&) const = default;
};

enum class UsageMode {
  Node,      // the machine joins the cluster as a Node (default)
  Endpoint,  // the machine runs one container and serves it
};

// One key of a Secret. Namespace unset: "default" for a GpuProvider's
// references (as for credentialsSecret); a pool's bootstrapSecretRef has no
// namespace (always the pool's own).
struct SecretKeyRef {
  std::string name;
  std::string namespace_;  // [namespace]
  std::string key;

  bool operator==(const SecretKeyRef&) const = default;
};

struct NodeUsage {
  // [bootstrapScript]; the bootstrap template (docs/bootstrap.md): cloud-init
  // or a shell script run at boot, rendered per instance. Set (or
  // bootstrapSecretRef), the machine is expected to join the cluster: it is
  // Ready only once its Node registers.
  std::string bootstrap_script;
  // [bootstrapSecretRef] {name, key}: the template in a Secret of the pool's
  // namespace instead (it carries join secrets). At most one of the two;
  // name empty: not set; namespace_ is never used.
  SecretKeyRef bootstrap_secret_ref;
  std::map<std::string, std::string> labels;
  std::vector<std::string> taints;  // "key=value:Effect" or "key:Effect"
  // How long a booted machine may take to register its Node before it is
  // ended and replaced. [registrationTimeoutSeconds] Default 900; 60..86400.
  int64_t registration_timeout_seconds = 900;
  // How long ending a machine waits for its Node's pods to be evicted
  // (PodDisruptionBudgets honoured) before the machine is ended anyway.
  // The pool starts ending it this much before the billing boundary.
  // [drainTimeoutSeconds] Default 300; 0..3600.
  int64_t drain_timeout_seconds = 300;

  bool operator==(const NodeUsage&) const = default;
};

// Where an environment variable's value comes from instead of `value`.
struct EnvVarSource {
  // [secretKeyRef] {name, key}: a key of a Secret in the pool's namespace
  // (namespace_ is never used). Read when the machine is bought; the value
  // goes to the provider only, never to a log, status, Event or message.
  SecretKeyRef secret_key_ref;

  bool operator==(const EnvVarSource&) const = default;
};

// Exactly one of value / valueFrom (value "" is a set, empty value).
struct EnvVar {
  std::string name;
  std::optional<std::string> value;
  std::optional<EnvVarSource> value_from;  // [valueFrom]

  bool operator==(const EnvVar&) const = default;
};

// The HTTP health check of an Endpoint-mode machine (docs/endpoint.md,
// operator/core/endpoint_health.h): GET http://address:port/healthPath.
struct HealthCheckSpec {
  int64_t period_seconds = 10;  // [periodSeconds] Default 10; 1..3600
  // [timeoutSeconds] Default 2; 1..60 and at most periodSeconds.
  int64_t timeout_seconds = 2;
  // [failureThreshold] Failures in a row that take a Ready machine out.
  // Default 3; 1..100.
  int failure_threshold = 3;
  // [successThreshold] 2xx answers in a row that make a machine Ready.
  // Default 1; 1..100.
  int success_threshold = 1;
  // [startupTimeoutSeconds] A machine never healthy this long after launch
  // is ended and replaced. Default 900; 60..86400.
  int64_t startup_timeout_seconds = 900;
  // [unhealthyTimeoutSeconds] A machine that served and has then failed its
  // health check (failureThreshold times in a row) for this long is ended
  // and replaced. Default 600; 0: never (it waits to recover); else
  // 60..86400.
  int64_t unhealthy_timeout_seconds = 600;

  bool operator==(const HealthCheckSpec&) const = default;
};

struct EndpointUsage {
  std::string image;  // required in Endpoint mode
  int port = 8000;    // default 8000; 1..65535
  std::vector<std::string> args;
  std::vector<EnvVar> env;
  std::string health_path = "/health";  // [healthPath]; default "/health"; starts with '/'
  HealthCheckSpec health_check;         // [healthCheck]
  // [serviceName] The Service in-cluster clients use (endpoint_slices.h);
  // empty: the pool's name. A DNS-1035 label: lower case letters, digits
  // and '-', starting with a letter, at most 63 characters.
  std::string service_name;
  // [diskGb] The container's disk in GB, 10..2048. Container providers
  // (Runpod, Vast.ai) size it; on VM providers the container runs on the
  // machine's own disk, which comes with the plan. Unset: the provider's
  // setting (docs/endpoint.md).
  std::optional<int> disk_gb;

  bool operator==(const EndpointUsage&) const = default;
};

struct UsageSpec {
  UsageMode mode = UsageMode::Node;
  NodeUsage node;          // used in Node mode
  EndpointUsage endpoint;  // used in Endpoint mode

  bool operator==(const UsageSpec&) const = default;
};

struct GpuPoolSpec {
  GpuSpec gpu;
  ReplicasSpec replicas;
  std::vector<PoolProviderRef> providers;  // preference order; at least one; unique names
  ReliabilityRequirement reliability = ReliabilityRequirement::Datacenter;
  SpotSpec spot;
  BudgetSpec budget;
  EgressSpec egress;
  PlanningSpec planning;
  LifecycleSpec lifecycle;
  AutoscalingSpec autoscaling;
  UsageSpec usage;

  bool operator==(const GpuPoolSpec&) const = default;
};

struct PoolReplicasStatus {
  int desired = 0;
  int provisioning = 0;
  int ready = 0;  // statusReplicasPath of the scale subresource
  int parked = 0;

  bool operator==(const PoolReplicasStatus&) const = default;
};

struct SpendStatus {
  Money accrued;                     // everything billed so far by live instances
  Money committed;                   // what ending every instance now would still cost
  Money hourly_burn;                 // [hourlyBurn]; current spend rate per hour
  Money month_to_date;               // [monthToDate]; spend in `month`
  Money projected_month;             // [projectedMonth]; month's total if nothing changes
  std::string month;                 // "2026-11" (UTC calendar month of month_to_date)
  std::optional<Time> last_updated;  // [lastUpdated]

  bool operator==(const SpendStatus&) const = default;
};

// One demand signal as last read.
struct MetricReading {
  MetricType type = MetricType::QueueDepth;
  std::optional<double> value;  // unset: no value (see error)
  std::string error;

  bool operator==(const MetricReading&) const = default;
};

// One point of the autoscaler's demand history: from `at` on, the signals
// recommended `recommended` machines while the pool had `current`.
struct ScalingSample {
  Time at{};
  int recommended = 0;
  int current = 0;

  bool operator==(const ScalingSample&) const = default;
};

struct AutoscalingStatus {
  int desired = 0;                                // [desiredReplicas] after every safeguard
  int recommended = 0;                            // [recommendedReplicas] what the signals ask
  std::string reason;                             // which signal won
  std::string clamped_by;                         // [clampedBy] which safeguard changed it, if any
  int schedule_min = 0;                           // [scheduleMinReplicas] from active schedules
  std::vector<MetricReading> metrics;             // last readings, in spec order
  std::optional<double> expected_lifetime_hours;  // [expectedLifetimeHours] estimate
  std::optional<Time> last_scale_time;            // [lastScaleTime]
  std::vector<ScalingSample> history;             // change points, oldest first, bounded

  bool operator==(const AutoscalingStatus&) const = default;
};

struct GpuPoolStatus {
  int64_t observed_generation = 0;  // [observedGeneration]
  PoolReplicasStatus replicas;
  std::optional<AutoscalingStatus> autoscaling;  // set while autoscaling is enabled
  std::vector<Condition> conditions;
  SpendStatus spend;
  // Final spend of instances whose GpuInstance objects were deleted, folded
  // into the pool so nothing is lost. [terminatedSpend]
  Money terminated_spend;
  std::string selector;  // label selector string for the scale subresource

  bool operator==(const GpuPoolStatus&) const = default;
};

struct GpuPool {
  ObjectMeta metadata;
  GpuPoolSpec spec;
  GpuPoolStatus status;

  bool operator==(const GpuPool&) const = default;
};

// ---------------------------------------------------------------------------
// GpuInstance

// The chosen offer, frozen into the instance intent. Mirrors gpupool::Offer
// (offer.h) minus the ranking-only fields.
struct OfferSpec {
  std::string provider;       // GpuProvider object name
  std::string provider_type;  // [providerType]; adapter type ("fluence", ...)
  std::string offer_id;       // [offerId]; provider's id for the shape
  std::string region;
  std::string gpu_model;  // [gpuModel]
  int gpu_count = 1;      // [gpuCount]
  Money price_per_hour;   // [pricePerHour]; whole machine
  BillingRule billing;
  ReliabilityTier tier = ReliabilityTier::Datacenter;
  bool spot = false;
  // [egressUsdPerHour]; the machine's expected egress cost per hour
  // (billing::egress_per_hour of the pool's spec.egress), frozen at creation
  // so its spend never changes when the pool's estimate does.
  Money egress_usd_per_hour;

  bool operator==(const OfferSpec&) const = default;
};

struct GpuInstanceSpec {
  std::string pool;  // owning GpuPool name (same namespace)
  OfferSpec offer;
  UsageSpec usage;  // copied from the pool at creation

  bool operator==(const GpuInstanceSpec&) const = default;
};

enum class InstancePhase {
  Pending,       // intent written, provider not yet called
  Provisioning,  // provider accepted the request; machine booting
  Running,       // machine up, not yet joined / healthy
  Ready,         // node joined or endpoint healthy
  Parked,        // scaled down; kept until just before its next billing increment
  Terminating,   // end requested at the provider
  Terminated,    // provider confirmed the machine is gone
  Failed,        // gave up; see message
};

// Where an Endpoint-mode machine's health check stands (endpoint_health.h).
struct EndpointHealthStatus {
  // [consecutiveSuccesses] 2xx answers in a row, at most successThreshold.
  int consecutive_successes = 0;
  // [consecutiveFailures] Failed probes in a row, at most failureThreshold.
  int consecutive_failures = 0;
  // [lastProbeTime] The last probe that changed the counts.
  std::optional<Time> last_probe_time;
  // [firstHealthyTime] When it first became healthy (the startup timeout no
  // longer applies).
  std::optional<Time> first_healthy_time;

  bool operator==(const EndpointHealthStatus&) const = default;
};

struct GpuInstanceStatus {
  InstancePhase phase = InstancePhase::Pending;
  std::string provider_id;               // [providerId]; provider's machine id
  std::string region;                    // actual region
  std::optional<Money> price_per_hour;   // [pricePerHour]; actual price
  std::optional<BillingRule> billing;    // actual billing rule
  std::optional<Time> launch_time;       // [launchTime]; billing starts here
  std::optional<Time> paid_through;      // [paidThrough]; end of the paid window
  std::optional<Time> parked_at;         // [parkedAt]
  std::optional<Time> ended_at;          // [endedAt]
  std::optional<Time> drain_started_at;  // [drainStartedAt]; Node mode, while ending
  std::string node_name;                 // [nodeName]; Node mode
  // [bootstrapTokenSecret]; Node mode: the kube-system Secret holding this
  // machine's bootstrap token while it may still register ("" once deleted).
  std::string bootstrap_token_secret;
  // Endpoint mode: where the container serves, as the provider reports it
  // (Machine::public_address / public_port). [address] IPv4, IPv6 or host
  // name; [port] 1..65535, 0 until known. [endpoint] is "http://address:port".
  std::string address;
  int port = 0;
  std::string endpoint;  // URL; Endpoint mode
  // Endpoint mode: the health check's counts (endpoint_health.h); unset until
  // the first probe.
  std::optional<EndpointHealthStatus> health;
  Money accrued;  // billed so far
  std::vector<Condition> conditions;
  // [reason] Why the machine is Failed, one CamelCase word (like a Pod's
  // status.reason): RegistrationTimeout, StartupTimeout, UnhealthyTimeout,
  // Vanished, CreateRefused, BootstrapUnsupported; empty otherwise.
  std::string reason;
  std::string message;
  int64_t observed_generation = 0;  // [observedGeneration]

  bool operator==(const GpuInstanceStatus&) const = default;
};

struct GpuInstance {
  ObjectMeta metadata;
  GpuInstanceSpec spec;
  GpuInstanceStatus status;

  bool operator==(const GpuInstance&) const = default;
};

// ---------------------------------------------------------------------------
// GpuProvider

// Adapter types the operator knows (GpuProviderSpec::type must be one).
inline constexpr const char* kProviderTypes[] = {
    "fluence",  "aws",          "runpod", "vastai",    "lambda", "verda",
    "scaleway", "digitalocean", "vultr",  "coreweave", "fake",
};

struct SecretRef {
  std::string name;
  std::string namespace_;  // [namespace]
  // Logical credential name -> key in the Secret (e.g. "apiKey" -> "token").
  // Empty: the adapter's default keys.
  std::map<std::string, std::string> keys;

  bool operator==(const SecretRef&) const = default;
};

struct PriceOverride {
  std::string gpu_model;              // [gpuModel]
  std::optional<std::string> region;  // unset: every region
  Money price_per_gpu_hour;           // [pricePerGpuHour]; >= 0

  bool operator==(const PriceOverride&) const = default;
};

struct ProviderQuota {
  std::optional<int> max_instances;  // [maxInstances]; >= 0
  std::optional<int> max_gpus;       // [maxGpus]; >= 0

  bool operator==(const ProviderQuota&) const = default;
};

// The SSH public key given to every machine whose intent carries none (any
// provider type that takes one: Fluence requires one; AWS and Lambda take
// the name of a key registered there instead, aws.keyName and
// lambda.sshKeyName). Exactly one of the two is set: the key
// itself (an OpenSSH public key line, not a secret) or a reference to a
// Secret key that holds it.
struct SshPublicKeySpec {
  std::string value;                           // "ssh-ed25519 AAAA... comment"
  std::optional<SecretKeyRef> secret_key_ref;  // [secretKeyRef]

  bool operator==(const SshPublicKeySpec&) const = default;
};

// Per-type settings: a block may be set only on a GpuProvider of its type
// (CEL and validate() refuse it elsewhere). Each replaces an annotation that
// earlier releases read (still read, with a DeprecatedAnnotation Event, when
// the typed field is unset).
struct AwsSettings {
  std::string image_id;                         // [imageId] AMI; required to create
  std::string subnet_id;                        // [subnetId]; empty: the default subnet
  std::vector<std::string> security_group_ids;  // [securityGroupIds]; empty: the VPC default
  std::string key_name;                         // [keyName] EC2 key pair name

  bool operator==(const AwsSettings&) const = default;
};
struct FluenceSettings {
  // [osImage] preferred OS image, used for plan options that list it
  // (others get their own CUDA image); empty: automatic.
  std::string os_image;

  bool operator==(const FluenceSettings&) const = default;
};
struct LambdaSettings {
  std::string ssh_key_name;  // [sshKeyName] a key registered at Lambda; required to create

  bool operator==(const LambdaSettings&) const = default;
};
struct ScalewaySettings {
  std::string project_id;  // [projectId] UUID; required to create

  bool operator==(const ScalewaySettings&) const = default;
};
struct VastaiSettings {
  // [image] Docker image a Node-mode instance runs (Endpoint pools run their
  // container's image); empty: Vast.ai's base image.
  std::string image;
  std::optional<int> disk_gb;         // [diskGb] 10..2048; unset: 64
  std::optional<bool> verified_only;  // [verifiedOnly] verified hosts only; unset: true

  bool operator==(const VastaiSettings&) const = default;
};
// Runpod (REST v2 createPod). Offers stay one per (GPU type, cloud); these
// shape the pod and narrow where and on what it may run.
struct RunpodSettings {
  // [image] Docker image a Node-mode pod runs (Endpoint pools run their
  // container's image); empty: runpod/pytorch (the adapter's default).
  std::string image;
  // [diskGb] container disk in GB, 10..2048; unset: 50. An Endpoint pool's
  // usage.endpoint.diskGb wins.
  std::optional<int> disk_gb;
  // [cloudType] "SECURE", "COMMUNITY" or "ALL" (Runpod's cloud types): the
  // clouds offers come from; empty: ALL.
  std::string cloud_type;
  // [dataCenterIds] createPod dataCenterIds ("US-TX-3"): the data centers a
  // pod may be placed in; empty: any (the scheduler chooses). <= 32, unique.
  std::vector<std::string> data_center_ids;
  // [minCudaVersion] gpu.minCudaVersion, "major.minor" ("12.4"): the lowest
  // CUDA version the host must have; empty: any.
  std::string min_cuda_version;

  bool operator==(const RunpodSettings&) const = default;
};
// Verda (POST /v1/instances). Locations are chosen with spec.regions
// (Verda's location codes, "FIN-01").
struct VerdaSettings {
  // [image] OS image type ("ubuntu-24.04-cuda-12.8-open-docker") or the id
  // of an existing OS volume; empty: "ubuntu-24.04".
  std::string image;
  // [sshKeyIds] ids (UUIDs) of SSH keys registered at Verda, sent with every
  // create beside the key registered from spec.sshPublicKey. <= 16, unique.
  std::vector<std::string> ssh_key_ids;

  bool operator==(const VerdaSettings&) const = default;
};
// DigitalOcean (POST /v2/droplets).
struct DigitaloceanSettings {
  // [image] image slug ("gpu-h100x1-base") or numeric image id; empty:
  // "gpu-h100x1-base" (DigitalOcean's GPU-ready AI/ML image).
  std::string image;
  // [sshKeys] account SSH keys by numeric id or MD5 fingerprint
  // ("3b:16:...:9f"), sent beside the key registered from spec.sshPublicKey.
  // <= 16, unique.
  std::vector<std::string> ssh_keys;

  bool operator==(const DigitaloceanSettings&) const = default;
};
// Vultr (POST /v2/instances). At most one of os_id and snapshot_id.
struct VultrSettings {
  std::optional<int> os_id;  // [osId] Vultr OS id (>= 1); unset: 1743 (Ubuntu 22.04 x64)
  std::string snapshot_id;   // [snapshotId] boot from this snapshot (UUID)
  // [sshKeyIds] ids (UUIDs) of SSH keys registered at Vultr, sent beside the
  // key registered from spec.sshPublicKey. <= 16, unique.
  std::vector<std::string> ssh_key_ids;

  bool operator==(const VultrSettings&) const = default;
};
// Capacity of one offer of the in-process fake ("fake" type, no endpoint).
struct FakeCapacity {
  std::string offer_id;  // [offerId] e.g. "l40s-1"
  std::string region;
  int count = 0;  // machines it will still sell; >= 0

  bool operator==(const FakeCapacity&) const = default;
};
struct FakeSettings {
  std::optional<int64_t> boot_seconds;  // [bootSeconds]; unset: 5; 0..86400
  std::vector<FakeCapacity> capacity;   // offers not listed: unlimited

  bool operator==(const FakeSettings&) const = default;
};

struct GpuProviderSpec {
  std::string type;              // one of kProviderTypes
  SecretRef credentials_secret;  // [credentialsSecret]; required except for "fake"
  std::optional<SshPublicKeySpec> ssh_public_key;    // [sshPublicKey]
  std::optional<AwsSettings> aws;                    // type aws only
  std::optional<FluenceSettings> fluence;            // type fluence only
  std::optional<LambdaSettings> lambda;              // type lambda only
  std::optional<ScalewaySettings> scaleway;          // type scaleway only
  std::optional<VastaiSettings> vastai;              // type vastai only
  std::optional<RunpodSettings> runpod;              // type runpod only
  std::optional<VerdaSettings> verda;                // type verda only
  std::optional<DigitaloceanSettings> digitalocean;  // type digitalocean only
  std::optional<VultrSettings> vultr;                // type vultr only
  std::optional<FakeSettings> fake;                  // type fake only
  std::vector<std::string> regions;                  // empty: every region the adapter knows
  std::string endpoint;                // API base URL override; empty: the adapter's default
  std::optional<BillingRule> billing;  // overrides the catalog's billing rule
  std::vector<PriceOverride> price_overrides;  // [priceOverrides]
  std::optional<Money> egress_usd_per_gb;      // [egressUsdPerGb]
  std::optional<ReliabilityTier> reliability;  // overrides the catalog's tier
  ProviderQuota quota;
  int64_t pricing_refresh_seconds = 3600;  // [pricingRefreshSeconds]; default 3600; >= 60
  bool paused = false;                     // true: buy nothing new from this provider

  bool operator==(const GpuProviderSpec&) const = default;
};

struct GpuProviderStatus {
  std::vector<Condition> conditions;       // "Healthy"
  std::optional<Time> last_price_refresh;  // [lastPriceRefresh]
  int offers_seen = 0;                     // [offersSeen]
  // [unattributedSpend]; final spend of orphan machines garbage collection
  // ended that no existing GpuPool claims, so it is visible somewhere.
  Money unattributed_spend;
  std::string message;
  int64_t observed_generation = 0;  // [observedGeneration]

  bool operator==(const GpuProviderStatus&) const = default;
};

struct GpuProvider {
  ObjectMeta metadata;  // namespace_ is empty (cluster-scoped)
  GpuProviderSpec spec;
  GpuProviderStatus status;

  bool operator==(const GpuProvider&) const = default;
};

}  // namespace gpupool::api
