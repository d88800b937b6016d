#include "operator/core/api_validation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>

#include "operator/core/api_fixtures.h"

namespace gpupool::api {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::vector<std::string> messages(const std::vector<FieldError>& errors) {
  std::vector<std::string> out;
  for (const auto& e : errors)
    out.push_back(e.to_string());
  return out;
}

GpuPool pool_with(const std::function<void(GpuPool&)>& edit) {
  GpuPool p = fixtures::minimal_valid_pool();
  edit(p);
  return p;
}

TEST(ApiValidation, FixturesAreValid) {
  EXPECT_THAT(messages(validate(fixtures::minimal_valid_pool())), IsEmpty());
  EXPECT_THAT(messages(validate(fixtures::full_gpu_pool())), IsEmpty());
  EXPECT_THAT(messages(validate(fixtures::full_gpu_instance())), IsEmpty());
  EXPECT_THAT(messages(validate(fixtures::full_gpu_provider())), IsEmpty());
}

TEST(ApiValidation, DefaultsFillCountAndMax) {
  GpuPool p = pool_with([](GpuPool& x) {
    x.spec.replicas = ReplicasSpec{};
    x.spec.replicas.min = 2;
  });
  EXPECT_EQ(fixed_replicas(p.spec), 2);
  EXPECT_EQ(max_replicas(p.spec), 2);
  apply_defaults(p);
  EXPECT_EQ(p.spec.replicas.count, 2);
  EXPECT_EQ(p.spec.replicas.max, 2);
  GpuPool again = p;
  apply_defaults(again);
  EXPECT_EQ(again, p);  // idempotent
  EXPECT_THAT(messages(validate(p)), IsEmpty());

  GpuPool q = pool_with([](GpuPool& x) { x.spec.replicas = ReplicasSpec{5, 1, std::nullopt}; });
  apply_defaults(q);
  EXPECT_EQ(q.spec.replicas.max, 5);
  EXPECT_THAT(messages(validate(q)), IsEmpty());
}

struct BadPoolCase {
  const char* name;
  std::function<void(GpuPool&)> edit;
  std::vector<std::string> expected;
};

class BadPool : public ::testing::TestWithParam<BadPoolCase> {};

TEST_P(BadPool, ReportsExactlyTheExpectedErrors) {
  const auto& c = GetParam();
  EXPECT_EQ(messages(validate(pool_with(c.edit))), c.expected);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BadPool,
    ::testing::Values(
        BadPoolCase{"MaxBelowMin",
                    [](GpuPool& p) {
                      p.spec.replicas = {std::nullopt, 4, 2};
                    },
                    {"spec.replicas.max: must be >= spec.replicas.min (4)"}},
        BadPoolCase{"CountOutsideRange",
                    [](GpuPool& p) { p.spec.replicas.count = 7; },
                    {"spec.replicas.count: must be within [spec.replicas.min, spec.replicas.max] "
                     "when autoscaling is off"}},
        BadPoolCase{"CountOutsideRangeIsFineWhenAutoscaling",
                    [](GpuPool& p) {
                      p.spec.replicas.count = 7;
                      p.spec.autoscaling.enabled = true;
                      p.spec.autoscaling.metrics = {{MetricType::QueueDepth, 4, std::nullopt}};
                    },
                    {}},
        BadPoolCase{"NegativeReplicas",
                    [](GpuPool& p) {
                      p.spec.replicas = {-1, -2, -3};
                    },
                    {"spec.replicas.min: must be >= 0", "spec.replicas.count: must be >= 0",
                     "spec.replicas.max: must be >= 0",
                     "spec.replicas.max: must be >= spec.replicas.min (-2)",
                     "spec.replicas.count: must be within [spec.replicas.min, spec.replicas.max] "
                     "when autoscaling is off"}},
        BadPoolCase{"BootstrapScriptAndSecretRefTogether",
                    [](GpuPool& p) {
                      p.spec.usage.node.bootstrap_script = "#!/bin/sh\n";
                      p.spec.usage.node.bootstrap_secret_ref = {"join", "", "script"};
                    },
                    {"spec.usage.node.bootstrapSecretRef: must not be set together with "
                     "bootstrapScript"}},
        BadPoolCase{"BootstrapSecretRefWithBadNameAndKey",
                    [](GpuPool& p) {
                      p.spec.usage.node.bootstrap_script.clear();
                      p.spec.usage.node.bootstrap_secret_ref = {"Bad_Name", "", "a/b"};
                    },
                    {"spec.usage.node.bootstrapSecretRef.name: invalid name \"Bad_Name\": must be "
                     "lower-case alphanumerics, '-' or '.', start and end with an alphanumeric, at "
                     "most 253 characters",
                     "spec.usage.node.bootstrapSecretRef.key: must be a Secret data key: letters, "
                     "digits, '-', '.', '_'"}},
        BadPoolCase{"BootstrapTemplateErrorNamesLineAndColumn",
                    [](GpuPool& p) {
                      p.spec.usage.node.bootstrap_script =
                          "#!/bin/sh\necho {{ instance.nam | shell }}\n";
                    },
                    {"spec.usage.node.bootstrapScript: line 2, column 6: unknown variable "
                     "\"instance.nam\" (known: instance.name, pool.name, pool.namespace, "
                     "node.labels, node.taints, token, token.id, token.secret)"}},
        BadPoolCase{"TooManyReplicas",
                    [](GpuPool& p) { p.spec.replicas.max = 5000; },
                    {"spec.replicas.max: must be <= 1000"}},
        // Issue 8, defect 8: count and min were unbounded without max.
        BadPoolCase{"HugeCountWithoutMax",
                    [](GpuPool& p) {
                      p.spec.replicas = {2'000'000'000, 0, std::nullopt};
                      p.spec.autoscaling.enabled = true;
                      p.spec.autoscaling.metrics = {{MetricType::QueueDepth, 4, std::nullopt}};
                    },
                    {"spec.replicas.count: must be <= 1000"}},
        BadPoolCase{"HugeMinWithoutMax",
                    [](GpuPool& p) {
                      p.spec.replicas = {std::nullopt, 2'000'000'000, std::nullopt};
                    },
                    {"spec.replicas.min: must be <= 1000"}},
        // Issue 8, defect 7: money beyond sane maxima is refused, not wrapped.
        BadPoolCase{"AbsurdMoney",
                    [](GpuPool& p) {
                      p.spec.budget.max_usd_per_month = Money::parse("9223372036854.775807");
                      p.spec.budget.max_usd_per_hour = Money::parse("-1");
                      p.spec.providers[0].max_price_per_gpu_hour =
                          Money::parse("4611686018427.387905");
                      p.spec.egress.gb_per_gpu_hour = 1e7;
                    },
                    {"spec.providers[0].maxPricePerGpuHour: must be at most 99999.999999, got "
                     "4611686018427.387905",
                     "spec.budget.maxUsdPerHour: must not be negative, got -1",
                     "spec.budget.maxUsdPerMonth: must be at most 9999999999.999999, got "
                     "9223372036854.775807",
                     "spec.egress.gbPerGpuHour: must be at most 1000000"}},
        BadPoolCase{"ZeroThroughputWeight",
                    [](GpuPool& p) {
                      p.spec.gpu.models.push_back({"L40", 0.0});
                    },
                    {"spec.gpu.models[1].throughputWeight: must be > 0"}},
        BadPoolCase{"NoModels",
                    [](GpuPool& p) { p.spec.gpu.models.clear(); },
                    {"spec.gpu.models: must list at least one GPU model"}},
        BadPoolCase{"EmptyAndDuplicateModel",
                    [](GpuPool& p) {
                      p.spec.gpu.models = {{"L40S", 1}, {"", 1}, {"L40S", 1}};
                    },
                    {"spec.gpu.models[1].name: must not be empty",
                     "spec.gpu.models[2].name: duplicate value \"L40S\""}},
        BadPoolCase{"GpuCountRange",
                    [](GpuPool& p) { p.spec.gpu.count = 0; },
                    {"spec.gpu.count: must be between 1 and 16, got 0"}},
        BadPoolCase{"EmptyProviderName",
                    [](GpuPool& p) { p.spec.providers[0].name = ""; },
                    {"spec.providers[0].name: must not be empty"}},
        BadPoolCase{"DuplicateProvider",
                    [](GpuPool& p) { p.spec.providers[1].name = "fluence"; },
                    {"spec.providers[1].name: duplicate provider \"fluence\""}},
        BadPoolCase{"InvalidProviderName",
                    [](GpuPool& p) { p.spec.providers[1].name = "Run_Pod"; },
                    {"spec.providers[1].name: invalid name \"Run_Pod\": must be lower-case "
                     "alphanumerics, '-' or '.', start and end with an alphanumeric, at most "
                     "253 characters"}},
        BadPoolCase{"NoProviders",
                    [](GpuPool& p) { p.spec.providers.clear(); },
                    {"spec.providers: must list at least one provider"}},
        BadPoolCase{"ZeroPriceCapAndBadRegions",
                    [](GpuPool& p) {
                      p.spec.providers[0].max_price_per_gpu_hour = Money();
                      p.spec.providers[0].regions = {"eu", "", "eu"};
                    },
                    {"spec.providers[0].maxPricePerGpuHour: must be > 0",
                     "spec.providers[0].regions[1]: must not be empty",
                     "spec.providers[0].regions[2]: duplicate value \"eu\""}},
        BadPoolCase{"NegativeBudget",
                    [](GpuPool& p) {
                      p.spec.budget.max_usd_per_hour = Money::from_cents(-1);
                      p.spec.budget.max_usd_per_month = Money::from_dollars(-5);
                    },
                    {"spec.budget.maxUsdPerHour: must not be negative, got -0.01",
                     "spec.budget.maxUsdPerMonth: must not be negative, got -5"}},
        BadPoolCase{"ZeroBudgetIsAllowed",
                    [](GpuPool& p) { p.spec.budget.max_usd_per_hour = Money(); },
                    {}},
        BadPoolCase{"NegativeEgressAndLifetime",
                    [](GpuPool& p) {
                      p.spec.egress.gb_per_gpu_hour = -1;
                      p.spec.planning.expected_lifetime_hours = 0;
                    },
                    {"spec.egress.gbPerGpuHour: must be >= 0",
                     "spec.planning.expectedLifetimeHours: must be > 0"}},
        BadPoolCase{"NegativeLifecycle",
                    [](GpuPool& p) {
                      p.spec.lifecycle.park_margin_seconds = -1;
                      p.spec.lifecycle.adoption_grace_seconds = -1;
                    },
                    {"spec.lifecycle.parkMarginSeconds: must be >= 0",
                     "spec.lifecycle.adoptionGraceSeconds: must be >= 0"}},
        BadPoolCase{"AutoscalingWithoutMetrics",
                    [](GpuPool& p) { p.spec.autoscaling.enabled = true; },
                    {"spec.autoscaling.metrics: must list at least one metric when autoscaling "
                     "is enabled"}},
        BadPoolCase{"BadMetrics",
                    [](GpuPool& p) {
                      p.spec.autoscaling.metrics = {{MetricType::External, 1, std::nullopt},
                                                    {MetricType::QueueDepth, -2, std::string("")}};
                      p.spec.autoscaling.scale_down_stabilization_seconds = -5;
                    },
                    {"spec.autoscaling.metrics[0].query: must not be empty for an External "
                     "metric",
                     "spec.autoscaling.metrics[1].target: must be > 0",
                     "spec.autoscaling.metrics[1].query: must not be empty when set",
                     "spec.autoscaling.scaleDownStabilizationSeconds: must be >= 0"}},
        BadPoolCase{"BadScalingSafeguards",
                    [](GpuPool& p) {
                      p.spec.autoscaling.metrics = {
                          {MetricType::QueueDepth, 1, std::nullopt, std::string("prom:9090")}};
                      p.spec.autoscaling.tolerance = 1.5;
                      p.spec.autoscaling.scale_up = {0, 0, 60};
                      p.spec.autoscaling.scale_down = {-1, 10, 0};
                    },
                    {"spec.autoscaling.metrics[0].prometheusUrl: must start with http:// or "
                     "https://",
                     "spec.autoscaling.tolerance: must be between 0 and 1",
                     "spec.autoscaling.scaleUp: pods or percent must be > 0",
                     "spec.autoscaling.scaleDown.pods: must be between 0 and 1000",
                     "spec.autoscaling.scaleDown.periodSeconds: must be between 1 and 3600"}},
        BadPoolCase{"PendingPodsOnlyInNodeModeAndWithoutAQuery",
                    [](GpuPool& p) {
                      p.spec.usage.mode = UsageMode::Endpoint;
                      p.spec.usage.endpoint.image = "vllm";
                      p.spec.autoscaling.metrics = {
                          {MetricType::PendingPods, 1, std::string("up"), std::nullopt}};
                    },
                    {"spec.autoscaling.metrics[0].type: PendingPods needs spec.usage.mode Node "
                     "(pods run on the pool's Nodes)",
                     "spec.autoscaling.metrics[0].query: PendingPods is counted from the API; "
                     "query and prometheusUrl do not apply"}},
        BadPoolCase{"BadSchedules",
                    [](GpuPool& p) {
                      p.spec.autoscaling.schedules = {{"0 8 * *", "", "../etc/passwd", -1}};
                    },
                    {"spec.autoscaling.schedules[0].start: expected 5 fields (minute hour "
                     "day-of-month month day-of-week), got 4",
                     "spec.autoscaling.schedules[0].end: must not be empty",
                     "spec.autoscaling.schedules[0].timeZone: must be an IANA time zone name "
                     "such as \"Europe/Berlin\"",
                     "spec.autoscaling.schedules[0].minReplicas: must be between 0 and 1000"}},
        BadPoolCase{"EndpointWithoutImage",
                    [](GpuPool& p) { p.spec.usage.mode = UsageMode::Endpoint; },
                    {"spec.usage.endpoint.image: must not be empty when mode is Endpoint"}},
        BadPoolCase{"EndpointDetails",
                    [](GpuPool& p) {
                      p.spec.usage.mode = UsageMode::Endpoint;
                      p.spec.usage.endpoint.image = "vllm";
                      p.spec.usage.endpoint.port = 0;
                      p.spec.usage.endpoint.health_path = "health";
                      p.spec.usage.endpoint.service_name = "Chat";
                      p.spec.usage.endpoint.disk_gb = 5;
                      p.spec.usage.endpoint.env = {{"A", "1"}, {"A", "2"}, {"", "3"}};
                    },
                    {"spec.usage.endpoint.port: must be between 1 and 65535, got 0",
                     "spec.usage.endpoint.diskGb: must be within [10, 2048], got 5",
                     "spec.usage.endpoint.healthPath: must start with '/'",
                     "spec.usage.endpoint.serviceName: invalid Service name \"Chat\": must be "
                     "lower case letters, digits and '-', start with a letter and end with a "
                     "letter or digit, at most 63 characters",
                     "spec.usage.endpoint.env[1].name: duplicate value \"A\"",
                     "spec.usage.endpoint.env[2].name: must not be empty"}},
        BadPoolCase{
            "EnvValueAndValueFrom",
            [](GpuPool& p) {
              EnvVar both{"A", "1", EnvVarSource{SecretKeyRef{"s", "", "k"}}};
              EnvVar neither{"B", std::nullopt, std::nullopt};
              EnvVar bad_ref{"C", std::nullopt, EnvVarSource{SecretKeyRef{"Bad_Name", "", "a/b"}}};
              p.spec.usage.endpoint.env = {both, neither, bad_ref};
            },
            {"spec.usage.endpoint.env[0]: set exactly one of value and valueFrom, not both",
             "spec.usage.endpoint.env[1]: set exactly one of value and valueFrom",
             "spec.usage.endpoint.env[2].valueFrom.secretKeyRef.name: invalid name "
             "\"Bad_Name\": must be lower-case alphanumerics, '-' or '.', start and end "
             "with an alphanumeric, at most 253 characters",
             "spec.usage.endpoint.env[2].valueFrom.secretKeyRef.key: must be a Secret "
             "data key: letters, digits, '-', '.', '_'"}},
        BadPoolCase{"HealthCheckOutOfRange",
                    [](GpuPool& p) {
                      HealthCheckSpec& h = p.spec.usage.endpoint.health_check;
                      h.period_seconds = 0;
                      h.timeout_seconds = 61;
                      h.failure_threshold = 0;
                      h.success_threshold = 101;
                      h.startup_timeout_seconds = 59;
                    },
                    {"spec.usage.endpoint.healthCheck.periodSeconds: must be between 1 and 3600, "
                     "got 0",
                     "spec.usage.endpoint.healthCheck.timeoutSeconds: must be between 1 and 60, "
                     "got 61",
                     "spec.usage.endpoint.healthCheck.failureThreshold: must be between 1 and "
                     "100, got 0",
                     "spec.usage.endpoint.healthCheck.successThreshold: must be between 1 and "
                     "100, got 101",
                     "spec.usage.endpoint.healthCheck.startupTimeoutSeconds: must be between 60 "
                     "and 86400, got 59"}},
        BadPoolCase{"HealthCheckTimeoutLongerThanPeriod",
                    [](GpuPool& p) {
                      p.spec.usage.endpoint.health_check.period_seconds = 5;
                      p.spec.usage.endpoint.health_check.timeout_seconds = 6;
                    },
                    {"spec.usage.endpoint.healthCheck.timeoutSeconds: must not exceed "
                     "periodSeconds (5)"}},
        BadPoolCase{"BadTaint",
                    [](GpuPool& p) {
                      p.spec.usage.node.taints = {"gpu=true:NoSchedule", "gpu", "a:Sometimes"};
                    },
                    {"spec.usage.node.taints[1]: invalid taint \"gpu\": must be "
                     "key[=value]:Effect with Effect NoSchedule, PreferNoSchedule or NoExecute",
                     "spec.usage.node.taints[2]: invalid taint \"a:Sometimes\": must be "
                     "key[=value]:Effect with Effect NoSchedule, PreferNoSchedule or "
                     "NoExecute"}},
        BadPoolCase{"DrainTimeoutOutOfRange",
                    [](GpuPool& p) { p.spec.usage.node.drain_timeout_seconds = 3601; },
                    {"spec.usage.node.drainTimeoutSeconds: must be between 0 and 3600"}},
        BadPoolCase{"NegativeDrainTimeout",
                    [](GpuPool& p) { p.spec.usage.node.drain_timeout_seconds = -1; },
                    {"spec.usage.node.drainTimeoutSeconds: must be between 0 and 3600"}},
        BadPoolCase{"BadMetadata",
                    [](GpuPool& p) {
                      p.metadata.name = "";
                      p.metadata.namespace_ = "Bad_NS";
                    },
                    {"metadata.name: must not be empty",
                     "metadata.namespace: invalid namespace \"Bad_NS\""}}),
    [](const ::testing::TestParamInfo<BadPoolCase>& param_info) { return param_info.param.name; });

TEST(ApiValidation, ReportsEveryProblemAtOnce) {
  GpuPool p = pool_with([](GpuPool& x) {
    x.spec.replicas = {std::nullopt, 3, 1};
    x.spec.gpu.models.push_back({"L40", -1});
    x.spec.providers[0].name = "";
    x.spec.budget.max_usd_per_hour = Money::from_dollars(-1);
    x.spec.autoscaling.enabled = true;
  });
  EXPECT_EQ(validate(p).size(), 5u);
}

TEST(ApiValidation, InstanceChecks) {
  GpuInstance i = fixtures::full_gpu_instance();
  i.spec.pool = "";
  i.spec.offer.provider_type = "azure";
  i.spec.offer.gpu_count = 0;
  i.spec.offer.billing.increment = Duration(0);
  i.spec.offer.price_per_hour = Money::from_cents(-1);
  auto m = messages(validate(i));
  EXPECT_THAT(m, ElementsAre("spec.pool: must not be empty",
                             ::testing::StartsWith("spec.offer.providerType: Unsupported value: "
                                                   "\"azure\": supported values: \"fluence\""),
                             "spec.offer.gpuCount: must be >= 1",
                             "spec.offer.pricePerHour: must not be negative, got -0.01",
                             "spec.offer.billing.incrementSeconds: must be > 0"));
}

TEST(ApiValidation, ProviderChecks) {
  GpuProvider p = fixtures::full_gpu_provider();
  p.metadata.namespace_ = "default";
  p.spec.type = "azure";
  p.spec.fluence.reset();  // a fluence block on another type is refused (SettingsBlocks below)
  p.spec.credentials_secret.name = "";
  p.spec.endpoint = "ftp://x";
  p.spec.price_overrides.push_back({"L40S", std::string("eu-west"), Money::from_cents(1)});
  p.spec.egress_usd_per_gb = Money::from_cents(-1);
  p.spec.quota.max_gpus = -1;
  p.spec.pricing_refresh_seconds = 10;
  p.spec.regions = {"eu-west", "eu-west"};
  auto m = messages(validate(p));
  EXPECT_THAT(
      m,
      ElementsAre("metadata.namespace: must be empty: the resource is cluster-scoped",
                  ::testing::StartsWith("spec.type: Unsupported value: \"azure\""),
                  "spec.credentialsSecret.name: must not be empty",
                  "spec.regions[1]: duplicate value \"eu-west\"",
                  "spec.endpoint: must be an http:// or https:// URL",
                  "spec.priceOverrides[2]: duplicate override for \"L40S\" in \"eu-west\"",
                  "spec.egressUsdPerGb: must not be negative, got -0.01",
                  "spec.quota.maxGpus: must be >= 0", "spec.pricingRefreshSeconds: must be >= 60"));

  GpuProvider fake;
  fake.metadata.name = "fake";
  fake.spec.type = "fake";
  EXPECT_THAT(messages(validate(fake)), IsEmpty());
}

TEST(ApiValidation, DnsNames) {
  EXPECT_TRUE(is_dns1123_subdomain("fluence-main.eu"));
  EXPECT_FALSE(is_dns1123_subdomain("-x"));
  EXPECT_FALSE(is_dns1123_subdomain("X"));
  EXPECT_FALSE(is_dns1123_subdomain(std::string(254, 'a')));
  EXPECT_TRUE(is_dns1123_label("default"));
  EXPECT_FALSE(is_dns1123_label("a.b"));
  EXPECT_FALSE(is_dns1123_label(std::string(64, 'a')));
}

TEST(ApiValidation, ValidateAnyObject) {
  ApiObject o = fixtures::full_gpu_provider();
  EXPECT_THAT(messages(validate(o)), IsEmpty());
  ApiObject bad = GpuPool{};
  EXPECT_FALSE(validate(bad).empty());
}

}  // namespace
}  // namespace gpupool::api

namespace gpupool::api {
namespace {

TEST(LoadObjects, ReportsDecodeAndValidationErrorsTogether) {
  auto r = load_objects(R"(apiVersion: gpupool.io/v1alpha1
kind: GpuPool
metadata: {name: p, namespace: default}
spec:
  gpu: {models: [{name: L40S}, {name: L40, throughputWeight: 0}], count: "one"}
  replicas: {min: 4, max: 2}
  providers: [{name: fluence}, {name: fluence}]
  reliability: Gold
  providerz: []
)");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, DecodeError::Kind::Invalid);
  EXPECT_THAT(messages(r.error().fields),
              ElementsAre("spec.gpu.count: must be an integer, got string",
                          "spec.reliability: Unsupported value: \"Gold\": supported values: "
                          "\"Datacenter\", \"Any\"",
                          "spec.providerz: unknown field",
                          "spec.gpu.models[1].throughputWeight: must be > 0",
                          "spec.replicas.max: must be >= spec.replicas.min (4)",
                          "spec.providers[1].name: duplicate provider \"fluence\""));
}

TEST(LoadObjects, ReturnsDefaultedObjectsAndNumbersDocuments) {
  const std::string provider =
      "apiVersion: gpupool.io/v1alpha1\nkind: GpuProvider\nmetadata: {name: fake}\n"
      "spec: {type: fake}\n";
  const std::string pool =
      "apiVersion: gpupool.io/v1alpha1\nkind: GpuPool\nmetadata: {name: p}\n"
      "spec: {gpu: {models: [{name: L40S}]}, replicas: {min: 2}, providers: [{name: fake}]}\n";
  auto ok = load_objects(provider + "---\n" + pool);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  ASSERT_EQ(ok->size(), 2u);
  const auto& p = std::get<GpuPool>((*ok)[1]);
  EXPECT_EQ(p.spec.replicas.count, 2);
  EXPECT_EQ(p.spec.replicas.max, 2);

  auto bad =
      load_objects(provider + "---\napiVersion: v1\nkind: Secret\n---\n" + pool + "bogus: 1\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind, DecodeError::Kind::UnknownKind);
  ASSERT_EQ(bad.error().fields.size(), 2u);
  EXPECT_EQ(bad.error().fields[0].document, 1);
  EXPECT_EQ(bad.error().fields[1].to_string(), "document 2: bogus: unknown field");
}

TEST(LoadObjects, SyntaxErrorsAndNonObjects) {
  auto syntax = load_objects("a: [");
  ASSERT_FALSE(syntax.ok());
  EXPECT_EQ(syntax.error().kind, DecodeError::Kind::Syntax);
  auto scalar = load_objects("just a string");
  ASSERT_FALSE(scalar.ok());
  EXPECT_EQ(scalar.error().kind, DecodeError::Kind::UnknownKind);
}

}  // namespace
}  // namespace gpupool::api

namespace gpupool::api {
namespace {

TEST(ApiValidation, ListAndLengthBoundsMatchTheCrd) {
  GpuPool p = fixtures::minimal_valid_pool();
  p.spec.providers.clear();
  for (int i = 0; i < 33; ++i)
    p.spec.providers.push_back({"p" + std::to_string(i), {}, {}});
  p.spec.gpu.models.clear();
  for (int i = 0; i < 9; ++i)
    p.spec.gpu.models.push_back({"M" + std::to_string(i), 1});
  p.spec.gpu.models[0].name = std::string(65, 'L');
  p.spec.autoscaling.metrics.assign(9, {MetricType::QueueDepth, 1, std::string(4097, 'q')});
  p.spec.usage.endpoint.image = std::string(1025, 'i');
  EXPECT_THAT(messages(validate(p)),
              ElementsAre("spec.gpu.models: must have at most 8 models",
                          "spec.gpu.models[0].name: must be at most 64 characters",
                          "spec.providers: must have at most 32 providers",
                          "spec.autoscaling.metrics: must have at most 8 metrics",
                          "spec.autoscaling.metrics[0].query: must be at most 4096 characters",
                          "spec.autoscaling.metrics[1].query: must be at most 4096 characters",
                          "spec.autoscaling.metrics[2].query: must be at most 4096 characters",
                          "spec.autoscaling.metrics[3].query: must be at most 4096 characters",
                          "spec.autoscaling.metrics[4].query: must be at most 4096 characters",
                          "spec.autoscaling.metrics[5].query: must be at most 4096 characters",
                          "spec.autoscaling.metrics[6].query: must be at most 4096 characters",
                          "spec.autoscaling.metrics[7].query: must be at most 4096 characters",
                          "spec.autoscaling.metrics[8].query: must be at most 4096 characters",
                          "spec.usage.endpoint.image: must be at most 1024 characters"));
}

}  // namespace
}  // namespace gpupool::api

namespace gpupool::api {
namespace {

// Typed provider settings (issue 11): each block only on its own type, the
// SSH key exactly one of value and secretKeyRef, ids in their providers' forms.
TEST(ApiValidation, ProviderSettingsBlocks) {
  for (const auto& p : fixtures::full_gpu_providers())
    EXPECT_THAT(messages(validate(p)), IsEmpty()) << p.spec.type;
  GpuProvider p = fixtures::full_gpu_providers()[1];  // aws
  ASSERT_EQ(p.spec.type, "aws");
  p.spec.lambda = LambdaSettings{"ops"};
  p.spec.ssh_public_key->value = "ssh-ed25519 AAAA";
  p.spec.aws->image_id = "ami-12";
  p.spec.aws->security_group_ids = {"sg-0123abcd", "sg-0123abcd"};
  EXPECT_THAT(messages(validate(p)),
              ElementsAre("spec.sshPublicKey: exactly one of value and secretKeyRef must be set",
                          "spec.lambda: is only for type \"lambda\"",
                          "spec.aws.imageId: must be an AMI id (ami- and 8 to 17 hex digits)",
                          "spec.aws.securityGroupIds[1]: duplicate value \"sg-0123abcd\""));
  GpuProvider f = fixtures::full_gpu_providers()[4];  // fake
  ASSERT_EQ(f.spec.type, "fake");
  f.spec.fake->boot_seconds = -2;
  f.spec.fake->capacity.push_back({"l40s-1", "local", 1});
  EXPECT_THAT(messages(validate(f)),
              ElementsAre("spec.fake.bootSeconds: must be within [0, 86400]",
                          "spec.fake.capacity[2]: duplicate entry for \"l40s-1/local\""));
  GpuProvider v = fixtures::full_gpu_providers()[5];  // vastai
  ASSERT_EQ(v.spec.type, "vastai");
  v.spec.vastai->disk_gb = 4;
  v.spec.vastai->image = std::string(256, 'i');
  EXPECT_THAT(messages(validate(v)),
              ElementsAre("spec.vastai.image: must be at most 255 characters",
                          "spec.vastai.diskGb: must be within [10, 2048]"));
  v = fixtures::full_gpu_providers()[5];
  v.spec.type = "runpod";
  EXPECT_THAT(messages(validate(v)), ElementsAre("spec.vastai: is only for type \"vastai\""));
}

GpuProvider provider_variant(const std::string& type) {
  for (const auto& p : fixtures::full_gpu_providers()) {
    if (p.spec.type == type) return p;
  }
  ADD_FAILURE() << "no fixture of type " << type;
  return {};
}

TEST(ApiValidation, RunpodSettingsInRunpodsForms) {
  GpuProvider p = provider_variant("runpod");
  p.spec.runpod->disk_gb = 9;
  p.spec.runpod->cloud_type = "secure";
  p.spec.runpod->data_center_ids = {"US-TX-3", "us-tx-3", "US-TX-3", "USA-TEXAS-1"};
  p.spec.runpod->min_cuda_version = "12";
  EXPECT_THAT(
      messages(validate(p)),
      ElementsAre("spec.runpod.diskGb: must be within [10, 2048]",
                  "spec.runpod.cloudType: must be one of \"SECURE\", \"COMMUNITY\", \"ALL\"",
                  "spec.runpod.dataCenterIds[2]: duplicate value \"US-TX-3\"",
                  "spec.runpod.dataCenterIds[1]: must be a Runpod data center id (\"US-TX-3\")",
                  "spec.runpod.dataCenterIds[3]: must be a Runpod data center id (\"US-TX-3\")",
                  "spec.runpod.minCudaVersion: must be a CUDA version \"major.minor\" (\"12.4\")"));
  p = provider_variant("runpod");
  p.spec.type = "vastai";
  EXPECT_THAT(messages(validate(p)), ElementsAre("spec.runpod: is only for type \"runpod\""));
}

TEST(ApiValidation, VerdaDigitaloceanAndVultrSettingsInTheirProvidersForms) {
  GpuProvider verda = provider_variant("verda");
  verda.spec.verda->image = "ubuntu 24.04";
  verda.spec.verda->ssh_key_ids = {"key-1"};
  EXPECT_THAT(messages(validate(verda)),
              ElementsAre("spec.verda.image: must be an image type or volume id: letters, digits, "
                          "'.', '_', '-', starting with a letter or digit",
                          "spec.verda.sshKeyIds[0]: must be an SSH key id (lower-case UUID)"));
  GpuProvider d = provider_variant("digitalocean");
  d.spec.digitalocean->image = "Ubuntu-22-04";
  d.spec.digitalocean->ssh_keys = {"3b:16:bf", "12a"};
  EXPECT_THAT(
      messages(validate(d)),
      ElementsAre("spec.digitalocean.image: must be an image slug or numeric id: lower-case "
                  "letters, digits, '.', '_', '-'",
                  "spec.digitalocean.sshKeys[0]: must be an SSH key id (digits) or MD5 "
                  "fingerprint (\"3b:16:...:9f\")",
                  "spec.digitalocean.sshKeys[1]: must be an SSH key id (digits) or MD5 "
                  "fingerprint (\"3b:16:...:9f\")"));
  GpuProvider v = provider_variant("vultr");
  v.spec.vultr->os_id = 0;
  v.spec.vultr->snapshot_id = "snap-1";
  v.spec.vultr->ssh_key_ids.assign(17, "cb676a46-66fd-4dfb-b839-443f2e6c0b60");
  auto errors = messages(validate(v));
  ASSERT_GE(errors.size(), 5u);
  EXPECT_THAT(std::vector<std::string>(errors.begin(), errors.begin() + 5),
              ElementsAre("spec.vultr.osId: must be >= 1",
                          "spec.vultr.snapshotId: must be a snapshot id (lower-case UUID)",
                          "spec.vultr: at most one of osId and snapshotId",
                          "spec.vultr.sshKeyIds: must have at most 16 keys",
                          "spec.vultr.sshKeyIds[1]: duplicate value "
                          "\"cb676a46-66fd-4dfb-b839-443f2e6c0b60\""));
  for (const char* type : {"verda", "digitalocean", "vultr"}) {
    GpuProvider wrong = provider_variant(type);
    wrong.spec.type = "runpod";
    EXPECT_THAT(messages(validate(wrong)),
                ElementsAre("spec." + std::string(type) + ": is only for type \"" + type + "\""));
  }
}

}  // namespace
}  // namespace gpupool::api
