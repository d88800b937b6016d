#include "operator/core/api_codec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "operator/core/api_fixtures.h"

namespace gpupool::api {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

std::vector<std::string> paths(const DecodeError& e) {
  std::vector<std::string> out;
  for (const auto& f : e.fields)
    out.push_back(f.path);
  return out;
}

const FieldError* find(const DecodeError& e, const std::string& path) {
  for (const auto& f : e.fields) {
    if (f.path == path) return &f;
  }
  return nullptr;
}

json pool_doc() {
  return encode(fixtures::minimal_valid_pool());
}

TEST(ApiCodec, FullObjectsRoundTripThroughJson) {
  auto pool = fixtures::full_gpu_pool();
  auto p = decode_gpu_pool(encode(pool), DecodeMode::Strict);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(*p, pool);

  auto inst = fixtures::full_gpu_instance();
  auto i = decode_gpu_instance(encode(inst), DecodeMode::Strict);
  ASSERT_TRUE(i.ok()) << i.error().message;
  EXPECT_EQ(*i, inst);

  for (const auto& prov : fixtures::full_gpu_providers()) {
    auto r = decode_gpu_provider(encode(prov), DecodeMode::Strict);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(*r, prov) << prov.spec.type;
  }
}

TEST(ApiCodec, FullObjectsRoundTripThroughJsonTextAndYaml) {
  std::vector<ApiObject> objects = {fixtures::full_gpu_pool(), fixtures::full_gpu_instance()};
  for (const auto& p : fixtures::full_gpu_providers())
    objects.push_back(p);
  std::string yaml;
  for (const auto& o : objects) {
    auto text = encode(o).dump();
    auto parsed = parse_json(text);
    ASSERT_TRUE(parsed.ok());
    auto back = decode_object(*parsed, DecodeMode::Strict);
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_TRUE(*back == o);
    yaml += "---\n" + to_yaml(encode(o));
  }
  auto decoded = decode_yaml(yaml, DecodeMode::Strict);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  ASSERT_EQ(decoded->size(), objects.size());
  for (size_t i = 0; i < objects.size(); ++i)
    EXPECT_TRUE((*decoded)[i] == objects[i]) << i;
}

TEST(ApiCodec, DefaultObjectRoundTripsAndOmitsUnsetOptionals) {
  GpuPool empty;
  json doc = encode(empty);
  EXPECT_FALSE(doc["spec"].contains("budget"));
  EXPECT_FALSE(doc["spec"].contains("planning"));
  EXPECT_FALSE(doc["spec"]["replicas"].contains("count"));
  EXPECT_FALSE(doc["spec"]["replicas"].contains("max"));
  EXPECT_FALSE(doc["metadata"].contains("deletionTimestamp"));
  EXPECT_FALSE(doc["metadata"].contains("generation"));
  EXPECT_EQ(doc["spec"]["replicas"]["min"], 0);
  auto back = decode_gpu_pool(doc, DecodeMode::Strict);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, empty);

  GpuInstanceStatus st;
  GpuInstance inst;
  json idoc = encode(inst);
  EXPECT_FALSE(idoc["status"].contains("billing"));
  EXPECT_FALSE(idoc["status"].contains("pricePerHour"));
  EXPECT_EQ(idoc["status"]["phase"], "Pending");
}

TEST(ApiCodec, WireNamesAreCamelCaseAndMoneyIsAString) {
  json doc = encode(fixtures::full_gpu_pool());
  const json& spec = doc["spec"];
  EXPECT_EQ(doc["apiVersion"], "gpupool.io/v1alpha1");
  EXPECT_EQ(doc["kind"], "GpuPool");
  EXPECT_EQ(spec["budget"]["maxUsdPerHour"], "20");
  EXPECT_EQ(spec["budget"]["maxUsdPerMonth"], "9000");
  EXPECT_EQ(spec["providers"][0]["maxPricePerGpuHour"], "1.8");
  EXPECT_EQ(spec["gpu"]["models"][1]["throughputWeight"], 0.8);
  EXPECT_EQ(spec["replicas"]["count"], 3);
  EXPECT_EQ(spec["lifecycle"]["parkMarginSeconds"], 90);
  EXPECT_EQ(spec["usage"]["endpoint"]["healthPath"], "/healthz");
  EXPECT_EQ(spec["autoscaling"]["metrics"][1]["type"], "External");
  EXPECT_EQ(doc["status"]["spend"]["monthToDate"], "99.000001");
  EXPECT_EQ(doc["status"]["spend"]["lastUpdated"], "2026-09-21T14:16:40Z");
  EXPECT_EQ(doc["metadata"]["ownerReferences"][0]["blockOwnerDeletion"], true);

  json inst = encode(fixtures::full_gpu_instance());
  EXPECT_EQ(inst["spec"]["offer"]["billing"]["minimumSeconds"], 10800);
  EXPECT_EQ(inst["spec"]["offer"]["billing"]["alignment"], "WallClock");
  EXPECT_EQ(inst["spec"]["offer"]["billing"]["minimumKind"], "Deposit");
  EXPECT_EQ(inst["spec"]["offer"]["tier"], "Community");
  EXPECT_EQ(inst["status"]["paidThrough"], "2026-09-21T17:13:20Z");

  json prov = encode(fixtures::full_gpu_provider());
  EXPECT_FALSE(prov["metadata"].contains("namespace"));
  EXPECT_EQ(prov["spec"]["credentialsSecret"]["keys"]["apiKey"], "token");
  EXPECT_EQ(prov["spec"]["priceOverrides"][1].contains("region"), false);
}

TEST(ApiCodec, EndpointHealthCheckEnvFromSecretsAndHealthStatusOnTheWire) {
  json doc = encode(fixtures::full_gpu_pool());
  const json& ep = doc["spec"]["usage"]["endpoint"];
  EXPECT_EQ(ep["healthCheck"], json::parse(R"({"periodSeconds": 15, "timeoutSeconds": 3,
      "failureThreshold": 4, "successThreshold": 2, "startupTimeoutSeconds": 1200,
      "unhealthyTimeoutSeconds": 1800})"));
  EXPECT_EQ(ep["env"][2], json::parse(R"({"name": "EMPTY", "value": ""})"));  // "" is kept
  EXPECT_EQ(ep["env"][3], json::parse(R"({"name": "HF_TOKEN",
      "valueFrom": {"secretKeyRef": {"name": "hf", "key": "token"}}})"));

  json inst = encode(fixtures::full_gpu_instance());
  EXPECT_EQ(inst["status"]["health"], json::parse(R"({"consecutiveSuccesses": 2,
      "consecutiveFailures": 0, "lastProbeTime": "2026-09-21T15:36:30Z",
      "firstHealthyTime": "2026-09-21T14:18:20Z"})"));

  // Omitted: the defaults of the API (10 s, 2 s, 3, 1, 900 s); no health yet.
  json bare = pool_doc();
  bare["spec"]["usage"] = json::parse(R"({"mode": "Endpoint", "endpoint": {"image": "vllm",
      "env": [{"name": "A"}]}})");
  auto p = decode_gpu_pool(bare, DecodeMode::Strict);
  ASSERT_TRUE(p.ok()) << p.error().message;
  const HealthCheckSpec& hc = p->spec.usage.endpoint.health_check;
  EXPECT_EQ(hc.period_seconds, 10);
  EXPECT_EQ(hc.timeout_seconds, 2);
  EXPECT_EQ(hc.failure_threshold, 3);
  EXPECT_EQ(hc.success_threshold, 1);
  EXPECT_EQ(hc.startup_timeout_seconds, 900);
  EXPECT_FALSE(p->spec.usage.endpoint.env[0].value.has_value());
  EXPECT_FALSE(p->spec.usage.endpoint.env[0].value_from.has_value());
  EXPECT_FALSE(encode(GpuInstance{})["status"].contains("health"));

  // Wrong shapes are errors at their path, not crashes.
  bare["spec"]["usage"]["endpoint"]["env"] =
      json::parse(R"([{"name": "A", "valueFrom": {"secretKeyRef": {"name": 3, "key": "k"}}}])");
  bare["spec"]["usage"]["endpoint"]["healthCheck"] = json::parse(R"({"periodSeconds": "ten"})");
  auto bad = decode_gpu_pool(bare, DecodeMode::Strict);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(find(bad.error(), "spec.usage.endpoint.env[0].valueFrom.secretKeyRef.name"), nullptr);
  EXPECT_NE(find(bad.error(), "spec.usage.endpoint.healthCheck.periodSeconds"), nullptr);
}

TEST(ApiCodec, CollectsEveryTypeErrorWithItsPath) {
  json doc = pool_doc();
  doc["spec"]["gpu"]["count"] = "two";
  doc["spec"]["replicas"]["min"] = 1.5;
  doc["spec"]["budget"]["maxUsdPerHour"] = 20;
  doc["spec"]["providers"][1]["regions"] = "eu";
  doc["spec"]["gpu"]["models"][0]["throughputWeight"] = true;
  doc["spec"]["reliability"] = "Gold";
  doc["metadata"]["labels"] = json::array();
  auto r = decode_gpu_pool(doc, DecodeMode::Strict);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, DecodeError::Kind::Invalid);
  EXPECT_THAT(paths(r.error()),
              ::testing::UnorderedElementsAre(
                  "spec.gpu.count", "spec.replicas.min", "spec.budget.maxUsdPerHour",
                  "spec.providers[1].regions", "spec.gpu.models[0].throughputWeight",
                  "spec.reliability", "metadata.labels"));
  EXPECT_THAT(find(r.error(), "spec.gpu.count")->message, HasSubstr("must be an integer"));
  EXPECT_THAT(find(r.error(), "spec.budget.maxUsdPerHour")->message,
              HasSubstr("decimal string such as \"1.27\""));
  EXPECT_EQ(find(r.error(), "spec.reliability")->message,
            "Unsupported value: \"Gold\": supported values: \"Datacenter\", \"Any\"");
}

TEST(ApiCodec, BadMoneyTimeAndRangeValuesAreErrors) {
  json doc = pool_doc();
  doc["spec"]["budget"]["maxUsdPerMonth"] = "12.3456789";
  doc["spec"]["replicas"]["max"] = 5'000'000'000LL;
  doc["metadata"]["creationTimestamp"] = "yesterday";
  doc["spec"]["providers"][0]["maxPricePerGpuHour"] = "$1";
  auto r = decode_gpu_pool(doc, DecodeMode::Strict);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(paths(r.error()),
              ::testing::UnorderedElementsAre("spec.budget.maxUsdPerMonth", "spec.replicas.max",
                                              "metadata.creationTimestamp",
                                              "spec.providers[0].maxPricePerGpuHour"));
  EXPECT_THAT(find(r.error(), "spec.replicas.max")->message, HasSubstr("out of range"));
  EXPECT_THAT(find(r.error(), "metadata.creationTimestamp")->message, HasSubstr("RFC 3339"));
}

TEST(ApiCodec, StrictReportsUnknownFieldsLenientIgnoresThem) {
  json doc = pool_doc();
  doc["spec"]["colour"] = "blue";
  doc["spec"]["gpu"]["models"][0]["vram"] = 48;
  doc["extra"] = 1;
  doc["metadata"]["managedFields"] = json::array();  // server field: always accepted
  auto strict = decode_gpu_pool(doc, DecodeMode::Strict);
  ASSERT_FALSE(strict.ok());
  EXPECT_THAT(paths(strict.error()),
              ::testing::UnorderedElementsAre("spec.colour", "spec.gpu.models[0].vram", "extra"));
  EXPECT_EQ(find(strict.error(), "spec.colour")->message, "unknown field");
  auto lenient = decode_gpu_pool(doc, DecodeMode::Lenient);
  ASSERT_TRUE(lenient.ok()) << lenient.error().message;
  EXPECT_EQ(*lenient, fixtures::minimal_valid_pool());
}

TEST(ApiCodec, ApiVersionAndKindAreChecked) {
  json doc = pool_doc();
  doc.erase("apiVersion");
  doc.erase("kind");
  auto strict = decode_gpu_pool(doc, DecodeMode::Strict);
  ASSERT_FALSE(strict.ok());
  EXPECT_THAT(paths(strict.error()), ::testing::UnorderedElementsAre("apiVersion", "kind"));
  EXPECT_TRUE(decode_gpu_pool(doc, DecodeMode::Lenient).ok());

  doc["apiVersion"] = "gpupool.io/v1";
  doc["kind"] = "GpuInstance";
  auto wrong = decode_gpu_pool(doc, DecodeMode::Lenient);
  ASSERT_FALSE(wrong.ok());
  EXPECT_THAT(paths(wrong.error()), ::testing::UnorderedElementsAre("apiVersion", "kind"));
}

TEST(ApiCodec, NullMeansAbsent) {
  json doc = pool_doc();
  doc["spec"]["budget"] = nullptr;
  doc["spec"]["replicas"]["count"] = nullptr;
  doc["status"] = nullptr;
  auto r = decode_gpu_pool(doc, DecodeMode::Strict);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->spec.replicas.count.has_value());
}

TEST(ApiCodec, NonObjectDocumentsAreErrorsNotCrashes) {
  for (const json& doc : {json(nullptr), json(3), json::array({1, 2}), json("GpuPool")}) {
    auto r = decode_gpu_pool(doc, DecodeMode::Strict);
    EXPECT_FALSE(r.ok()) << doc.dump();
    auto any = decode_object(doc, DecodeMode::Strict);
    ASSERT_FALSE(any.ok());
    EXPECT_EQ(any.error().kind, DecodeError::Kind::UnknownKind);
  }
  json doc = pool_doc();
  doc["spec"] = json::array();
  doc["metadata"] = "x";
  auto r = decode_gpu_pool(doc, DecodeMode::Strict);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(paths(r.error()), ::testing::UnorderedElementsAre("spec", "metadata"));
}

TEST(ApiCodec, DecodeObjectDispatchesOnKind) {
  auto pool = decode_object(encode(fixtures::full_gpu_pool()), DecodeMode::Strict);
  ASSERT_TRUE(pool.ok());
  EXPECT_EQ(kind_of(*pool), "GpuPool");
  EXPECT_EQ(metadata_of(*pool).name, "llm");
  auto prov = decode_object(encode(fixtures::full_gpu_provider()), DecodeMode::Strict);
  ASSERT_TRUE(prov.ok());
  EXPECT_TRUE(std::holds_alternative<GpuProvider>(*prov));

  json cm = {{"apiVersion", "v1"}, {"kind", "ConfigMap"}};
  auto other = decode_object(cm, DecodeMode::Strict);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().kind, DecodeError::Kind::UnknownKind);
  EXPECT_THAT(other.error().message, HasSubstr("v1, ConfigMap"));
}

TEST(ApiCodec, ParseJsonReportsSyntaxErrors) {
  auto r = parse_json("{\"a\": ");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, DecodeError::Kind::Syntax);
}

TEST(ApiCodec, OfferConversionKeepsEveryField) {
  Offer o;
  o.provider = "aws-main";
  o.provider_type = "aws";
  o.id = "g6e.xlarge";
  o.region = "us-east-1";
  o.gpu_model = "L40S";
  o.gpu_count = 1;
  o.price_per_hour = Money::from_micros(1'861'000);
  o.billing.minimum = Duration(60);
  o.billing.egress_per_gb = Money::from_cents(9);
  o.tier = ReliabilityTier::Community;
  o.spot = true;
  EXPECT_EQ(offer_from(offer_spec_from(o)), o);
}

TEST(ApiCodec, EnumStringsRoundTrip) {
  for (auto p : {InstancePhase::Pending, InstancePhase::Provisioning, InstancePhase::Running,
                 InstancePhase::Ready, InstancePhase::Parked, InstancePhase::Terminating,
                 InstancePhase::Terminated, InstancePhase::Failed}) {
    EXPECT_EQ(parse_instance_phase(to_string(p)), p);
  }
  EXPECT_EQ(parse_metric_type("GpuUtilization"), MetricType::GpuUtilization);
  EXPECT_EQ(parse_usage_mode("endpoint"), std::nullopt);  // case-sensitive
  EXPECT_EQ(to_string(ReliabilityRequirement::Any), "Any");
  EXPECT_EQ(parse_billing_alignment("WallClock"), BillingAlignment::WallClock);
}

// ---- YAML ------------------------------------------------------------------

TEST(ApiYaml, ResolvesScalarsLikeKubectl) {
  auto r = yaml_to_json(
      "a: 1\nb: 1.5\nc: true\nd: ~\ne: \"1.27\"\nf: '3'\ng: hello\nh: -7\ni: 0x1f\nj: !!str 12\n"
      "k: 1e3\nl: False\nm: .5\nn: 1.27.3\no: yes\np: Off\nq: n\nr: 'no'\n");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->size(), 1u);
  const json& j = (*r)[0];
  EXPECT_EQ(j["a"], 1);
  EXPECT_TRUE(j["a"].is_number_integer());
  EXPECT_EQ(j["b"], 1.5);
  EXPECT_EQ(j["c"], true);
  EXPECT_TRUE(j["d"].is_null());
  EXPECT_EQ(j["e"], "1.27");
  EXPECT_EQ(j["f"], "3");
  EXPECT_EQ(j["g"], "hello");
  EXPECT_EQ(j["h"], -7);
  EXPECT_EQ(j["i"], 31);
  EXPECT_EQ(j["j"], "12");
  EXPECT_EQ(j["k"], 1000.0);
  EXPECT_EQ(j["l"], false);
  EXPECT_EQ(j["m"], 0.5);
  EXPECT_EQ(j["n"], "1.27.3");
  EXPECT_EQ(j["o"], true);  // YAML 1.1 words, as kubectl reads them
  EXPECT_EQ(j["p"], false);
  EXPECT_EQ(j["q"], false);
  EXPECT_EQ(j["r"], "no");
}

TEST(ApiYaml, MultiDocumentStreamsSkipEmptyDocuments) {
  auto r = yaml_to_json("---\na: 1\n---\n---\nb: [x, z]\n...\n");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[1]["b"][1], "z");
}

TEST(ApiYaml, SyntaxErrorsCarryLineNumbers) {
  auto r = yaml_to_json("a: 1\nb: [1, 2\nc: 3\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, DecodeError::Kind::Syntax);
  EXPECT_THAT(r.error().message, HasSubstr("line"));
}

TEST(ApiYaml, DuplicateKeysAreErrors) {
  auto r = yaml_to_json("spec:\n  gpu: 1\n  gpu: 2\n");
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.error().fields.size(), 1u);
  EXPECT_EQ(r.error().fields[0].path, "spec.gpu");
  EXPECT_THAT(r.error().fields[0].message, HasSubstr("duplicate key"));
}

TEST(ApiYaml, AliasBombsAndDeepNestingAreRefused) {
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  char prev = 'a';
  for (char c = 'b'; c <= 'h'; ++c) {
    bomb += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 10; ++i)
      bomb += std::string(i ? ", *" : "*") + prev;
    bomb += "]\n";
    prev = c;
  }
  auto r = yaml_to_json(bomb);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr("too large"));

  std::string deep(200, '[');
  deep += std::string(200, ']');
  auto d = yaml_to_json(deep);
  ASSERT_FALSE(d.ok());
  EXPECT_THAT(d.error().message, HasSubstr("nesting"));
}

// Found by fuzz_api_codec_yaml: yaml-cpp passes bytes through, so a file with
// a stray byte (or an escape such as "\udc00") became a JSON string that is
// not UTF-8, and the first dump() of it (plan -o json, the kube client) threw.
TEST(ApiYaml, TextThatIsNotUtf8IsRefusedNotPassedOn) {
  auto raw = yaml_to_json("metadata:\n  name: caf\xe9\n");
  ASSERT_FALSE(raw.ok());
  EXPECT_EQ(raw.error().kind, DecodeError::Kind::Syntax);
  EXPECT_THAT(raw.error().message, HasSubstr("not UTF-8 at byte 21"));
  for (const char* bad : {"\xc0\xaf: 1\n", "a: \xed\xa0\x80\n", "a: \xf4\x90\x80\x80\n"}) {
    EXPECT_FALSE(yaml_to_json(bad).ok()) << bad;
  }
  // An escape that is no character is refused (by yaml-cpp or by the
  // scalar check); whatever decodes must dump.
  for (const char* esc : {"a: \"\\udc00\"\n", "a: \"\\x80\\U0010FFFF\"\n"}) {
    auto escaped = yaml_to_json(esc);
    if (escaped.ok()) {
      EXPECT_NO_THROW((void)escaped->front().dump()) << esc;
    }
  }
  auto fine = yaml_to_json("name: caf\xc3\xa9 \xf0\x9f\x9a\x80\n");
  ASSERT_TRUE(fine.ok());
  EXPECT_EQ(fine->front()["name"], "caf\xc3\xa9 \xf0\x9f\x9a\x80");
}

TEST(ApiYaml, DecodeYamlReportsErrorsPerDocument) {
  std::string text = R"(apiVersion: gpupool.io/v1alpha1
kind: GpuProvider
metadata: {name: fluence}
spec: {type: fluence, credentialsSecret: {name: fluence-creds}}
---
apiVersion: gpupool.io/v1alpha1
kind: GpuPool
metadata: {name: p}
spec:
  budget: {maxUsdPerHour: 20}
  bogus: 1
)";
  auto r = decode_yaml(text, DecodeMode::Strict);
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.error().fields.size(), 2u);
  EXPECT_EQ(r.error().fields[0].document, 1);
  EXPECT_EQ(r.error().fields[0].to_string().rfind("document 1: spec.", 0), 0u);
  auto lenient_fixed = decode_yaml(text.substr(0, text.find("---")), DecodeMode::Strict);
  ASSERT_TRUE(lenient_fixed.ok()) << lenient_fixed.error().message;
  ASSERT_EQ(lenient_fixed->size(), 1u);
  EXPECT_EQ(std::get<GpuProvider>((*lenient_fixed)[0]).spec.credentials_secret.name,
            "fluence-creds");
}

TEST(ApiYaml, ToYamlQuotesStringsThatWouldChangeType) {
  json j = {{"a", "1.27"}, {"b", "true"}, {"c", ""},  {"d", 3},     {"e", "plain"},
            {"f", "no"},   {"g", "y"},    {"h", "~"}, {"i", "0x1F"}};
  auto back = yaml_to_json(to_yaml(j));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ((*back)[0], j);
}

}  // namespace
}  // namespace gpupool::api

namespace gpupool::api {
namespace {

// Collects the JSON pointer of every node in a document.
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

// "/spec/providers/0/name" -> "spec.providers.0.name"; "metadata.labels[a/b]" ->
// "metadata.labels.a/b".
std::string normalized(const std::string& text, bool pointer) {
  std::string out;
  for (size_t i = pointer ? 1 : 0; i < text.size(); ++i) {
    char c = text[i];
    if (pointer && c == '~' && i + 1 < text.size()) {
      out += text[i + 1] == '1' ? '/' : '~';
      ++i;
    } else if (pointer ? c == '/' : c == '[') {
      out += '.';
    } else if (!(c == ']' && !pointer)) {
      out += c;
    }
  }
  return out;
}

// Replaces every node of every fully populated object with values of every
// JSON type: decoding never crashes, and any error names the replaced field
// (or a field under it).
TEST(ApiCodec, TypeConfusionAtEveryFieldIsReportedAtThatField) {
  const json replacements[] = {json(nullptr),
                               json(7),
                               json(-1.5),
                               json("x"),
                               json(true),
                               json::array({1}),
                               json::object({{"k", "v"}})};
  std::vector<ApiObject> objects = {fixtures::full_gpu_pool(), fixtures::full_gpu_instance()};
  for (const auto& p : fixtures::full_gpu_providers())
    objects.push_back(p);
  size_t mutations = 0;
  for (const auto& object : objects) {
    const json doc = encode(object);
    std::vector<std::string> all;
    pointers(doc, "", all);
    for (const auto& ptr : all) {
      if (ptr.empty() || ptr == "/apiVersion" || ptr == "/kind") continue;
      const std::string path = normalized(ptr, true);
      for (const auto& replacement : replacements) {
        json mutated = doc;
        mutated[json::json_pointer(ptr)] = replacement;
        ++mutations;
        auto r = decode_object(mutated, DecodeMode::Strict);
        if (r.ok()) continue;
        for (const auto& f : r.error().fields) {
          const std::string got = normalized(f.path, false);
          const bool at_or_under = got == path || got.rfind(path + ".", 0) == 0;
          EXPECT_TRUE(at_or_under) << "replaced " << path << " with " << replacement.dump()
                                   << ", error at " << f.to_string();
        }
      }
    }
  }
  EXPECT_GT(mutations, 1000u);
}

}  // namespace
}  // namespace gpupool::api
