#include "operator/core/api_codec.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>
#include <set>
#include <utility>

namespace gpupool::api {

using nlohmann::json;

std::string FieldError::to_string() const {
  std::string out;
  if (document >= 0) out = "document " + std::to_string(document) + ": ";
  if (!path.empty()) out += path + ": ";
  out += message;
  return out;
}

// ---- Enum tables -----------------------------------------------------------

namespace {

template <typename E, size_t N>
std::string_view name_of(const std::pair<E, std::string_view> (&table)[N], E v) {
  for (const auto& [e, s] : table) {
    if (e == v) return s;
  }
  return "";
}

template <typename E, size_t N>
std::optional<E> value_of(const std::pair<E, std::string_view> (&table)[N], std::string_view s) {
  for (const auto& [e, n] : table) {
    if (n == s) return e;
  }
  return std::nullopt;
}

template <typename E, size_t N>
std::string supported_list(const std::pair<E, std::string_view> (&table)[N]) {
  std::string out;
  for (const auto& entry : table) {
    if (!out.empty()) out += ", ";
    out += "\"" + std::string(entry.second) + "\"";
  }
  return out;
}

constexpr std::pair<ConditionStatus, std::string_view> kConditionStatus[] = {
    {ConditionStatus::True, "True"},
    {ConditionStatus::False, "False"},
    {ConditionStatus::Unknown, "Unknown"}};
constexpr std::pair<ReliabilityRequirement, std::string_view> kReliabilityRequirement[] = {
    {ReliabilityRequirement::Datacenter, "Datacenter"}, {ReliabilityRequirement::Any, "Any"}};
constexpr std::pair<MetricType, std::string_view> kMetricType[] = {
    {MetricType::QueueDepth, "QueueDepth"},
    {MetricType::RequestsPerSecond, "RequestsPerSecond"},
    {MetricType::GpuUtilization, "GpuUtilization"},
    {MetricType::External, "External"},
    {MetricType::PendingPods, "PendingPods"}};
constexpr std::pair<UsageMode, std::string_view> kUsageMode[] = {{UsageMode::Node, "Node"},
                                                                 {UsageMode::Endpoint, "Endpoint"}};
constexpr std::pair<InstancePhase, std::string_view> kInstancePhase[] = {
    {InstancePhase::Pending, "Pending"},       {InstancePhase::Provisioning, "Provisioning"},
    {InstancePhase::Running, "Running"},       {InstancePhase::Ready, "Ready"},
    {InstancePhase::Parked, "Parked"},         {InstancePhase::Terminating, "Terminating"},
    {InstancePhase::Terminated, "Terminated"}, {InstancePhase::Failed, "Failed"}};
constexpr std::pair<ReliabilityTier, std::string_view> kReliabilityTier[] = {
    {ReliabilityTier::Datacenter, "Datacenter"}, {ReliabilityTier::Community, "Community"}};
constexpr std::pair<BillingAlignment, std::string_view> kBillingAlignment[] = {
    {BillingAlignment::Launch, "Launch"}, {BillingAlignment::WallClock, "WallClock"}};
constexpr std::pair<MinimumKind, std::string_view> kMinimumKind[] = {
    {MinimumKind::Charge, "Charge"}, {MinimumKind::Deposit, "Deposit"}};

}  // namespace

std::string_view to_string(ConditionStatus v) {
  return name_of(kConditionStatus, v);
}
std::string_view to_string(ReliabilityRequirement v) {
  return name_of(kReliabilityRequirement, v);
}
std::string_view to_string(MetricType v) {
  return name_of(kMetricType, v);
}
std::string_view to_string(UsageMode v) {
  return name_of(kUsageMode, v);
}
std::string_view to_string(InstancePhase v) {
  return name_of(kInstancePhase, v);
}
std::string_view to_string(ReliabilityTier v) {
  return name_of(kReliabilityTier, v);
}
std::string_view to_string(BillingAlignment v) {
  return name_of(kBillingAlignment, v);
}
std::string_view to_string(MinimumKind v) {
  return name_of(kMinimumKind, v);
}
std::optional<ConditionStatus> parse_condition_status(std::string_view s) {
  return value_of(kConditionStatus, s);
}
std::optional<ReliabilityRequirement> parse_reliability_requirement(std::string_view s) {
  return value_of(kReliabilityRequirement, s);
}
std::optional<MetricType> parse_metric_type(std::string_view s) {
  return value_of(kMetricType, s);
}
std::optional<UsageMode> parse_usage_mode(std::string_view s) {
  return value_of(kUsageMode, s);
}
std::optional<InstancePhase> parse_instance_phase(std::string_view s) {
  return value_of(kInstancePhase, s);
}
std::optional<ReliabilityTier> parse_reliability_tier(std::string_view s) {
  return value_of(kReliabilityTier, s);
}
std::optional<BillingAlignment> parse_billing_alignment(std::string_view s) {
  return value_of(kBillingAlignment, s);
}
std::optional<MinimumKind> parse_minimum_kind(std::string_view s) {
  return value_of(kMinimumKind, s);
}

OfferSpec offer_spec_from(const Offer& offer) {
  OfferSpec s;
  s.provider = offer.provider;
  s.provider_type = offer.provider_type;
  s.offer_id = offer.id;
  s.region = offer.region;
  s.gpu_model = offer.gpu_model;
  s.gpu_count = offer.gpu_count;
  s.price_per_hour = offer.price_per_hour;
  s.billing = offer.billing;
  s.tier = offer.tier;
  s.spot = offer.spot;
  return s;
}

Offer offer_from(const OfferSpec& s) {
  Offer o;
  o.provider = s.provider;
  o.provider_type = s.provider_type;
  o.id = s.offer_id;
  o.region = s.region;
  o.gpu_model = s.gpu_model;
  o.gpu_count = s.gpu_count;
  o.price_per_hour = s.price_per_hour;
  o.billing = s.billing;
  o.tier = s.tier;
  o.spot = s.spot;
  return o;
}

// ---- Encoding --------------------------------------------------------------

namespace {

bool is_empty(const json& v) {
  if (v.is_string()) return v.get_ref<const std::string&>().empty();
  return v.is_null() || ((v.is_object() || v.is_array()) && v.empty());
}

// Sets obj[key] = v unless v is null / empty.
void put(json& obj, const char* key, json v) {
  if (!is_empty(v)) obj[key] = std::move(v);
}

json money(Money m) {
  return m.to_string();
}
json opt_money(const std::optional<Money>& m) {
  return m ? json(m->to_string()) : json();
}
json opt_time(const std::optional<Time>& t) {
  return t ? json(format_rfc3339(*t)) : json();
}
json string_list(const std::vector<std::string>& v) {
  json out = json::array();
  for (const auto& s : v)
    out.push_back(s);
  return out;
}
json string_map(const std::map<std::string, std::string>& m) {
  json out = json::object();
  for (const auto& [k, v] : m)
    out[k] = v;
  return out;
}
json str(std::string_view s) {
  return json(std::string(s));
}

json conditions(const std::vector<Condition>& v) {
  json out = json::array();
  for (const auto& c : v)
    out.push_back(encode(c));
  return out;
}

json encode_usage(const UsageSpec& u) {
  json out = json::object();
  out["mode"] = str(to_string(u.mode));
  json node = json::object();
  put(node, "bootstrapScript", u.node.bootstrap_script);
  if (!u.node.bootstrap_secret_ref.name.empty()) {
    node["bootstrapSecretRef"] =
        json{{"name", u.node.bootstrap_secret_ref.name}, {"key", u.node.bootstrap_secret_ref.key}};
  }
  put(node, "labels", string_map(u.node.labels));
  put(node, "taints", string_list(u.node.taints));
  node["registrationTimeoutSeconds"] = u.node.registration_timeout_seconds;
  node["drainTimeoutSeconds"] = u.node.drain_timeout_seconds;
  put(out, "node", node);
  json ep = json::object();
  put(ep, "image", u.endpoint.image);
  ep["port"] = u.endpoint.port;
  put(ep, "args", string_list(u.endpoint.args));
  json env = json::array();
  for (const auto& e : u.endpoint.env) {
    json item = json::object();
    item["name"] = e.name;
    if (e.value) item["value"] = *e.value;  // "" is a value
    if (e.value_from) {
      const SecretKeyRef& r = e.value_from->secret_key_ref;
      item["valueFrom"] = json{{"secretKeyRef", json{{"name", r.name}, {"key", r.key}}}};
    }
    env.push_back(std::move(item));
  }
  put(ep, "env", env);
  put(ep, "healthPath", u.endpoint.health_path);
  const HealthCheckSpec& hc = u.endpoint.health_check;
  ep["healthCheck"] = json{{"periodSeconds", hc.period_seconds},
                           {"timeoutSeconds", hc.timeout_seconds},
                           {"failureThreshold", hc.failure_threshold},
                           {"successThreshold", hc.success_threshold},
                           {"startupTimeoutSeconds", hc.startup_timeout_seconds},
                           {"unhealthyTimeoutSeconds", hc.unhealthy_timeout_seconds}};
  put(ep, "serviceName", u.endpoint.service_name);
  if (u.endpoint.disk_gb) ep["diskGb"] = *u.endpoint.disk_gb;
  out["endpoint"] = ep;
  return out;
}

json encode_pool_spec(const GpuPoolSpec& s) {
  json spec = json::object();
  json gpu = json::object();
  json models = json::array();
  for (const auto& m : s.gpu.models) {
    json item = json::object();
    put(item, "name", m.name);
    item["throughputWeight"] = m.throughput_weight;
    models.push_back(std::move(item));
  }
  put(gpu, "models", models);
  gpu["count"] = s.gpu.count;
  spec["gpu"] = gpu;

  json replicas = json::object();
  if (s.replicas.count) replicas["count"] = *s.replicas.count;
  replicas["min"] = s.replicas.min;
  if (s.replicas.max) replicas["max"] = *s.replicas.max;
  spec["replicas"] = replicas;

  json providers = json::array();
  for (const auto& p : s.providers) {
    json item = json::object();
    put(item, "name", p.name);
    put(item, "maxPricePerGpuHour", opt_money(p.max_price_per_gpu_hour));
    put(item, "regions", string_list(p.regions));
    providers.push_back(std::move(item));
  }
  put(spec, "providers", providers);
  spec["reliability"] = str(to_string(s.reliability));
  spec["spot"] = json{{"allowed", s.spot.allowed}};
  json budget = json::object();
  put(budget, "maxUsdPerHour", opt_money(s.budget.max_usd_per_hour));
  put(budget, "maxUsdPerMonth", opt_money(s.budget.max_usd_per_month));
  put(spec, "budget", budget);
  spec["egress"] = json{{"gbPerGpuHour", s.egress.gb_per_gpu_hour}};
  json planning = json::object();
  if (s.planning.expected_lifetime_hours) {
    planning["expectedLifetimeHours"] = *s.planning.expected_lifetime_hours;
  }
  put(spec, "planning", planning);
  spec["lifecycle"] = json{{"parkMarginSeconds", s.lifecycle.park_margin_seconds},
                           {"adoptionGraceSeconds", s.lifecycle.adoption_grace_seconds},
                           {"minParkSeconds", s.lifecycle.min_park_seconds},
                           {"consolidationLeadSeconds", s.lifecycle.consolidation_lead_seconds}};
  json as = json::object();
  as["enabled"] = s.autoscaling.enabled;
  json metrics = json::array();
  for (const auto& m : s.autoscaling.metrics) {
    json item = json::object();
    item["type"] = str(to_string(m.type));
    item["target"] = m.target;
    if (m.query) item["query"] = *m.query;
    if (m.prometheus_url) item["prometheusUrl"] = *m.prometheus_url;
    metrics.push_back(std::move(item));
  }
  put(as, "metrics", metrics);
  as["scaleUpStabilizationSeconds"] = s.autoscaling.scale_up_stabilization_seconds;
  as["scaleDownStabilizationSeconds"] = s.autoscaling.scale_down_stabilization_seconds;
  as["tolerance"] = s.autoscaling.tolerance;
  auto limit = [](const ScalingLimitSpec& l) {
    return json{{"pods", l.pods}, {"percent", l.percent}, {"periodSeconds", l.period_seconds}};
  };
  as["scaleUp"] = limit(s.autoscaling.scale_up);
  as["scaleDown"] = limit(s.autoscaling.scale_down);
  json schedules = json::array();
  for (const auto& w : s.autoscaling.schedules) {
    schedules.push_back(json{{"start", w.start},
                             {"end", w.end},
                             {"timeZone", w.time_zone},
                             {"minReplicas", w.min_replicas}});
  }
  put(as, "schedules", schedules);
  spec["autoscaling"] = as;
  spec["usage"] = encode_usage(s.usage);
  return spec;
}

json encode_autoscaling_status(const AutoscalingStatus& a) {
  json as = json::object();
  as["desiredReplicas"] = a.desired;
  as["recommendedReplicas"] = a.recommended;
  put(as, "reason", a.reason);
  put(as, "clampedBy", a.clamped_by);
  if (a.schedule_min > 0) as["scheduleMinReplicas"] = a.schedule_min;
  json metrics = json::array();
  for (const auto& m : a.metrics) {
    json item = json::object();
    item["type"] = str(to_string(m.type));
    if (m.value) item["value"] = *m.value;
    put(item, "error", m.error);
    metrics.push_back(std::move(item));
  }
  put(as, "metrics", metrics);
  if (a.expected_lifetime_hours) as["expectedLifetimeHours"] = *a.expected_lifetime_hours;
  put(as, "lastScaleTime", opt_time(a.last_scale_time));
  json history = json::array();
  for (const auto& h : a.history) {
    history.push_back(
        json{{"at", format_rfc3339(h.at)}, {"recommended", h.recommended}, {"current", h.current}});
  }
  put(as, "history", history);
  return as;
}

json encode_pool_status(const GpuPoolStatus& s) {
  json st = json::object();
  st["observedGeneration"] = s.observed_generation;
  st["replicas"] = json{{"desired", s.replicas.desired},
                        {"provisioning", s.replicas.provisioning},
                        {"ready", s.replicas.ready},
                        {"parked", s.replicas.parked}};
  if (s.autoscaling) st["autoscaling"] = encode_autoscaling_status(*s.autoscaling);
  put(st, "conditions", conditions(s.conditions));
  json spend = json::object();
  spend["accrued"] = money(s.spend.accrued);
  spend["committed"] = money(s.spend.committed);
  spend["hourlyBurn"] = money(s.spend.hourly_burn);
  spend["monthToDate"] = money(s.spend.month_to_date);
  spend["projectedMonth"] = money(s.spend.projected_month);
  put(spend, "month", s.spend.month);
  put(spend, "lastUpdated", opt_time(s.spend.last_updated));
  st["spend"] = spend;
  st["terminatedSpend"] = money(s.terminated_spend);
  put(st, "selector", s.selector);
  return st;
}

json encode_instance_spec(const GpuInstanceSpec& s) {
  json spec = json::object();
  put(spec, "pool", s.pool);
  json offer = json::object();
  put(offer, "provider", s.offer.provider);
  put(offer, "providerType", s.offer.provider_type);
  put(offer, "offerId", s.offer.offer_id);
  put(offer, "region", s.offer.region);
  put(offer, "gpuModel", s.offer.gpu_model);
  offer["gpuCount"] = s.offer.gpu_count;
  offer["pricePerHour"] = money(s.offer.price_per_hour);
  offer["billing"] = encode(s.offer.billing);
  offer["tier"] = str(to_string(s.offer.tier));
  offer["spot"] = s.offer.spot;
  if (!s.offer.egress_usd_per_hour.is_zero()) {
    offer["egressUsdPerHour"] = money(s.offer.egress_usd_per_hour);
  }
  spec["offer"] = offer;
  spec["usage"] = encode_usage(s.usage);
  return spec;
}

json encode_instance_status(const GpuInstanceStatus& s) {
  json st = json::object();
  st["phase"] = str(to_string(s.phase));
  put(st, "providerId", s.provider_id);
  put(st, "region", s.region);
  put(st, "pricePerHour", opt_money(s.price_per_hour));
  if (s.billing) st["billing"] = encode(*s.billing);
  put(st, "launchTime", opt_time(s.launch_time));
  put(st, "paidThrough", opt_time(s.paid_through));
  put(st, "parkedAt", opt_time(s.parked_at));
  put(st, "endedAt", opt_time(s.ended_at));
  put(st, "drainStartedAt", opt_time(s.drain_started_at));
  put(st, "nodeName", s.node_name);
  put(st, "bootstrapTokenSecret", s.bootstrap_token_secret);
  put(st, "address", s.address);
  if (s.port != 0) st["port"] = s.port;
  put(st, "endpoint", s.endpoint);
  if (s.health) {
    json h = json::object();
    h["consecutiveSuccesses"] = s.health->consecutive_successes;
    h["consecutiveFailures"] = s.health->consecutive_failures;
    put(h, "lastProbeTime", opt_time(s.health->last_probe_time));
    put(h, "firstHealthyTime", opt_time(s.health->first_healthy_time));
    st["health"] = std::move(h);
  }
  st["accrued"] = money(s.accrued);
  put(st, "conditions", conditions(s.conditions));
  put(st, "reason", s.reason);
  put(st, "message", s.message);
  st["observedGeneration"] = s.observed_generation;
  return st;
}

json encode_provider_spec(const GpuProviderSpec& s) {
  json spec = json::object();
  put(spec, "type", s.type);
  json secret = json::object();
  put(secret, "name", s.credentials_secret.name);
  put(secret, "namespace", s.credentials_secret.namespace_);
  put(secret, "keys", string_map(s.credentials_secret.keys));
  put(spec, "credentialsSecret", secret);
  if (s.ssh_public_key) {
    json ssh = json::object();
    put(ssh, "value", s.ssh_public_key->value);
    if (const auto& ref = s.ssh_public_key->secret_key_ref) {
      json r = json::object();
      put(r, "name", ref->name);
      put(r, "namespace", ref->namespace_);
      put(r, "key", ref->key);
      ssh["secretKeyRef"] = std::move(r);
    }
    spec["sshPublicKey"] = std::move(ssh);
  }
  if (s.aws) {
    json aws = json::object();
    put(aws, "imageId", s.aws->image_id);
    put(aws, "subnetId", s.aws->subnet_id);
    put(aws, "securityGroupIds", string_list(s.aws->security_group_ids));
    put(aws, "keyName", s.aws->key_name);
    spec["aws"] = std::move(aws);
  }
  if (s.fluence) {
    json fluence = json::object();
    put(fluence, "osImage", s.fluence->os_image);
    spec["fluence"] = std::move(fluence);
  }
  if (s.lambda) {
    json lambda = json::object();
    put(lambda, "sshKeyName", s.lambda->ssh_key_name);
    spec["lambda"] = std::move(lambda);
  }
  if (s.scaleway) {
    json scaleway = json::object();
    put(scaleway, "projectId", s.scaleway->project_id);
    spec["scaleway"] = std::move(scaleway);
  }
  if (s.vastai) {
    json vastai = json::object();
    put(vastai, "image", s.vastai->image);
    if (s.vastai->disk_gb) vastai["diskGb"] = *s.vastai->disk_gb;
    if (s.vastai->verified_only) vastai["verifiedOnly"] = *s.vastai->verified_only;
    spec["vastai"] = std::move(vastai);
  }
  if (s.runpod) {
    json runpod = json::object();
    put(runpod, "image", s.runpod->image);
    if (s.runpod->disk_gb) runpod["diskGb"] = *s.runpod->disk_gb;
    put(runpod, "cloudType", s.runpod->cloud_type);
    put(runpod, "dataCenterIds", string_list(s.runpod->data_center_ids));
    put(runpod, "minCudaVersion", s.runpod->min_cuda_version);
    spec["runpod"] = std::move(runpod);
  }
  if (s.verda) {
    json verda = json::object();
    put(verda, "image", s.verda->image);
    put(verda, "sshKeyIds", string_list(s.verda->ssh_key_ids));
    spec["verda"] = std::move(verda);
  }
  if (s.digitalocean) {
    json digitalocean = json::object();
    put(digitalocean, "image", s.digitalocean->image);
    put(digitalocean, "sshKeys", string_list(s.digitalocean->ssh_keys));
    spec["digitalocean"] = std::move(digitalocean);
  }
  if (s.vultr) {
    json vultr = json::object();
    if (s.vultr->os_id) vultr["osId"] = *s.vultr->os_id;
    put(vultr, "snapshotId", s.vultr->snapshot_id);
    put(vultr, "sshKeyIds", string_list(s.vultr->ssh_key_ids));
    spec["vultr"] = std::move(vultr);
  }
  if (s.fake) {
    json fake = json::object();
    if (s.fake->boot_seconds) fake["bootSeconds"] = *s.fake->boot_seconds;
    json capacity = json::array();
    for (const auto& c : s.fake->capacity) {
      json item = json::object();
      put(item, "offerId", c.offer_id);
      put(item, "region", c.region);
      item["count"] = c.count;
      capacity.push_back(std::move(item));
    }
    put(fake, "capacity", capacity);
    spec["fake"] = std::move(fake);
  }
  put(spec, "regions", string_list(s.regions));
  put(spec, "endpoint", s.endpoint);
  if (s.billing) spec["billing"] = encode(*s.billing);
  json overrides = json::array();
  for (const auto& o : s.price_overrides) {
    json item = json::object();
    put(item, "gpuModel", o.gpu_model);
    if (o.region) item["region"] = *o.region;
    item["pricePerGpuHour"] = money(o.price_per_gpu_hour);
    overrides.push_back(std::move(item));
  }
  put(spec, "priceOverrides", overrides);
  put(spec, "egressUsdPerGb", opt_money(s.egress_usd_per_gb));
  if (s.reliability) spec["reliability"] = str(to_string(*s.reliability));
  json quota = json::object();
  if (s.quota.max_instances) quota["maxInstances"] = *s.quota.max_instances;
  if (s.quota.max_gpus) quota["maxGpus"] = *s.quota.max_gpus;
  put(spec, "quota", quota);
  spec["pricingRefreshSeconds"] = s.pricing_refresh_seconds;
  spec["paused"] = s.paused;
  return spec;
}

json encode_provider_status(const GpuProviderStatus& s) {
  json st = json::object();
  put(st, "conditions", conditions(s.conditions));
  put(st, "lastPriceRefresh", opt_time(s.last_price_refresh));
  st["offersSeen"] = s.offers_seen;
  if (!s.unattributed_spend.is_zero()) st["unattributedSpend"] = money(s.unattributed_spend);
  put(st, "message", s.message);
  st["observedGeneration"] = s.observed_generation;
  return st;
}

json envelope(const char* kind, const ObjectMeta& meta, json spec, json status) {
  json out = json::object();
  out["apiVersion"] = kApiVersion;
  out["kind"] = kind;
  out["metadata"] = encode(meta);
  out["spec"] = std::move(spec);
  out["status"] = std::move(status);
  return out;
}

}  // namespace

json encode(const BillingRule& r) {
  json out = json::object();
  out["minimumSeconds"] = r.minimum.count();
  out["incrementSeconds"] = r.increment.count();
  out["alignment"] = str(to_string(r.alignment));
  out["minimumKind"] = str(to_string(r.minimum_kind));
  out["egressPerGb"] = money(r.egress_per_gb);
  return out;
}

json encode(const Condition& c) {
  json out = json::object();
  out["type"] = c.type;
  out["status"] = str(to_string(c.status));
  put(out, "reason", c.reason);
  put(out, "message", c.message);
  out["lastTransitionTime"] = format_rfc3339(c.last_transition_time);
  out["observedGeneration"] = c.observed_generation;
  return out;
}

json encode(const ObjectMeta& m) {
  json out = json::object();
  put(out, "name", m.name);
  put(out, "namespace", m.namespace_);
  put(out, "uid", m.uid);
  put(out, "resourceVersion", m.resource_version);
  if (m.generation != 0) out["generation"] = m.generation;
  put(out, "labels", string_map(m.labels));
  put(out, "annotations", string_map(m.annotations));
  json owners = json::array();
  for (const auto& o : m.owner_references) {
    json item = json::object();
    item["apiVersion"] = o.api_version;
    item["kind"] = o.kind;
    item["name"] = o.name;
    item["uid"] = o.uid;
    item["controller"] = o.controller;
    item["blockOwnerDeletion"] = o.block_owner_deletion;
    owners.push_back(std::move(item));
  }
  put(out, "ownerReferences", owners);
  put(out, "finalizers", string_list(m.finalizers));
  put(out, "creationTimestamp", opt_time(m.creation_timestamp));
  put(out, "deletionTimestamp", opt_time(m.deletion_timestamp));
  return out;
}

json encode(const GpuPool& p) {
  return envelope(kGpuPoolKind, p.metadata, encode_pool_spec(p.spec), encode_pool_status(p.status));
}
json encode(const GpuInstance& i) {
  return envelope(kGpuInstanceKind, i.metadata, encode_instance_spec(i.spec),
                  encode_instance_status(i.status));
}
json encode(const GpuPoolStatus& s) {
  return encode_pool_status(s);
}
json encode(const GpuInstanceStatus& s) {
  return encode_instance_status(s);
}
json encode(const GpuProvider& p) {
  return envelope(kGpuProviderKind, p.metadata, encode_provider_spec(p.spec),
                  encode_provider_status(p.status));
}
json encode(const ApiObject& o) {
  return std::visit([](const auto& v) { return encode(v); }, o);
}

// ---- Decoding --------------------------------------------------------------

namespace {

const char* type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::object:
      return "object";
    case json::value_t::array:
      return "array";
    case json::value_t::string:
      return "string";
    case json::value_t::boolean:
      return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "integer";
    case json::value_t::number_float:
      return "number";
    default:
      return "null";
  }
}

struct Ctx {
  DecodeMode mode;
  std::vector<FieldError>* errors;
  void error(const std::string& path, std::string message) const {
    errors->push_back(FieldError{path, std::move(message), -1});
  }
  void wrong_type(const std::string& path, const char* want, const json& got) const {
    error(path, std::string("must be ") + want + ", got " + type_name(got));
  }
};

std::string join(const std::string& path, const char* key) {
  return path.empty() ? std::string(key) : path + "." + key;
}
std::string index(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

// Reads the fields of one JSON object; reports unknown fields on finish()
// in strict mode. A non-object value is reported once and read as empty.
class Obj {
 public:
  Obj(const json& v, std::string path, const Ctx& ctx) : path_(std::move(path)), ctx_(ctx) {
    if (v.is_object()) {
      v_ = &v;
    } else if (!v.is_null()) {
      ctx_.wrong_type(path_, "an object", v);
    }
  }
  Obj(const Obj&) = delete;
  Obj& operator=(const Obj&) = delete;
  ~Obj() { finish(); }

  // Calls f(value, path) when key is present and not null.
  template <typename F>
  void field(const char* key, F&& f) {
    seen_.insert(key);
    if (v_ == nullptr) return;
    auto it = v_->find(key);
    if (it == v_->end() || it->is_null()) return;
    f(*it, join(path_, key));
  }
  // Marks keys that are accepted and dropped.
  void ignore(const char* key) { seen_.insert(key); }
  const std::string& path() const { return path_; }
  const Ctx& ctx() const { return ctx_; }

 private:
  void finish() {
    if (v_ == nullptr || ctx_.mode != DecodeMode::Strict) return;
    for (const auto& [k, unused] : v_->items()) {
      if (seen_.count(k) == 0) ctx_.error(join(path_, k.c_str()), "unknown field");
    }
  }
  const json* v_ = nullptr;
  std::string path_;
  const Ctx& ctx_;
  std::set<std::string> seen_;
};

void read(const json& v, const std::string& path, const Ctx& c, std::string& out) {
  if (v.is_string()) {
    out = v.get<std::string>();
  } else {
    c.wrong_type(path, "a string", v);
  }
}
void read(const json& v, const std::string& path, const Ctx& c, bool& out) {
  if (v.is_boolean()) {
    out = v.get<bool>();
  } else {
    c.wrong_type(path, "a boolean", v);
  }
}
void read(const json& v, const std::string& path, const Ctx& c, int64_t& out) {
  if (v.is_number_integer() && !v.is_number_unsigned()) {
    out = v.get<int64_t>();
  } else if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      c.error(path, "integer out of range");
    } else {
      out = static_cast<int64_t>(u);
    }
  } else {
    c.wrong_type(path, "an integer", v);
  }
}
void read(const json& v, const std::string& path, const Ctx& c, int& out) {
  int64_t wide = 0;
  size_t before = c.errors->size();
  read(v, path, c, wide);
  if (c.errors->size() != before) return;
  if (wide < std::numeric_limits<int32_t>::min() || wide > std::numeric_limits<int32_t>::max()) {
    c.error(path, "integer out of range");
    return;
  }
  out = static_cast<int>(wide);
}
void read(const json& v, const std::string& path, const Ctx& c, double& out) {
  if (v.is_number()) {
    out = v.get<double>();
    if (!std::isfinite(out)) {
      c.error(path, "must be a finite number");
      out = 0;
    }
  } else {
    c.wrong_type(path, "a number", v);
  }
}
void read(const json& v, const std::string& path, const Ctx& c, Money& out) {
  if (!v.is_string()) {
    c.wrong_type(path, "a decimal string such as \"1.27\"", v);
    return;
  }
  auto m = Money::parse(v.get<std::string>());
  if (!m) {
    c.error(path, "invalid amount \"" + v.get<std::string>() +
                      "\": must be a decimal with at most 6 fractional digits, such as \"1.27\"");
    return;
  }
  out = *m;
}
void read(const json& v, const std::string& path, const Ctx& c, Time& out) {
  if (!v.is_string()) {
    c.wrong_type(path, "an RFC 3339 time string", v);
    return;
  }
  if (!parse_rfc3339(v.get<std::string>(), out)) {
    c.error(path, "invalid time \"" + v.get<std::string>() +
                      "\": must be RFC 3339, such as \"2026-11-22T02:10:42Z\"");
  }
}
void read(const json& v, const std::string& path, const Ctx& c, Duration& out) {
  int64_t secs = 0;
  size_t before = c.errors->size();
  read(v, path, c, secs);
  if (c.errors->size() == before) out = Duration(secs);
}
template <typename T>
void read(const json& v, const std::string& path, const Ctx& c, std::optional<T>& out) {
  T value{};
  size_t before = c.errors->size();
  read(v, path, c, value);
  if (c.errors->size() == before) out = std::move(value);
}
void read(const json& v, const std::string& path, const Ctx& c, std::vector<std::string>& out) {
  if (!v.is_array()) {
    c.wrong_type(path, "an array", v);
    return;
  }
  out.clear();
  for (size_t i = 0; i < v.size(); ++i) {
    std::string s;
    read(v[i], index(path, i), c, s);
    out.push_back(std::move(s));
  }
}
void read(const json& v, const std::string& path, const Ctx& c,
          std::map<std::string, std::string>& out) {
  if (!v.is_object()) {
    c.wrong_type(path, "an object", v);
    return;
  }
  out.clear();
  for (const auto& [k, item] : v.items()) {
    std::string s;
    if (item.is_null()) continue;
    read(item, path + "[" + k + "]", c, s);
    out[k] = std::move(s);
  }
}

// Enum fields: wire strings parsed with `parse`; unknown values are reported
// with the supported list, Kubernetes-style.
template <typename E, size_t N>
void read_enum(const json& v, const std::string& path, const Ctx& c,
               const std::pair<E, std::string_view> (&table)[N], E& out) {
  if (!v.is_string()) {
    c.wrong_type(path, "a string", v);
    return;
  }
  auto e = value_of(table, v.get<std::string>());
  if (!e) {
    c.error(path, "Unsupported value: \"" + v.get<std::string>() +
                      "\": supported values: " + supported_list(table));
    return;
  }
  out = *e;
}

// Reads an array of objects with `item(obj, element)` per element.
template <typename T, typename F>
void read_list(const json& v, const std::string& path, const Ctx& c, std::vector<T>& out, F item) {
  if (!v.is_array()) {
    c.wrong_type(path, "an array", v);
    return;
  }
  out.clear();
  for (size_t i = 0; i < v.size(); ++i) {
    T element{};
    {
      Obj o(v[i], index(path, i), c);
      item(o, element);
    }
    out.push_back(std::move(element));
  }
}

// Shorthand: o.field(key) read into out.
#define GP_FIELD(o, key, out) \
  (o).field(key, [&](const json& v_, const std::string& p_) { read(v_, p_, (o).ctx(), out); })
#define GP_ENUM(o, key, table, out)                           \
  (o).field(key, [&](const json& v_, const std::string& p_) { \
    read_enum(v_, p_, (o).ctx(), table, out);                 \
  })

void read_billing(const json& v, const std::string& path, const Ctx& c, BillingRule& r) {
  Obj o(v, path, c);
  GP_FIELD(o, "minimumSeconds", r.minimum);
  GP_FIELD(o, "incrementSeconds", r.increment);
  GP_ENUM(o, "alignment", kBillingAlignment, r.alignment);
  GP_ENUM(o, "minimumKind", kMinimumKind, r.minimum_kind);
  GP_FIELD(o, "egressPerGb", r.egress_per_gb);
}
void read(const json& v, const std::string& path, const Ctx& c, BillingRule& r) {
  read_billing(v, path, c, r);
}

void read_conditions(const json& v, const std::string& path, const Ctx& c,
                     std::vector<Condition>& out) {
  read_list(v, path, c, out, [](Obj& o, Condition& cond) {
    GP_FIELD(o, "type", cond.type);
    GP_ENUM(o, "status", kConditionStatus, cond.status);
    GP_FIELD(o, "reason", cond.reason);
    GP_FIELD(o, "message", cond.message);
    GP_FIELD(o, "lastTransitionTime", cond.last_transition_time);
    GP_FIELD(o, "observedGeneration", cond.observed_generation);
  });
}

void read_meta(const json& v, const std::string& path, const Ctx& c, ObjectMeta& m) {
  Obj o(v, path, c);
  GP_FIELD(o, "name", m.name);
  GP_FIELD(o, "namespace", m.namespace_);
  GP_FIELD(o, "uid", m.uid);
  GP_FIELD(o, "resourceVersion", m.resource_version);
  GP_FIELD(o, "generation", m.generation);
  GP_FIELD(o, "labels", m.labels);
  GP_FIELD(o, "annotations", m.annotations);
  o.field("ownerReferences", [&](const json& list, const std::string& p) {
    read_list(list, p, c, m.owner_references, [](Obj& oo, OwnerReference& r) {
      GP_FIELD(oo, "apiVersion", r.api_version);
      GP_FIELD(oo, "kind", r.kind);
      GP_FIELD(oo, "name", r.name);
      GP_FIELD(oo, "uid", r.uid);
      GP_FIELD(oo, "controller", r.controller);
      GP_FIELD(oo, "blockOwnerDeletion", r.block_owner_deletion);
    });
  });
  GP_FIELD(o, "finalizers", m.finalizers);
  GP_FIELD(o, "creationTimestamp", m.creation_timestamp);
  GP_FIELD(o, "deletionTimestamp", m.deletion_timestamp);
  // Server-managed fields the operator does not model.
  o.ignore("managedFields");
  o.ignore("selfLink");
  o.ignore("deletionGracePeriodSeconds");
  o.ignore("generateName");
}

void read_usage(const json& v, const std::string& path, const Ctx& c, UsageSpec& u) {
  Obj o(v, path, c);
  GP_ENUM(o, "mode", kUsageMode, u.mode);
  o.field("node", [&](const json& nv, const std::string& p) {
    Obj n(nv, p, c);
    GP_FIELD(n, "bootstrapScript", u.node.bootstrap_script);
    n.field("bootstrapSecretRef", [&](const json& rv, const std::string& rp) {
      Obj r(rv, rp, c);
      GP_FIELD(r, "name", u.node.bootstrap_secret_ref.name);
      GP_FIELD(r, "key", u.node.bootstrap_secret_ref.key);
    });
    GP_FIELD(n, "labels", u.node.labels);
    GP_FIELD(n, "taints", u.node.taints);
    GP_FIELD(n, "registrationTimeoutSeconds", u.node.registration_timeout_seconds);
    GP_FIELD(n, "drainTimeoutSeconds", u.node.drain_timeout_seconds);
  });
  o.field("endpoint", [&](const json& ev, const std::string& p) {
    Obj e(ev, p, c);
    GP_FIELD(e, "image", u.endpoint.image);
    GP_FIELD(e, "port", u.endpoint.port);
    GP_FIELD(e, "args", u.endpoint.args);
    e.field("env", [&](const json& lv, const std::string& lp) {
      read_list(lv, lp, c, u.endpoint.env, [](Obj& oo, EnvVar& var) {
        GP_FIELD(oo, "name", var.name);
        GP_FIELD(oo, "value", var.value);
        oo.field("valueFrom", [&](const json& fv, const std::string& fp) {
          Obj from(fv, fp, oo.ctx());
          auto& src = var.value_from.emplace();
          from.field("secretKeyRef", [&](const json& rv, const std::string& rp) {
            Obj r(rv, rp, oo.ctx());
            GP_FIELD(r, "name", src.secret_key_ref.name);
            GP_FIELD(r, "key", src.secret_key_ref.key);
          });
        });
      });
    });
    GP_FIELD(e, "healthPath", u.endpoint.health_path);
    e.field("healthCheck", [&](const json& hv, const std::string& hp) {
      Obj h(hv, hp, c);
      HealthCheckSpec& hc = u.endpoint.health_check;
      GP_FIELD(h, "periodSeconds", hc.period_seconds);
      GP_FIELD(h, "timeoutSeconds", hc.timeout_seconds);
      GP_FIELD(h, "failureThreshold", hc.failure_threshold);
      GP_FIELD(h, "successThreshold", hc.success_threshold);
      GP_FIELD(h, "startupTimeoutSeconds", hc.startup_timeout_seconds);
      GP_FIELD(h, "unhealthyTimeoutSeconds", hc.unhealthy_timeout_seconds);
    });
    GP_FIELD(e, "serviceName", u.endpoint.service_name);
    GP_FIELD(e, "diskGb", u.endpoint.disk_gb);
  });
}

void read_pool_spec(const json& v, const std::string& path, const Ctx& c, GpuPoolSpec& s) {
  Obj o(v, path, c);
  o.field("gpu", [&](const json& gv, const std::string& p) {
    Obj g(gv, p, c);
    g.field("models", [&](const json& lv, const std::string& lp) {
      read_list(lv, lp, c, s.gpu.models, [](Obj& oo, GpuModelSpec& m) {
        GP_FIELD(oo, "name", m.name);
        GP_FIELD(oo, "throughputWeight", m.throughput_weight);
      });
    });
    GP_FIELD(g, "count", s.gpu.count);
  });
  o.field("replicas", [&](const json& rv, const std::string& p) {
    Obj r(rv, p, c);
    GP_FIELD(r, "count", s.replicas.count);
    GP_FIELD(r, "min", s.replicas.min);
    GP_FIELD(r, "max", s.replicas.max);
  });
  o.field("providers", [&](const json& lv, const std::string& lp) {
    read_list(lv, lp, c, s.providers, [](Obj& oo, PoolProviderRef& ref) {
      GP_FIELD(oo, "name", ref.name);
      GP_FIELD(oo, "maxPricePerGpuHour", ref.max_price_per_gpu_hour);
      GP_FIELD(oo, "regions", ref.regions);
    });
  });
  GP_ENUM(o, "reliability", kReliabilityRequirement, s.reliability);
  o.field("spot", [&](const json& sv, const std::string& p) {
    Obj sp(sv, p, c);
    GP_FIELD(sp, "allowed", s.spot.allowed);
  });
  o.field("budget", [&](const json& bv, const std::string& p) {
    Obj b(bv, p, c);
    GP_FIELD(b, "maxUsdPerHour", s.budget.max_usd_per_hour);
    GP_FIELD(b, "maxUsdPerMonth", s.budget.max_usd_per_month);
  });
  o.field("egress", [&](const json& ev, const std::string& p) {
    Obj e(ev, p, c);
    GP_FIELD(e, "gbPerGpuHour", s.egress.gb_per_gpu_hour);
  });
  o.field("planning", [&](const json& pv, const std::string& p) {
    Obj pl(pv, p, c);
    GP_FIELD(pl, "expectedLifetimeHours", s.planning.expected_lifetime_hours);
  });
  o.field("lifecycle", [&](const json& lv, const std::string& p) {
    Obj l(lv, p, c);
    GP_FIELD(l, "parkMarginSeconds", s.lifecycle.park_margin_seconds);
    GP_FIELD(l, "adoptionGraceSeconds", s.lifecycle.adoption_grace_seconds);
    GP_FIELD(l, "minParkSeconds", s.lifecycle.min_park_seconds);
    GP_FIELD(l, "consolidationLeadSeconds", s.lifecycle.consolidation_lead_seconds);
  });
  o.field("autoscaling", [&](const json& av, const std::string& p) {
    Obj a(av, p, c);
    GP_FIELD(a, "enabled", s.autoscaling.enabled);
    a.field("metrics", [&](const json& lv, const std::string& lp) {
      read_list(lv, lp, c, s.autoscaling.metrics, [](Obj& oo, MetricSpec& m) {
        GP_ENUM(oo, "type", kMetricType, m.type);
        GP_FIELD(oo, "target", m.target);
        GP_FIELD(oo, "query", m.query);
        GP_FIELD(oo, "prometheusUrl", m.prometheus_url);
      });
    });
    GP_FIELD(a, "scaleUpStabilizationSeconds", s.autoscaling.scale_up_stabilization_seconds);
    GP_FIELD(a, "scaleDownStabilizationSeconds", s.autoscaling.scale_down_stabilization_seconds);
    GP_FIELD(a, "tolerance", s.autoscaling.tolerance);
    auto limit = [&](const char* key, ScalingLimitSpec& l) {
      a.field(key, [&](const json& lv, const std::string& lp) {
        Obj lo(lv, lp, c);
        GP_FIELD(lo, "pods", l.pods);
        GP_FIELD(lo, "percent", l.percent);
        GP_FIELD(lo, "periodSeconds", l.period_seconds);
      });
    };
    limit("scaleUp", s.autoscaling.scale_up);
    limit("scaleDown", s.autoscaling.scale_down);
    a.field("schedules", [&](const json& lv, const std::string& lp) {
      read_list(lv, lp, c, s.autoscaling.schedules, [](Obj& oo, ScheduleSpec& w) {
        GP_FIELD(oo, "start", w.start);
        GP_FIELD(oo, "end", w.end);
        GP_FIELD(oo, "timeZone", w.time_zone);
        GP_FIELD(oo, "minReplicas", w.min_replicas);
      });
    });
  });
  o.field("usage", [&](const json& uv, const std::string& p) { read_usage(uv, p, c, s.usage); });
}

void read_pool_status(const json& v, const std::string& path, const Ctx& c, GpuPoolStatus& s) {
  Obj o(v, path, c);
  GP_FIELD(o, "observedGeneration", s.observed_generation);
  o.field("replicas", [&](const json& rv, const std::string& p) {
    Obj r(rv, p, c);
    GP_FIELD(r, "desired", s.replicas.desired);
    GP_FIELD(r, "provisioning", s.replicas.provisioning);
    GP_FIELD(r, "ready", s.replicas.ready);
    GP_FIELD(r, "parked", s.replicas.parked);
  });
  o.field("autoscaling", [&](const json& av, const std::string& p) {
    Obj a(av, p, c);
    AutoscalingStatus as;
    GP_FIELD(a, "desiredReplicas", as.desired);
    GP_FIELD(a, "recommendedReplicas", as.recommended);
    GP_FIELD(a, "reason", as.reason);
    GP_FIELD(a, "clampedBy", as.clamped_by);
    GP_FIELD(a, "scheduleMinReplicas", as.schedule_min);
    a.field("metrics", [&](const json& lv, const std::string& lp) {
      read_list(lv, lp, c, as.metrics, [](Obj& oo, MetricReading& m) {
        GP_ENUM(oo, "type", kMetricType, m.type);
        GP_FIELD(oo, "value", m.value);
        GP_FIELD(oo, "error", m.error);
      });
    });
    GP_FIELD(a, "expectedLifetimeHours", as.expected_lifetime_hours);
    GP_FIELD(a, "lastScaleTime", as.last_scale_time);
    a.field("history", [&](const json& lv, const std::string& lp) {
      read_list(lv, lp, c, as.history, [](Obj& oo, ScalingSample& h) {
        GP_FIELD(oo, "at", h.at);
        GP_FIELD(oo, "recommended", h.recommended);
        GP_FIELD(oo, "current", h.current);
      });
    });
    s.autoscaling = std::move(as);
  });
  o.field("conditions",
          [&](const json& cv, const std::string& p) { read_conditions(cv, p, c, s.conditions); });
  o.field("spend", [&](const json& sv, const std::string& p) {
    Obj sp(sv, p, c);
    GP_FIELD(sp, "accrued", s.spend.accrued);
    GP_FIELD(sp, "committed", s.spend.committed);
    GP_FIELD(sp, "hourlyBurn", s.spend.hourly_burn);
    GP_FIELD(sp, "monthToDate", s.spend.month_to_date);
    GP_FIELD(sp, "projectedMonth", s.spend.projected_month);
    GP_FIELD(sp, "month", s.spend.month);
    GP_FIELD(sp, "lastUpdated", s.spend.last_updated);
  });
  GP_FIELD(o, "terminatedSpend", s.terminated_spend);
  GP_FIELD(o, "selector", s.selector);
}

void read_instance_spec(const json& v, const std::string& path, const Ctx& c, GpuInstanceSpec& s) {
  Obj o(v, path, c);
  GP_FIELD(o, "pool", s.pool);
  o.field("offer", [&](const json& ov, const std::string& p) {
    Obj f(ov, p, c);
    GP_FIELD(f, "provider", s.offer.provider);
    GP_FIELD(f, "providerType", s.offer.provider_type);
    GP_FIELD(f, "offerId", s.offer.offer_id);
    GP_FIELD(f, "region", s.offer.region);
    GP_FIELD(f, "gpuModel", s.offer.gpu_model);
    GP_FIELD(f, "gpuCount", s.offer.gpu_count);
    GP_FIELD(f, "pricePerHour", s.offer.price_per_hour);
    GP_FIELD(f, "billing", s.offer.billing);
    GP_ENUM(f, "tier", kReliabilityTier, s.offer.tier);
    GP_FIELD(f, "spot", s.offer.spot);
    GP_FIELD(f, "egressUsdPerHour", s.offer.egress_usd_per_hour);
  });
  o.field("usage", [&](const json& uv, const std::string& p) { read_usage(uv, p, c, s.usage); });
}

void read_instance_status(const json& v, const std::string& path, const Ctx& c,
                          GpuInstanceStatus& s) {
  Obj o(v, path, c);
  GP_ENUM(o, "phase", kInstancePhase, s.phase);
  GP_FIELD(o, "providerId", s.provider_id);
  GP_FIELD(o, "region", s.region);
  GP_FIELD(o, "pricePerHour", s.price_per_hour);
  GP_FIELD(o, "billing", s.billing);
  GP_FIELD(o, "launchTime", s.launch_time);
  GP_FIELD(o, "paidThrough", s.paid_through);
  GP_FIELD(o, "parkedAt", s.parked_at);
  GP_FIELD(o, "endedAt", s.ended_at);
  GP_FIELD(o, "drainStartedAt", s.drain_started_at);
  GP_FIELD(o, "nodeName", s.node_name);
  GP_FIELD(o, "bootstrapTokenSecret", s.bootstrap_token_secret);
  GP_FIELD(o, "address", s.address);
  GP_FIELD(o, "port", s.port);
  GP_FIELD(o, "endpoint", s.endpoint);
  o.field("health", [&](const json& hv, const std::string& p) {
    Obj h(hv, p, c);
    auto& out = s.health.emplace();
    GP_FIELD(h, "consecutiveSuccesses", out.consecutive_successes);
    GP_FIELD(h, "consecutiveFailures", out.consecutive_failures);
    GP_FIELD(h, "lastProbeTime", out.last_probe_time);
    GP_FIELD(h, "firstHealthyTime", out.first_healthy_time);
  });
  GP_FIELD(o, "accrued", s.accrued);
  o.field("conditions",
          [&](const json& cv, const std::string& p) { read_conditions(cv, p, c, s.conditions); });
  GP_FIELD(o, "reason", s.reason);
  GP_FIELD(o, "message", s.message);
  GP_FIELD(o, "observedGeneration", s.observed_generation);
}

void read_provider_spec(const json& v, const std::string& path, const Ctx& c, GpuProviderSpec& s) {
  Obj o(v, path, c);
  GP_FIELD(o, "type", s.type);
  o.field("credentialsSecret", [&](const json& sv, const std::string& p) {
    Obj sec(sv, p, c);
    GP_FIELD(sec, "name", s.credentials_secret.name);
    GP_FIELD(sec, "namespace", s.credentials_secret.namespace_);
    GP_FIELD(sec, "keys", s.credentials_secret.keys);
  });
  o.field("sshPublicKey", [&](const json& kv, const std::string& p) {
    Obj ssh(kv, p, c);
    auto& out = s.ssh_public_key.emplace();
    GP_FIELD(ssh, "value", out.value);
    ssh.field("secretKeyRef", [&](const json& rv, const std::string& rp) {
      Obj ref(rv, rp, c);
      auto& r = out.secret_key_ref.emplace();
      GP_FIELD(ref, "name", r.name);
      GP_FIELD(ref, "namespace", r.namespace_);
      GP_FIELD(ref, "key", r.key);
    });
  });
  o.field("aws", [&](const json& av, const std::string& p) {
    Obj aws(av, p, c);
    auto& out = s.aws.emplace();
    GP_FIELD(aws, "imageId", out.image_id);
    GP_FIELD(aws, "subnetId", out.subnet_id);
    GP_FIELD(aws, "securityGroupIds", out.security_group_ids);
    GP_FIELD(aws, "keyName", out.key_name);
  });
  o.field("fluence", [&](const json& fv, const std::string& p) {
    Obj fluence(fv, p, c);
    auto& out = s.fluence.emplace();
    GP_FIELD(fluence, "osImage", out.os_image);
  });
  o.field("lambda", [&](const json& lv, const std::string& p) {
    Obj lambda(lv, p, c);
    auto& out = s.lambda.emplace();
    GP_FIELD(lambda, "sshKeyName", out.ssh_key_name);
  });
  o.field("scaleway", [&](const json& sv, const std::string& p) {
    Obj scaleway(sv, p, c);
    auto& out = s.scaleway.emplace();
    GP_FIELD(scaleway, "projectId", out.project_id);
  });
  o.field("vastai", [&](const json& vv, const std::string& p) {
    Obj vastai(vv, p, c);
    auto& out = s.vastai.emplace();
    GP_FIELD(vastai, "image", out.image);
    GP_FIELD(vastai, "diskGb", out.disk_gb);
    GP_FIELD(vastai, "verifiedOnly", out.verified_only);
  });
  o.field("runpod", [&](const json& rv, const std::string& p) {
    Obj runpod(rv, p, c);
    auto& out = s.runpod.emplace();
    GP_FIELD(runpod, "image", out.image);
    GP_FIELD(runpod, "diskGb", out.disk_gb);
    GP_FIELD(runpod, "cloudType", out.cloud_type);
    GP_FIELD(runpod, "dataCenterIds", out.data_center_ids);
    GP_FIELD(runpod, "minCudaVersion", out.min_cuda_version);
  });
  o.field("verda", [&](const json& vv, const std::string& p) {
    Obj verda(vv, p, c);
    auto& out = s.verda.emplace();
    GP_FIELD(verda, "image", out.image);
    GP_FIELD(verda, "sshKeyIds", out.ssh_key_ids);
  });
  o.field("digitalocean", [&](const json& dv, const std::string& p) {
    Obj digitalocean(dv, p, c);
    auto& out = s.digitalocean.emplace();
    GP_FIELD(digitalocean, "image", out.image);
    GP_FIELD(digitalocean, "sshKeys", out.ssh_keys);
  });
  o.field("vultr", [&](const json& vv, const std::string& p) {
    Obj vultr(vv, p, c);
    auto& out = s.vultr.emplace();
    GP_FIELD(vultr, "osId", out.os_id);
    GP_FIELD(vultr, "snapshotId", out.snapshot_id);
    GP_FIELD(vultr, "sshKeyIds", out.ssh_key_ids);
  });
  o.field("fake", [&](const json& fv, const std::string& p) {
    Obj fake(fv, p, c);
    auto& out = s.fake.emplace();
    GP_FIELD(fake, "bootSeconds", out.boot_seconds);
    fake.field("capacity", [&](const json& lv, const std::string& lp) {
      read_list(lv, lp, c, out.capacity, [](Obj& oo, FakeCapacity& fc) {
        GP_FIELD(oo, "offerId", fc.offer_id);
        GP_FIELD(oo, "region", fc.region);
        GP_FIELD(oo, "count", fc.count);
      });
    });
  });
  GP_FIELD(o, "regions", s.regions);
  GP_FIELD(o, "endpoint", s.endpoint);
  GP_FIELD(o, "billing", s.billing);
  o.field("priceOverrides", [&](const json& lv, const std::string& lp) {
    read_list(lv, lp, c, s.price_overrides, [](Obj& oo, PriceOverride& po) {
      GP_FIELD(oo, "gpuModel", po.gpu_model);
      GP_FIELD(oo, "region", po.region);
      GP_FIELD(oo, "pricePerGpuHour", po.price_per_gpu_hour);
    });
  });
  GP_FIELD(o, "egressUsdPerGb", s.egress_usd_per_gb);
  o.field("reliability", [&](const json& rv, const std::string& p) {
    ReliabilityTier tier = ReliabilityTier::Datacenter;
    size_t before = c.errors->size();
    read_enum(rv, p, c, kReliabilityTier, tier);
    if (c.errors->size() == before) s.reliability = tier;
  });
  o.field("quota", [&](const json& qv, const std::string& p) {
    Obj q(qv, p, c);
    GP_FIELD(q, "maxInstances", s.quota.max_instances);
    GP_FIELD(q, "maxGpus", s.quota.max_gpus);
  });
  GP_FIELD(o, "pricingRefreshSeconds", s.pricing_refresh_seconds);
  GP_FIELD(o, "paused", s.paused);
}

void read_provider_status(const json& v, const std::string& path, const Ctx& c,
                          GpuProviderStatus& s) {
  Obj o(v, path, c);
  o.field("conditions",
          [&](const json& cv, const std::string& p) { read_conditions(cv, p, c, s.conditions); });
  GP_FIELD(o, "lastPriceRefresh", s.last_price_refresh);
  GP_FIELD(o, "offersSeen", s.offers_seen);
  GP_FIELD(o, "unattributedSpend", s.unattributed_spend);
  GP_FIELD(o, "message", s.message);
  GP_FIELD(o, "observedGeneration", s.observed_generation);
}

#undef GP_FIELD
#undef GP_ENUM

// Checks apiVersion/kind, reads metadata/spec/status with the given readers
// into `out`, appending problems to `errors`.
template <typename T, typename SpecReader, typename StatusReader>
void decode_into(const json& doc, DecodeMode mode, const char* kind, SpecReader spec_reader,
                 StatusReader status_reader, T& out, std::vector<FieldError>& errors) {
  Ctx c{mode, &errors};
  if (!doc.is_object()) {
    c.wrong_type("", "an object", doc);
    return;
  }
  Obj o(doc, "", c);
  std::string api_version;
  std::string doc_kind;
  o.field("apiVersion", [&](const json& v, const std::string& p) { read(v, p, c, api_version); });
  o.field("kind", [&](const json& v, const std::string& p) { read(v, p, c, doc_kind); });
  if (api_version.empty()) {
    if (mode == DecodeMode::Strict) c.error("apiVersion", "Required value");
  } else if (api_version != kApiVersion) {
    c.error("apiVersion", "Unsupported value: \"" + api_version + "\": supported values: \"" +
                              kApiVersion + "\"");
  }
  if (doc_kind.empty()) {
    if (mode == DecodeMode::Strict) c.error("kind", "Required value");
  } else if (doc_kind != kind) {
    c.error("kind", "Unsupported value: \"" + doc_kind + "\": supported values: \"" + kind + "\"");
  }
  o.field("metadata",
          [&](const json& v, const std::string& p) { read_meta(v, p, c, out.metadata); });
  o.field("spec", [&](const json& v, const std::string& p) { spec_reader(v, p, c, out.spec); });
  o.field("status",
          [&](const json& v, const std::string& p) { status_reader(v, p, c, out.status); });
}

DecodeError invalid(std::string_view kind, std::vector<FieldError> errors) {
  DecodeError e;
  e.kind = DecodeError::Kind::Invalid;
  e.message = "invalid " + std::string(kind) + ": " + std::to_string(errors.size()) +
              (errors.size() == 1 ? " error" : " errors") +
              ", first: " + errors.front().to_string();
  e.fields = std::move(errors);
  return e;
}

template <typename T>
Result<T, DecodeError> checked(T value, std::string_view kind, std::vector<FieldError> errors) {
  if (!errors.empty()) return fail(invalid(kind, std::move(errors)));
  return value;
}

void decode_any(const json& doc, DecodeMode mode, GpuPool& out, std::vector<FieldError>& errors) {
  decode_into(doc, mode, kGpuPoolKind, read_pool_spec, read_pool_status, out, errors);
}
void decode_any(const json& doc, DecodeMode mode, GpuInstance& out,
                std::vector<FieldError>& errors) {
  decode_into(doc, mode, kGpuInstanceKind, read_instance_spec, read_instance_status, out, errors);
}
void decode_any(const json& doc, DecodeMode mode, GpuProvider& out,
                std::vector<FieldError>& errors) {
  decode_into(doc, mode, kGpuProviderKind, read_provider_spec, read_provider_status, out, errors);
}

template <typename T>
Result<T, DecodeError> decode_one(const json& doc, DecodeMode mode, std::string_view kind) {
  T out{};
  std::vector<FieldError> errors;
  decode_any(doc, mode, out, errors);
  return checked(std::move(out), kind, std::move(errors));
}

}  // namespace

Result<GpuPool, DecodeError> decode_gpu_pool(const json& doc, DecodeMode mode) {
  return decode_one<GpuPool>(doc, mode, kGpuPoolKind);
}
Result<GpuInstance, DecodeError> decode_gpu_instance(const json& doc, DecodeMode mode) {
  return decode_one<GpuInstance>(doc, mode, kGpuInstanceKind);
}
Result<GpuProvider, DecodeError> decode_gpu_provider(const json& doc, DecodeMode mode) {
  return decode_one<GpuProvider>(doc, mode, kGpuProviderKind);
}

PartialDecode decode_object_partial(const json& doc, DecodeMode mode) {
  PartialDecode out;
  std::string api_version;
  std::string kind;
  if (doc.is_object()) {
    auto av = doc.find("apiVersion");
    if (av != doc.end() && av->is_string()) api_version = av->get<std::string>();
    auto k = doc.find("kind");
    if (k != doc.end() && k->is_string()) kind = k->get<std::string>();
  }
  if (api_version == kApiVersion) {
    auto run = [&](auto value) {
      decode_any(doc, mode, value, out.errors);
      out.object = ApiObject(std::move(value));
    };
    if (kind == kGpuPoolKind) run(GpuPool{});
    if (kind == kGpuInstanceKind) run(GpuInstance{});
    if (kind == kGpuProviderKind) run(GpuProvider{});
    if (out.object) return out;
  }
  std::string what = (api_version.empty() ? std::string("<no apiVersion>") : api_version) + ", " +
                     (kind.empty() ? std::string("<no kind>") : kind);
  out.unknown_kind = true;
  out.errors.push_back(
      FieldError{kind.empty() || api_version == kApiVersion ? "kind" : "apiVersion",
                 "not a gpupool.io/v1alpha1 GpuPool, GpuInstance or GpuProvider: " + what, -1});
  return out;
}

Result<ApiObject, DecodeError> decode_object(const json& doc, DecodeMode mode) {
  PartialDecode partial = decode_object_partial(doc, mode);
  if (partial.unknown_kind) {
    DecodeError e;
    e.kind = DecodeError::Kind::UnknownKind;
    e.message = partial.errors.front().message;
    e.fields = std::move(partial.errors);
    return fail(std::move(e));
  }
  if (!partial.errors.empty()) {
    return fail(invalid(kind_of(*partial.object), std::move(partial.errors)));
  }
  return std::move(*partial.object);
}

Result<json, DecodeError> parse_json(std::string_view text) {
  try {
    return json::parse(text.begin(), text.end());
  } catch (const json::exception& ex) {
    DecodeError e;
    e.kind = DecodeError::Kind::Syntax;
    e.message = std::string("invalid JSON: ") + ex.what();
    e.fields.push_back(FieldError{"", e.message, -1});
    return fail(std::move(e));
  }
}

const ObjectMeta& metadata_of(const ApiObject& object) {
  return std::visit([](const auto& o) -> const ObjectMeta& { return o.metadata; }, object);
}

std::string_view kind_of(const ApiObject& object) {
  switch (object.index()) {
    case 0:
      return kGpuPoolKind;
    case 1:
      return kGpuInstanceKind;
    default:
      return kGpuProviderKind;
  }
}

}  // namespace gpupool::api
