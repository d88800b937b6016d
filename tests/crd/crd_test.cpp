// The CRD schemas in crds/ and the C++ codec must describe the same wire
// format, and every example must be accepted by both.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "operator/core/api_codec.h"
#include "operator/core/api_fixtures.h"
#include "operator/core/api_validation.h"
#include "operator/kube/schema/cel.h"
#include "operator/kube/schema/schema.h"

namespace gpupool::api {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::IsEmpty;

fs::path source_dir() {
  const char* dir = std::getenv("GPUPOOL_SOURCE_DIR");
  return dir != nullptr ? fs::path(dir) : fs::current_path();
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Crd {
  json manifest;
  json schema;  // openAPIV3Schema of the only version
};

// kind -> CRD
const std::map<std::string, Crd>& crds() {
  static const std::map<std::string, Crd> loaded = [] {
    std::map<std::string, Crd> out;
    for (const auto& entry : fs::directory_iterator(source_dir() / "crds")) {
      if (entry.path().extension() != ".yaml") continue;
      auto docs = yaml_to_json(read_file(entry.path()));
      EXPECT_TRUE(docs.ok()) << entry.path() << ": " << docs.error().message;
      if (!docs.ok()) continue;
      for (const auto& doc : *docs) {
        Crd crd{doc, doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]};
        out[doc["spec"]["names"]["kind"].get<std::string>()] = crd;
      }
    }
    return out;
  }();
  return loaded;
}

const json& schema_for(const std::string& kind) {
  static const json empty;
  auto it = crds().find(kind);
  return it == crds().end() ? empty : it->second.schema;
}

std::vector<std::string> texts(const std::vector<kube::schema::SchemaCause>& causes) {
  std::vector<std::string> out;
  for (const auto& c : causes)
    out.push_back(c.to_string());
  return out;
}

// Every property path the schema declares, arrays as "[]", maps
// (additionalProperties) as leaves; metadata is the API server's business.
void schema_paths(const json& s, const std::string& path, std::set<std::string>& out) {
  if (!s.is_object()) return;
  if (s.contains("items")) schema_paths(s["items"], path + "[]", out);
  if (!s.contains("properties")) return;
  for (const auto& [key, sub] : s["properties"].items()) {
    if (path.empty() && (key == "apiVersion" || key == "kind" || key == "metadata")) continue;
    const std::string p = path.empty() ? key : path + "." + key;
    out.insert(p);
    schema_paths(sub, p, out);
  }
}

// Every path present in a value, normalised like schema_paths (guided by the
// schema so map keys are not treated as fields).
void value_paths(const json& s, const json& v, const std::string& path,
                 std::set<std::string>& out) {
  if (v.is_array()) {
    for (const auto& item : v)
      value_paths(s.value("items", json::object()), item, path + "[]", out);
    return;
  }
  if (!v.is_object() || s.contains("additionalProperties")) return;
  for (const auto& [key, item] : v.items()) {
    if (path.empty() && (key == "apiVersion" || key == "kind" || key == "metadata")) continue;
    const std::string p = path.empty() ? key : path + "." + key;
    out.insert(p);
    json sub = s.contains("properties") && s["properties"].contains(key) ? s["properties"][key]
                                                                         : json::object();
    value_paths(sub, item, p, out);
  }
}

// What the API server refuses on create: OpenAPI violations plus CEL rules.
std::vector<std::string> server_causes(const std::string& kind, const json& doc,
                                       const json* old = nullptr) {
  std::vector<std::string> out = texts(kube::schema::validate(schema_for(kind), doc));
  for (const auto& c : kube::schema::validate_rules(schema_for(kind), doc, old)) {
    out.push_back(c.to_string());
  }
  return out;
}

std::vector<ApiObject> full_objects() {
  std::vector<ApiObject> out = {fixtures::full_gpu_pool(), fixtures::full_gpu_instance()};
  for (const auto& p : fixtures::full_gpu_providers())
    out.push_back(p);
  // The bootstrap template's other source (at most one is set per object).
  GpuPool pool = fixtures::full_gpu_pool();
  pool.spec.usage.node = fixtures::full_gpu_instance().spec.usage.node;
  GpuInstance inst = fixtures::full_gpu_instance();
  inst.spec.usage.node = fixtures::full_gpu_pool().spec.usage.node;
  out.push_back(pool);
  out.push_back(inst);
  return out;
}

// Collects the messages of every CEL rule in a schema.
void cel_messages(const json& s, std::vector<std::string>& out) {
  if (!s.is_object()) return;
  for (const auto& rule : s.value("x-kubernetes-validations", json::array())) {
    EXPECT_TRUE(rule.contains("rule"));
    EXPECT_TRUE(rule.contains("message")) << rule.dump();
    out.push_back(rule.value("message", ""));
  }
  if (s.contains("items")) cel_messages(s["items"], out);
  const json properties = s.value("properties", json::object());
  for (const auto& [key, sub] : properties.items())
    cel_messages(sub, out);
}

TEST(Crd, AllThreeKindsAreDefinedWithSubresources) {
  ASSERT_EQ(crds().size(), 3u);
  for (const char* kind : {kGpuPoolKind, kGpuInstanceKind, kGpuProviderKind}) {
    ASSERT_EQ(crds().count(kind), 1u) << kind;
    const json& m = crds().at(kind).manifest;
    EXPECT_EQ(m["spec"]["group"], kGroup);
    EXPECT_EQ(m["spec"]["versions"].size(), 1u);
    EXPECT_EQ(m["spec"]["versions"][0]["name"], kVersion);
    EXPECT_EQ(m["metadata"]["name"],
              m["spec"]["names"]["plural"].get<std::string>() + "." + kGroup);
    EXPECT_TRUE(m["spec"]["versions"][0]["subresources"].contains("status")) << kind;
    EXPECT_FALSE(m["spec"]["names"]["shortNames"].empty()) << kind;
  }
  EXPECT_EQ(crds().at(kGpuProviderKind).manifest["spec"]["scope"], "Cluster");
  EXPECT_EQ(crds().at(kGpuPoolKind).manifest["spec"]["scope"], "Namespaced");
  EXPECT_EQ(crds().at(kGpuInstanceKind).manifest["spec"]["scope"], "Namespaced");
}

TEST(Crd, FullyPopulatedObjectsValidateWithNoUnknownFields) {
  for (const auto& object : full_objects()) {
    const std::string kind(kind_of(object));
    const json doc = encode(object);
    EXPECT_THAT(server_causes(kind, doc), IsEmpty()) << kind;
    EXPECT_THAT(server_causes(kind, doc, &doc), IsEmpty()) << kind << " (update to itself)";
    EXPECT_THAT(kube::schema::unknown_fields(schema_for(kind), doc), IsEmpty()) << kind;
  }
}

TEST(Crd, EveryCelRuleCompiles) {
  size_t rules = 0;
  for (const auto& [kind, crd] : crds()) {
    EXPECT_THAT(kube::schema::rule_compile_errors(crd.schema), IsEmpty()) << kind;
    std::vector<std::string> messages;
    cel_messages(crd.schema, messages);
    rules += messages.size();
  }
  EXPECT_GE(rules, 10u);
}

// spec.offer may move (NoCapacity failover) only while no machine exists;
// the CRD's root rule and api::validate_update agree.
TEST(Crd, OfferOfAnInstanceChangesOnlyWhileNoMachineExists) {
  const GpuInstance with_machine = fixtures::full_gpu_instance();
  ASSERT_FALSE(with_machine.status.provider_id.empty());
  GpuInstance moved = with_machine;
  moved.spec.offer.price_per_hour = Money::parse("0.01").value();
  moved.spec.offer.offer_id = "another";
  const json old = encode(with_machine);
  const json changed = encode(moved);
  EXPECT_THAT(server_causes(kGpuInstanceKind, changed, &old),
              ::testing::ElementsAre("spec.offer: Invalid value: \"object\": spec.offer is "
                                     "immutable once a machine exists (status.providerId is set)"));
  EXPECT_THAT(validate_update(with_machine, moved), ::testing::SizeIs(1));
  EXPECT_THAT(server_causes(kGpuInstanceKind, changed), IsEmpty());  // create: no old object

  // No machine yet: no providerId, or no status at all.
  GpuInstance intent = with_machine;
  intent.status = {};
  intent.status.phase = InstancePhase::Pending;
  GpuInstance intent_moved = moved;
  intent_moved.status = intent.status;
  const json old_intent = encode(intent);
  EXPECT_THAT(server_causes(kGpuInstanceKind, encode(intent_moved), &old_intent), IsEmpty());
  EXPECT_THAT(validate_update(intent, intent_moved), IsEmpty());
  json bare = old_intent;
  bare.erase("status");
  json bare_moved = encode(intent_moved);
  bare_moved.erase("status");
  EXPECT_THAT(server_causes(kGpuInstanceKind, bare_moved, &bare), IsEmpty());
  // Anything else may still change with a machine: the rule is about the offer.
  GpuInstance relabelled = with_machine;
  relabelled.metadata.labels["team"] = "other";
  const json relabelled_json = encode(relabelled);
  EXPECT_THAT(server_causes(kGpuInstanceKind, relabelled_json, &old), IsEmpty());
  EXPECT_THAT(validate_update(with_machine, relabelled), IsEmpty());
}

// Specs the operator refuses are refused by the API server too (OpenAPI or
// CEL), so users learn at `kubectl apply` time.
TEST(Crd, ServerRefusesWhatTheOperatorRefuses) {
  struct Case {
    const char* name;
    std::function<void(GpuPool&)> edit;
  };
  const Case cases[] = {
      {"max<min",
       [](GpuPool& p) {
         p.spec.replicas = {std::nullopt, 4, 2};
       }},
      {"count>max", [](GpuPool& p) { p.spec.replicas.count = 9; }},
      {"count<min",
       [](GpuPool& p) {
         p.spec.replicas = {0, 1, 3};
       }},
      {"dup provider", [](GpuPool& p) { p.spec.providers[1].name = "fluence"; }},
      {"empty provider", [](GpuPool& p) { p.spec.providers[1].name = ""; }},
      {"bad provider name", [](GpuPool& p) { p.spec.providers[1].name = "Run_Pod"; }},
      {"no providers", [](GpuPool& p) { p.spec.providers.clear(); }},
      {"dup model",
       [](GpuPool& p) {
         p.spec.gpu.models.push_back({"L40S", 1});
       }},
      {"no models", [](GpuPool& p) { p.spec.gpu.models.clear(); }},
      {"zero weight", [](GpuPool& p) { p.spec.gpu.models[0].throughput_weight = 0; }},
      {"gpu count", [](GpuPool& p) { p.spec.gpu.count = 0; }},
      {"too many gpus", [](GpuPool& p) { p.spec.gpu.count = 17; }},
      {"negative min", [](GpuPool& p) { p.spec.replicas.min = -1; }},
      {"huge max", [](GpuPool& p) { p.spec.replicas.max = 5000; }},
      {"negative budget",
       [](GpuPool& p) { p.spec.budget.max_usd_per_hour = Money::from_cents(-1); }},
      {"zero price cap", [](GpuPool& p) { p.spec.providers[0].max_price_per_gpu_hour = Money(); }},
      {"empty region", [](GpuPool& p) { p.spec.providers[0].regions = {""}; }},
      {"negative egress", [](GpuPool& p) { p.spec.egress.gb_per_gpu_hour = -1; }},
      {"zero lifetime", [](GpuPool& p) { p.spec.planning.expected_lifetime_hours = 0; }},
      {"negative margin", [](GpuPool& p) { p.spec.lifecycle.park_margin_seconds = -1; }},
      {"autoscaling without metrics", [](GpuPool& p) { p.spec.autoscaling.enabled = true; }},
      {"external without query",
       [](GpuPool& p) {
         p.spec.autoscaling.metrics = {{MetricType::External, 1, std::nullopt}};
       }},
      {"zero target",
       [](GpuPool& p) {
         p.spec.autoscaling.metrics = {{MetricType::QueueDepth, 0, std::nullopt}};
       }},
      {"endpoint without image", [](GpuPool& p) { p.spec.usage.mode = UsageMode::Endpoint; }},
      {"port", [](GpuPool& p) { p.spec.usage.endpoint.port = 70000; }},
      {"health path", [](GpuPool& p) { p.spec.usage.endpoint.health_path = "health"; }},
      {"service name", [](GpuPool& p) { p.spec.usage.endpoint.service_name = "9chat.api"; }},
      {"bad taint", [](GpuPool& p) { p.spec.usage.node.taints = {"gpu"}; }},
      {"bootstrap script and secret",
       [](GpuPool& p) {
         p.spec.usage.node.bootstrap_script = "#!/bin/sh\n";
         p.spec.usage.node.bootstrap_secret_ref = {"join", "", "script"};
       }},
      {"bootstrap secret key",
       [](GpuPool& p) {
         p.spec.usage.node.bootstrap_secret_ref = {"join", "", "a/b"};
       }},
      {"empty env name",
       [](GpuPool& p) {
         p.spec.usage.endpoint.env = {{"", "x"}};
       }},
      {"env value and valueFrom",
       [](GpuPool& p) {
         p.spec.usage.endpoint.env = {{"A", "x", EnvVarSource{{"s", "", "k"}}}};
       }},
      {"env without value or valueFrom",
       [](GpuPool& p) {
         p.spec.usage.endpoint.env = {{"A", std::nullopt, std::nullopt}};
       }},
      {"env secret key",
       [](GpuPool& p) {
         p.spec.usage.endpoint.env = {{"A", std::nullopt, EnvVarSource{{"s", "", "a/b"}}}};
       }},
      {"health check period",
       [](GpuPool& p) { p.spec.usage.endpoint.health_check.period_seconds = 0; }},
      {"health check threshold",
       [](GpuPool& p) { p.spec.usage.endpoint.health_check.failure_threshold = 101; }},
      {"health check startup timeout",
       [](GpuPool& p) { p.spec.usage.endpoint.health_check.startup_timeout_seconds = 30; }},
      {"health check timeout over period",
       [](GpuPool& p) {
         p.spec.usage.endpoint.health_check.period_seconds = 5;
         p.spec.usage.endpoint.health_check.timeout_seconds = 6;
       }},
      {"too many providers",
       [](GpuPool& p) {
         p.spec.providers.clear();
         for (int i = 0; i < 33; ++i)
           p.spec.providers.push_back({"p" + std::to_string(i), {}, {}});
       }},
      {"too many models",
       [](GpuPool& p) {
         p.spec.gpu.models.clear();
         for (int i = 0; i < 9; ++i)
           p.spec.gpu.models.push_back({"M" + std::to_string(i), 1});
       }},
      {"too many metrics",
       [](GpuPool& p) {
         p.spec.autoscaling.metrics.assign(9, {MetricType::QueueDepth, 1, std::nullopt});
       }},
      {"long model name", [](GpuPool& p) { p.spec.gpu.models[0].name = std::string(65, 'L'); }},
      {"long image", [](GpuPool& p) { p.spec.usage.endpoint.image = std::string(1025, 'i'); }},
  };
  for (const auto& c : cases) {
    GpuPool pool = fixtures::minimal_valid_pool();
    c.edit(pool);
    EXPECT_FALSE(validate(pool).empty()) << c.name << ": the operator accepts it";
    EXPECT_FALSE(server_causes(kGpuPoolKind, encode(pool)).empty())
        << c.name << ": the CRD accepts it";
  }
  EXPECT_THAT(server_causes(kGpuPoolKind, encode(fixtures::minimal_valid_pool())), IsEmpty());

  GpuProvider provider = fixtures::full_gpu_provider();
  provider.spec.credentials_secret = SecretRef{};
  EXPECT_FALSE(validate(provider).empty());
  EXPECT_THAT(server_causes(kGpuProviderKind, encode(provider)),
              ::testing::Contains(::testing::HasSubstr("credentialsSecret.name is required")));
  provider.spec.type = "fake";
  provider.spec.fluence.reset();  // only for type fluence
  EXPECT_THAT(validate(provider), IsEmpty());
  EXPECT_THAT(server_causes(kGpuProviderKind, encode(provider)), IsEmpty());
}

// Typed provider settings (issue 11): the CRD and validate() refuse the same
// bad settings, and accept each full per-type fixture.
TEST(Crd, ServerRefusesWhatTheOperatorRefusesInProviderSettings) {
  struct Case {
    const char* name;
    const char* type;  // the fixture variant to edit
    std::function<void(GpuProviderSpec&)> edit;
  };
  const Case cases[] = {
      {"aws block on fluence", "fluence", [](GpuProviderSpec& s) { s.aws = AwsSettings{}; }},
      {"fluence block on aws", "aws", [](GpuProviderSpec& s) { s.fluence = FluenceSettings{}; }},
      {"lambda block on fake", "fake", [](GpuProviderSpec& s) { s.lambda = LambdaSettings{}; }},
      {"scaleway block on lambda", "lambda",
       [](GpuProviderSpec& s) { s.scaleway = ScalewaySettings{}; }},
      {"fake block on scaleway", "scaleway", [](GpuProviderSpec& s) { s.fake = FakeSettings{}; }},
      {"vastai block on aws", "aws", [](GpuProviderSpec& s) { s.vastai = VastaiSettings{}; }},
      {"vastai disk too small", "vastai", [](GpuProviderSpec& s) { s.vastai->disk_gb = 9; }},
      {"vastai disk too large", "vastai", [](GpuProviderSpec& s) { s.vastai->disk_gb = 2049; }},
      {"vastai image too long", "vastai",
       [](GpuProviderSpec& s) { s.vastai->image = std::string(256, 'i'); }},
      {"runpod block on verda", "verda", [](GpuProviderSpec& s) { s.runpod = RunpodSettings{}; }},
      {"verda block on runpod", "runpod", [](GpuProviderSpec& s) { s.verda = VerdaSettings{}; }},
      {"digitalocean block on vultr", "vultr",
       [](GpuProviderSpec& s) { s.digitalocean = DigitaloceanSettings{}; }},
      {"vultr block on digitalocean", "digitalocean",
       [](GpuProviderSpec& s) { s.vultr = VultrSettings{}; }},
      {"runpod disk too small", "runpod", [](GpuProviderSpec& s) { s.runpod->disk_gb = 9; }},
      {"runpod disk too large", "runpod", [](GpuProviderSpec& s) { s.runpod->disk_gb = 2049; }},
      {"runpod image too long", "runpod",
       [](GpuProviderSpec& s) { s.runpod->image = std::string(256, 'i'); }},
      {"runpod cloud type", "runpod", [](GpuProviderSpec& s) { s.runpod->cloud_type = "Secure"; }},
      {"runpod data center", "runpod",
       [](GpuProviderSpec& s) { s.runpod->data_center_ids = {"us-tx-3"}; }},
      {"runpod dup data center", "runpod",
       [](GpuProviderSpec& s) {
         s.runpod->data_center_ids = {"US-TX-3", "US-TX-3"};
       }},
      {"runpod too many data centers", "runpod",
       [](GpuProviderSpec& s) {
         s.runpod->data_center_ids.clear();
         for (int i = 0; i < 33; ++i)
           s.runpod->data_center_ids.push_back("US-TX-" + std::to_string(i));
       }},
      {"runpod cuda", "runpod", [](GpuProviderSpec& s) { s.runpod->min_cuda_version = "12.4.1"; }},
      {"verda image", "verda", [](GpuProviderSpec& s) { s.verda->image = "-ubuntu"; }},
      {"verda key id", "verda", [](GpuProviderSpec& s) { s.verda->ssh_key_ids = {"key-1"}; }},
      {"verda dup key id", "verda",
       [](GpuProviderSpec& s) { s.verda->ssh_key_ids.push_back(s.verda->ssh_key_ids[0]); }},
      {"digitalocean image", "digitalocean",
       [](GpuProviderSpec& s) { s.digitalocean->image = "Ubuntu"; }},
      {"digitalocean key", "digitalocean",
       [](GpuProviderSpec& s) { s.digitalocean->ssh_keys = {"3b:16"}; }},
      {"vultr os id", "vultr", [](GpuProviderSpec& s) { s.vultr->os_id = 0; }},
      {"vultr os and snapshot", "vultr",
       [](GpuProviderSpec& s) { s.vultr->snapshot_id = "9c3a1c2e-7f4b-4a3d-8e21-5b6f0d9e1a22"; }},
      {"vultr snapshot", "vultr",
       [](GpuProviderSpec& s) {
         s.vultr->os_id.reset();
         s.vultr->snapshot_id = "snap";
       }},
      {"vultr key id", "vultr", [](GpuProviderSpec& s) { s.vultr->ssh_key_ids = {"Key"}; }},
      {"ssh key and ref", "fluence",
       [](GpuProviderSpec& s) {
         s.ssh_public_key->secret_key_ref = SecretKeyRef{"k", "", "id.pub"};
       }},
      {"ssh neither", "fluence", [](GpuProviderSpec& s) { s.ssh_public_key->value.clear(); }},
      {"ssh private key", "fluence",
       [](GpuProviderSpec& s) { s.ssh_public_key->value = "-----BEGIN OPENSSH PRIVATE KEY-----"; }},
      {"ssh two lines", "fluence",
       [](GpuProviderSpec& s) { s.ssh_public_key->value = "ssh-ed25519 AAAA a\nssh-rsa BBBB b"; }},
      {"ssh unknown type", "fluence",
       [](GpuProviderSpec& s) { s.ssh_public_key->value = "ssh-foo AAAA"; }},
      {"ssh ref bad name", "aws",
       [](GpuProviderSpec& s) { s.ssh_public_key->secret_key_ref->name = "Ops_SSH"; }},
      {"ssh ref bad key", "aws",
       [](GpuProviderSpec& s) { s.ssh_public_key->secret_key_ref->key = "id/pub"; }},
      {"ami", "aws", [](GpuProviderSpec& s) { s.aws->image_id = "ubuntu-22.04"; }},
      {"short ami", "aws", [](GpuProviderSpec& s) { s.aws->image_id = "ami-123"; }},
      {"subnet", "aws", [](GpuProviderSpec& s) { s.aws->subnet_id = "sg-0123abcd"; }},
      {"security group", "aws",
       [](GpuProviderSpec& s) { s.aws->security_group_ids = {"default"}; }},
      {"dup security group", "aws",
       [](GpuProviderSpec& s) {
         s.aws->security_group_ids = {"sg-0123abcd", "sg-0123abcd"};
       }},
      {"long key name", "aws", [](GpuProviderSpec& s) { s.aws->key_name = std::string(256, 'k'); }},
      {"long os image", "fluence",
       [](GpuProviderSpec& s) { s.fluence->os_image = std::string(256, 'u'); }},
      {"project", "scaleway", [](GpuProviderSpec& s) { s.scaleway->project_id = "my-project"; }},
      {"boot", "fake", [](GpuProviderSpec& s) { s.fake->boot_seconds = -1; }},
      {"long boot", "fake", [](GpuProviderSpec& s) { s.fake->boot_seconds = 86401; }},
      {"negative capacity", "fake", [](GpuProviderSpec& s) { s.fake->capacity[0].count = -1; }},
      {"capacity without region", "fake",
       [](GpuProviderSpec& s) { s.fake->capacity[0].region.clear(); }},
      {"dup capacity", "fake",
       [](GpuProviderSpec& s) {
         s.fake->capacity[1] = s.fake->capacity[0];
         s.fake->capacity[1].count = 1;
       }},
  };
  const auto variants = fixtures::full_gpu_providers();
  for (const auto& v : variants) {
    EXPECT_THAT(validate(v), IsEmpty()) << v.spec.type;
    EXPECT_THAT(server_causes(kGpuProviderKind, encode(v)), IsEmpty()) << v.spec.type;
  }
  for (const auto& c : cases) {
    auto it = std::find_if(variants.begin(), variants.end(),
                           [&](const GpuProvider& p) { return p.spec.type == c.type; });
    ASSERT_NE(it, variants.end()) << c.type;
    GpuProvider provider = *it;
    c.edit(provider.spec);
    EXPECT_FALSE(validate(provider).empty()) << c.name << ": the operator accepts it";
    EXPECT_FALSE(server_causes(kGpuProviderKind, encode(provider)).empty())
        << c.name << ": the CRD accepts it";
  }
}

TEST(Crd, DefaultObjectsEncodeWithinTheSchemaToo) {
  std::vector<ApiObject> defaults = {GpuPool{}, GpuInstance{}, GpuProvider{}};
  for (const auto& object : defaults) {
    const std::string kind(kind_of(object));
    EXPECT_THAT(kube::schema::unknown_fields(schema_for(kind), encode(object)), IsEmpty());
  }
}

TEST(Crd, EverySchemaFieldIsWrittenByTheCodec) {
  // Per kind, the union over its full fixtures (a GpuProvider's per-type
  // settings blocks need one object per type).
  std::map<std::string, std::set<std::string>> written_by_kind;
  for (const auto& object : full_objects()) {
    const std::string kind(kind_of(object));
    value_paths(schema_for(kind), encode(object), "", written_by_kind[kind]);
  }
  ASSERT_EQ(written_by_kind.size(), 3u);
  for (const auto& [kind, written] : written_by_kind) {
    std::set<std::string> declared;
    schema_paths(schema_for(kind), "", declared);
    ASSERT_FALSE(declared.empty()) << kind;
    std::vector<std::string> missing;
    std::set_difference(declared.begin(), declared.end(), written.begin(), written.end(),
                        std::back_inserter(missing));
    EXPECT_THAT(missing, IsEmpty()) << kind << ": in the CRD but never written by the codec";
    std::vector<std::string> extra;
    std::set_difference(written.begin(), written.end(), declared.begin(), declared.end(),
                        std::back_inserter(extra));
    EXPECT_THAT(extra, IsEmpty()) << kind << ": written by the codec but not in the CRD";
  }
}

// "spec.a[].b" -> "/spec/a/0/b"
json::json_pointer pointer(const std::string& path) {
  std::string out;
  std::string part;
  auto flush = [&] {
    if (!part.empty()) out += "/" + part;
    part.clear();
  };
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '.') {
      flush();
    } else if (path.compare(i, 2, "[]") == 0) {
      flush();
      out += "/0";
      ++i;
    } else {
      part += path[i];
    }
  }
  flush();
  return json::json_pointer(out);
}

void enum_paths(const json& s, const std::string& path,
                std::vector<std::pair<std::string, json>>& out) {
  if (!s.is_object()) return;
  if (s.contains("enum")) out.emplace_back(path, s["enum"]);
  if (s.contains("items")) enum_paths(s["items"], path + "[]", out);
  if (!s.contains("properties")) return;
  for (const auto& [key, sub] : s["properties"].items()) {
    enum_paths(sub, path.empty() ? key : path + "." + key, out);
  }
}

TEST(Crd, EnumVocabulariesMatchTheCodec) {
  size_t checked = 0;
  for (const auto& object : full_objects()) {
    const std::string kind(kind_of(object));
    std::vector<std::pair<std::string, json>> enums;
    enum_paths(schema_for(kind), "", enums);
    for (const auto& [path, values] : enums) {
      for (const auto& value : values) {
        json doc = encode(object);
        doc[pointer(path)] = value;
        auto decoded = decode_object(doc, DecodeMode::Strict);
        ASSERT_TRUE(decoded.ok()) << kind << " " << path << "=" << value << ": "
                                  << decoded.error().message;
        EXPECT_EQ(encode(*decoded)[pointer(path)], value) << kind << " " << path;
        ++checked;
      }
      json doc = encode(object);
      doc[pointer(path)] = "NotInTheEnum";
      auto decoded = decode_object(doc, DecodeMode::Strict);
      bool refused = !decoded.ok() || !validate(*decoded).empty();
      EXPECT_TRUE(refused) << kind << " " << path << " accepts a value the CRD refuses";
    }
  }
  EXPECT_GT(checked, 40u);
}

TEST(Crd, PrinterColumnsAndScalePathsPointAtSchemaFields) {
  for (const auto& [kind, crd] : crds()) {
    std::set<std::string> declared;
    schema_paths(crd.schema, "", declared);
    const json& version = crd.manifest["spec"]["versions"][0];
    for (const auto& column : version["additionalPrinterColumns"]) {
      std::string path = column["jsonPath"].get<std::string>();
      if (path.rfind(".metadata.", 0) == 0) continue;
      // ".status.conditions[?(@.type==\"Healthy\")].status" -> "status.conditions[].status"
      auto filter = path.find("[?(");
      if (filter != std::string::npos) {
        path = path.substr(0, filter) + "[]" + path.substr(path.find(")]", filter) + 2);
      }
      EXPECT_EQ(declared.count(path.substr(1)), 1u) << kind << " column " << column["name"];
    }
    if (version["subresources"].contains("scale")) {
      for (const auto& [key, path] : version["subresources"]["scale"].items()) {
        EXPECT_EQ(declared.count(path.get<std::string>().substr(1)), 1u) << kind << " " << key;
      }
    }
  }
  const json& scale =
      crds().at(kGpuPoolKind).manifest["spec"]["versions"][0]["subresources"]["scale"];
  EXPECT_EQ(scale["specReplicasPath"], ".spec.replicas.count");
  EXPECT_EQ(scale["statusReplicasPath"], ".status.replicas.ready");
  EXPECT_EQ(scale["labelSelectorPath"], ".status.selector");
}

TEST(Crd, CrossFieldRulesExistAsCel) {
  std::vector<std::string> pool;
  cel_messages(schema_for(kGpuPoolKind), pool);
  EXPECT_THAT(pool, ::testing::IsSupersetOf(
                        {"replicas.max must be >= replicas.min",
                         "replicas.count must be within [replicas.min, replicas.max] when "
                         "autoscaling is off",
                         "provider names must be unique", "GPU model names must be unique",
                         "autoscaling.metrics must list at least one metric when autoscaling is "
                         "enabled",
                         "query is required for an External metric",
                         "usage.endpoint.image is required when mode is Endpoint",
                         "set at most one of bootstrapScript and bootstrapSecretRef"}));
  std::vector<std::string> provider;
  cel_messages(schema_for(kGpuProviderKind), provider);
  EXPECT_THAT(provider, ::testing::Contains("credentialsSecret.name is required"));
}

void pointers(const json& v, const std::string& at, std::vector<std::string>& out) {
  out.push_back(at);
  if (v.is_object()) {
    for (const auto& [k, item] : v.items()) {
      std::string escaped;
      for (char c : k)
        escaped += c == '~' ? "~0" : c == '/' ? "~1" : std::string(1, c);
      pointers(item, at + "/" + escaped, out);
    }
  } else if (v.is_array()) {
    for (size_t i = 0; i < v.size(); ++i)
      pointers(v[i], at + "/" + std::to_string(i), out);
  }
}

// The server (prune, then schema) and the codec (strict decode) agree on
// what is well-typed: put a value of every JSON type at every field of every
// fully populated object; whenever the codec refuses the document the schema
// refuses it too, and whenever the schema accepts it the codec decodes it.
TEST(Crd, SchemaAndCodecAgreeOnTypesAtEveryField) {
  const json replacements[] = {json(nullptr),
                               json(7),
                               json(-1.5),
                               json("x"),
                               json(true),
                               json::array({1}),
                               json::object({{"k", "v"}}),
                               json("2026-11-22T02:10:42Z"),
                               json("1.25")};
  size_t mutations = 0;
  for (const auto& object : full_objects()) {
    const std::string kind(kind_of(object));
    const json& schema = schema_for(kind);
    const json doc = encode(object);
    std::vector<std::string> all;
    pointers(doc, "", all);
    for (const auto& ptr : all) {
      if (ptr.empty() || ptr.rfind("/metadata", 0) == 0 || ptr == "/apiVersion" || ptr == "/kind") {
        continue;
      }
      for (const auto& replacement : replacements) {
        json mutated = doc;
        mutated[json::json_pointer(ptr)] = replacement;
        ++mutations;
        const bool codec_ok = decode_object(mutated, DecodeMode::Strict).ok();
        json server_view = mutated;
        const bool has_unknown = !kube::schema::unknown_fields(schema, mutated).empty();
        kube::schema::prune(schema, server_view);
        const bool schema_ok = !has_unknown &&
                               kube::schema::validate(schema, server_view).empty() &&
                               kube::schema::validate_rules(schema, server_view).empty();
        if (!codec_ok) {
          EXPECT_FALSE(schema_ok) << kind << ": codec refuses " << ptr << "=" << replacement.dump()
                                  << " but the CRD accepts it";
        }
        if (schema_ok) {
          EXPECT_TRUE(codec_ok) << kind << ": CRD accepts " << ptr << "=" << replacement.dump()
                                << " but the codec refuses it";
        }
      }
    }
  }
  EXPECT_GT(mutations, 1000u);
}

std::vector<fs::path> example_files(bool invalid) {
  std::vector<fs::path> out;
  const fs::path root = source_dir() / "examples";
  const fs::path bad = root / "invalid";
  for (const auto& entry : fs::recursive_directory_iterator(invalid ? bad : root)) {
    const bool under_bad = entry.path().string().rfind(bad.string(), 0) == 0;
    if (entry.is_regular_file() && entry.path().extension() == ".yaml" && under_bad == invalid) {
      out.push_back(entry.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(Examples, EveryExampleValidatesAgainstTheCrdAndTheOperator) {
  auto files = example_files(false);
  ASSERT_GE(files.size(), 3u);
  std::set<std::string> provider_names;
  std::set<std::string> referenced;
  for (const auto& file : files) {
    const std::string text = read_file(file);
    auto docs = yaml_to_json(text);
    ASSERT_TRUE(docs.ok()) << file << ": " << docs.error().message;
    for (const auto& doc : *docs) {
      const std::string kind = doc.value("kind", "");
      ASSERT_EQ(crds().count(kind), 1u) << file << ": kind " << kind;
      EXPECT_THAT(server_causes(kind, doc), IsEmpty()) << file;
      EXPECT_THAT(kube::schema::unknown_fields(schema_for(kind), doc), IsEmpty()) << file;
    }
    auto objects = load_objects(text);
    ASSERT_TRUE(objects.ok()) << file << ": " << objects.error().message;
    for (const auto& object : *objects) {
      // What the operator writes back after defaulting is still schema-valid.
      const std::string kind(kind_of(object));
      EXPECT_THAT(server_causes(kind, encode(object)), IsEmpty()) << file;
      if (const auto* p = std::get_if<GpuProvider>(&object))
        provider_names.insert(p->metadata.name);
      if (const auto* pool = std::get_if<GpuPool>(&object)) {
        for (const auto& ref : pool->spec.providers)
          referenced.insert(ref.name);
      }
    }
  }
  for (const auto& name : referenced) {
    EXPECT_EQ(provider_names.count(name), 1u)
        << "pool refers to provider " << name << " missing from examples/providers.yaml";
  }
  for (const char* name : {"fluence", "runpod", "aws", "vastai", "lambda"}) {
    EXPECT_EQ(provider_names.count(name), 1u) << name;
  }
}

TEST(Examples, InvalidPoolFailsBothWhereExpected) {
  const fs::path file = source_dir() / "examples" / "invalid" / "bad-pool.yaml";
  const std::string text = read_file(file);
  auto docs = yaml_to_json(text);
  ASSERT_TRUE(docs.ok()) << docs.error().message;
  ASSERT_EQ(docs->size(), 1u);

  std::set<std::string> schema_fields;
  for (const auto& c : kube::schema::validate(schema_for(kGpuPoolKind), (*docs)[0])) {
    schema_fields.insert(c.field);
  }
  EXPECT_THAT(schema_fields, ::testing::UnorderedElementsAre(
                                 "spec.gpu.models[1].throughputWeight", "spec.providers[1].name",
                                 "spec.reliability", "spec.budget.maxUsdPerHour"));
  std::set<std::string> cel_fields;
  for (const auto& c : kube::schema::validate_rules(schema_for(kGpuPoolKind), (*docs)[0])) {
    cel_fields.insert(c.field);
  }
  EXPECT_THAT(cel_fields, ::testing::UnorderedElementsAre("spec.replicas.max", "spec.providers",
                                                          "spec.autoscaling.metrics",
                                                          "spec.usage.endpoint.image"));

  auto loaded = load_objects(text);
  ASSERT_FALSE(loaded.ok());
  std::vector<std::string> fields;
  for (const auto& f : loaded.error().fields)
    fields.push_back(f.path);
  EXPECT_THAT(fields,
              ::testing::UnorderedElementsAre(
                  "spec.reliability", "spec.gpu.models[1].throughputWeight", "spec.replicas.max",
                  "spec.providers[1].name", "spec.providers[2].name", "spec.budget.maxUsdPerHour",
                  "spec.autoscaling.metrics", "spec.usage.endpoint.image"));
}

}  // namespace
}  // namespace gpupool::api
