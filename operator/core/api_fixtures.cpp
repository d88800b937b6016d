#include "operator/core/api_fixtures.h"

namespace gpupool::api::fixtures {

namespace {

Time at(int64_t seconds) {
  return Time(Duration(seconds));
}

ObjectMeta full_meta(const std::string& name, const std::string& ns) {
  ObjectMeta m;
  m.name = name;
  m.namespace_ = ns;
  m.uid = "6f1c2b9e-4d1a-4c55-9a53-0a1b2c3d4e5f";
  m.resource_version = "4711";
  m.generation = 3;
  m.labels = {{"app", "llm"}, {"team", "ml"}};
  m.annotations = {{"gpupool.io/note", "fixture"}};
  m.owner_references.push_back(OwnerReference{kApiVersion, kGpuPoolKind, "owner",
                                              "0a0b0c0d-0000-4000-8000-000000000001", true, true});
  m.finalizers = {"gpupool.io/finalizer"};
  m.creation_timestamp = at(1'790'000'000);
  m.deletion_timestamp = at(1'790'003'600);
  return m;
}

Condition full_condition(const std::string& type) {
  Condition c;
  c.type = type;
  c.status = ConditionStatus::True;
  c.reason = "AllGood";
  c.message = "everything is fine";
  c.last_transition_time = at(1'790'000'100);
  c.observed_generation = 3;
  return c;
}

BillingRule full_billing() {
  BillingRule b;
  b.minimum = Duration(3 * 3600);
  b.increment = Duration(3600);
  b.alignment = BillingAlignment::WallClock;
  b.minimum_kind = MinimumKind::Deposit;
  b.egress_per_gb = Money::from_micros(90'000);
  return b;
}

UsageSpec full_usage() {
  UsageSpec u;
  u.mode = UsageMode::Endpoint;
  u.node.bootstrap_script = "#!/bin/sh\necho join\n";
  u.node.labels = {{"gpupool.io/pool", "llm"}};
  u.node.taints = {"nvidia.com/gpu=present:NoSchedule"};
  u.node.registration_timeout_seconds = 600;
  u.node.drain_timeout_seconds = 120;
  u.endpoint.image = "ghcr.io/example/vllm:0.6";
  u.endpoint.port = 8080;
  u.endpoint.args = {"--model", "meta-llama/Llama-3.1-8B"};
  u.endpoint.env = {{"HF_HOME", "/cache"}, {"LOG_LEVEL", "info"}, {"EMPTY", ""}};
  EnvVar token;
  token.name = "HF_TOKEN";
  token.value_from = EnvVarSource{SecretKeyRef{"hf", "", "token"}};
  u.endpoint.env.push_back(token);
  u.endpoint.health_path = "/healthz";
  u.endpoint.health_check.period_seconds = 15;
  u.endpoint.health_check.timeout_seconds = 3;
  u.endpoint.health_check.failure_threshold = 4;
  u.endpoint.health_check.success_threshold = 2;
  u.endpoint.health_check.startup_timeout_seconds = 1200;
  u.endpoint.health_check.unhealthy_timeout_seconds = 1800;
  u.endpoint.service_name = "llm-api";
  u.endpoint.disk_gb = 200;
  return u;
}

}  // namespace

GpuPool full_gpu_pool() {
  GpuPool p;
  p.metadata = full_meta("llm", "inference");
  auto& s = p.spec;
  s.gpu.models = {{"L40S", 1.0}, {"L40", 0.8}};
  s.gpu.count = 2;
  s.replicas.count = 3;
  s.replicas.min = 1;
  s.replicas.max = 6;
  s.providers = {{"fluence", Money::from_cents(180), {"eu-west", "us-east"}},
                 {"runpod", Money::from_cents(95), {"EU-RO-1"}}};
  s.reliability = ReliabilityRequirement::Any;
  s.spot.allowed = true;
  s.budget.max_usd_per_hour = Money::from_dollars(20);
  s.budget.max_usd_per_month = Money::from_dollars(9000);
  s.egress.gb_per_gpu_hour = 1.5;
  s.planning.expected_lifetime_hours = 48.0;
  s.lifecycle.park_margin_seconds = 90;
  s.lifecycle.adoption_grace_seconds = 900;
  s.lifecycle.min_park_seconds = 300;
  s.autoscaling.enabled = true;
  s.autoscaling.metrics = {
      {MetricType::QueueDepth, 8.0, std::nullopt, std::string("http://prometheus:9090")},
      {MetricType::External, 0.5, std::string("sum(rate(x[1m]))"), std::nullopt}};
  s.autoscaling.scale_up_stabilization_seconds = 30;
  s.autoscaling.scale_down_stabilization_seconds = 600;
  s.autoscaling.tolerance = 0.15;
  s.autoscaling.scale_up = {2, 50, 30};
  s.autoscaling.scale_down = {1, 20, 120};
  s.autoscaling.schedules = {{"0 8 * * 1-5", "0 20 * * 1-5", "Europe/Berlin", 2}};
  s.usage = full_usage();
  auto& st = p.status;
  st.observed_generation = 3;
  st.replicas = {3, 1, 2, 1};
  AutoscalingStatus as;
  as.desired = 3;
  as.recommended = 4;
  as.reason = "metrics[0] QueueDepth 30 / 8 per replica -> 4";
  as.clamped_by = "stepLimit";
  as.schedule_min = 2;
  as.metrics = {{MetricType::QueueDepth, 30.0, ""},
                {MetricType::External, std::nullopt, "the query returned no series"}};
  as.expected_lifetime_hours = 2.5;
  as.last_scale_time = at(1'790'000'100);
  as.history = {{at(1'790'000'000), 2, 2}, {at(1'790'000'100), 4, 2}};
  st.autoscaling = as;
  st.conditions = {full_condition("Ready"), full_condition("BudgetExceeded")};
  st.spend.accrued = Money::from_micros(12'345'678);
  st.spend.committed = Money::from_micros(2'500'000);
  st.spend.hourly_burn = Money::from_micros(5'120'000);
  st.spend.month_to_date = Money::from_micros(99'000'001);
  st.spend.month = "2026-11";
  st.spend.last_updated = at(1'790'000'200);
  st.terminated_spend = Money::from_micros(7'000'000);
  st.selector = "gpupool.io/pool=llm";
  return p;
}

GpuInstance full_gpu_instance() {
  GpuInstance i;
  i.metadata = full_meta("llm-7f3a9", "inference");
  auto& s = i.spec;
  s.pool = "llm";
  s.offer.provider = "fluence";
  s.offer.provider_type = "fluence";
  s.offer.offer_id = "l40s-2x-eu";
  s.offer.region = "eu-west";
  s.offer.gpu_model = "L40S";
  s.offer.gpu_count = 2;
  s.offer.price_per_hour = Money::from_micros(2'540'000);
  s.offer.billing = full_billing();
  s.offer.tier = ReliabilityTier::Community;
  s.offer.spot = true;
  s.offer.egress_usd_per_hour = Money::from_micros(240'000);
  s.usage = full_usage();
  // The other way to give the bootstrap template (at most one is set).
  s.usage.node.bootstrap_script.clear();
  s.usage.node.bootstrap_secret_ref = {"join-template", "", "cloud-init.yaml"};
  auto& st = i.status;
  st.phase = InstancePhase::Parked;
  st.provider_id = "vm-123";
  st.region = "eu-west";
  st.price_per_hour = Money::from_micros(2'540'000);
  st.billing = full_billing();
  st.launch_time = at(1'790'000'000);
  st.paid_through = at(1'790'010'800);
  st.parked_at = at(1'790'005'000);
  st.ended_at = at(1'790'010'700);
  st.drain_started_at = at(1'790'010'400);
  st.node_name = "gpu-node-1";
  st.bootstrap_token_secret = "bootstrap-token-abc123";
  st.address = "10.0.0.7";
  st.port = 8080;
  st.endpoint = "http://10.0.0.7:8080";
  st.health = EndpointHealthStatus{2, 0, at(1'790'004'990), at(1'790'000'300)};
  st.accrued = Money::from_micros(7'620'000);
  st.conditions = {full_condition("Ready")};
  st.reason = "RegistrationTimeout";  // (a Failed machine's; every field is set here)
  st.message = "parked until the paid window ends";
  st.observed_generation = 3;
  return i;
}

GpuProvider full_gpu_provider() {
  GpuProvider p;
  p.metadata = full_meta("fluence", "");
  auto& s = p.spec;
  s.type = "fluence";
  s.credentials_secret.name = "fluence-credentials";
  s.credentials_secret.namespace_ = "gpupool-system";
  s.credentials_secret.keys = {{"apiKey", "token"}};
  s.ssh_public_key =
      SshPublicKeySpec{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFIXTURE ops@example", std::nullopt};
  s.fluence = FluenceSettings{"ubuntu22.04_cuda12.4_shade_os"};
  s.regions = {"eu-west", "us-east"};
  s.endpoint = "https://api.fluence.example/v1";
  s.billing = full_billing();
  s.price_overrides = {{"L40S", std::string("eu-west"), Money::from_cents(150)},
                       {"L40", std::nullopt, Money::from_cents(110)}};
  s.egress_usd_per_gb = Money::from_cents(1);
  s.reliability = ReliabilityTier::Datacenter;
  s.quota.max_instances = 10;
  s.quota.max_gpus = 20;
  s.pricing_refresh_seconds = 1800;
  s.paused = true;
  auto& st = p.status;
  st.conditions = {full_condition("Healthy")};
  st.last_price_refresh = at(1'790'000'300);
  st.offers_seen = 17;
  st.unattributed_spend = Money::from_micros(2'540'000);
  st.message = "prices refreshed";
  st.observed_generation = 3;
  return p;
}

std::vector<GpuProvider> full_gpu_providers() {
  std::vector<GpuProvider> out = {full_gpu_provider()};
  // Lean: the fields every type shares are already in the first object.
  auto variant = [&](const char* type) -> GpuProviderSpec& {
    GpuProvider p;
    p.metadata.name = type;
    p.spec.type = type;
    p.spec.credentials_secret.name = std::string(type) + "-credentials";
    out.push_back(std::move(p));
    return out.back().spec;
  };
  auto& aws = variant("aws");
  aws.ssh_public_key = SshPublicKeySpec{"", SecretKeyRef{"ops-ssh", "gpupool-system", "id.pub"}};
  aws.aws = AwsSettings{
      "ami-0123456789abcdef0", "subnet-0a1b2c3d", {"sg-0123abcd", "sg-89abcdef01234567"}, "ops"};
  variant("lambda").lambda = LambdaSettings{"ops-key"};
  variant("scaleway").scaleway = ScalewaySettings{"6f1c2b3a-0d4e-4f5a-8b7c-9d0e1f2a3b4c"};
  variant("fake").fake = FakeSettings{7, {{"l40s-1", "local", 2}, {"l40-1", "local", 0}}};
  variant("vastai").vastai = VastaiSettings{"vastai/base-image:cuda-12.4", 100, false};
  variant("runpod").runpod =
      RunpodSettings{"runpod/pytorch:2.4.0-py3.11-cuda12.4.1-devel-ubuntu22.04",
                     80,
                     "SECURE",
                     {"US-TX-3", "EUR-IS-1"},
                     "12.4"};
  variant("verda").verda =
      VerdaSettings{"ubuntu-24.04-cuda-12.8-open-docker", {"0b0c31d2-4d2b-4c1e-9f00-00000000a001"}};
  variant("digitalocean").digitalocean = DigitaloceanSettings{
      "gpu-h100x1-base", {"512190", "3b:16:bf:e4:8b:00:8b:b8:59:8c:a9:d3:f0:19:45:fa"}};
  variant("vultr").vultr = VultrSettings{2284, "", {"cb676a46-66fd-4dfb-b839-443f2e6c0b60"}};
  // Vultr's other image choice, a snapshot, in its own object (at most one of the two).
  variant("vultr").vultr = VultrSettings{std::nullopt, "9c3a1c2e-7f4b-4a3d-8e21-5b6f0d9e1a22", {}};
  out.back().metadata.name = "vultr-snapshot";
  return out;
}

GpuPool minimal_valid_pool() {
  GpuPool p;
  p.metadata.name = "small";
  p.metadata.namespace_ = "default";
  p.spec.gpu.models = {{"L40S", 1.0}};
  p.spec.replicas.min = 1;
  p.spec.replicas.max = 3;
  p.spec.replicas.count = 2;
  p.spec.providers = {{"fluence", std::nullopt, {}}, {"runpod", std::nullopt, {}}};
  return p;
}

}  // namespace gpupool::api::fixtures
