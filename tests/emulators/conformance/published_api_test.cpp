// The emulators' request checks (tests/emulators/common/request_spec.h)
// against the providers' published API descriptions in
// ../shared/reference/provider-apis/ (beside the checkout): every field an
// emulator accepts must be published, with the published type; the required
// fields must be the published ones; a closed spec must list exactly the
// published properties. So an emulator cannot drift into sharing an
// adapter's mistake. Skipped only when the reference folder is absent.

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "tests/emulators/common/request_spec.h"

namespace gpupool::emulators {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::optional<fs::path> reference_dir() {
  const char* src = std::getenv("GPUPOOL_SOURCE_DIR");
  fs::path root = src != nullptr ? fs::path(src) : fs::current_path();
  fs::path dir = root / ".." / "shared" / "reference" / "provider-apis";
  if (fs::is_directory(dir)) return dir;
  return std::nullopt;
}

json yaml_to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      json out = json::object();
      for (const auto& kv : n)
        out[kv.first.as<std::string>()] = yaml_to_json(kv.second);
      return out;
    }
    case YAML::NodeType::Sequence: {
      json out = json::array();
      for (const auto& item : n)
        out.push_back(yaml_to_json(item));
      return out;
    }
    case YAML::NodeType::Scalar:
      return n.as<std::string>();  // only names and "type" strings are compared
    default:
      return nullptr;
  }
}

json load(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream ss;
  ss << in.rdbuf();
  if (file.extension() == ".json") return json::parse(ss.str());
  return yaml_to_json(YAML::Load(ss.str()));
}

const json& resolve(const json& doc, const json& s) {
  const json* cur = &s;
  for (int depth = 0; depth < 20 && cur->is_object() && cur->contains("$ref"); ++depth) {
    std::string ref = (*cur)["$ref"].get<std::string>();
    const json* at = &doc;
    std::stringstream parts(ref.substr(2));  // "#/components/schemas/X"
    std::string part;
    while (std::getline(parts, part, '/'))
      at = &(*at)[part];
    cur = at;
  }
  return *cur;
}

struct Published {
  std::map<std::string, json> properties;
  std::set<std::string> required;
};

void collect(const json& doc, const json& schema, Published& out) {
  const json& s = resolve(doc, schema);
  if (auto all = s.find("allOf"); all != s.end()) {
    for (const auto& sub : *all)
      collect(doc, sub, out);
  }
  if (auto props = s.find("properties"); props != s.end()) {
    for (auto it = props->begin(); it != props->end(); ++it)
      out.properties[it.key()] = resolve(doc, it.value());
  }
  if (auto req = s.find("required"); req != s.end() && req->is_array()) {
    for (const auto& r : *req)
      out.required.insert(r.get<std::string>());
  }
}

std::optional<Published> request_body(const json& doc, const RequestSpec& spec) {
  auto paths = doc.find("paths");
  if (paths == doc.end() || !paths->contains(spec.path)) return std::nullopt;
  const json& op = (*paths)[spec.path];
  if (!op.contains(spec.method)) return std::nullopt;
  const json& body = op[spec.method];
  if (!body.contains("requestBody")) return std::nullopt;
  const json& rb = resolve(doc, body["requestBody"]);
  const json& schema = rb.at("content").at("application/json").at("schema");
  Published p;
  collect(doc, schema, p);
  return p;
}

// The published type of a property when it is one plain JSON type.
std::optional<JsonType> published_type(const json& prop) {
  auto t = prop.find("type");
  if (t == prop.end() || !t->is_string()) return std::nullopt;
  const std::string s = t->get<std::string>();
  if (s == "string") return JsonType::String;
  if (s == "integer") return JsonType::Integer;
  if (s == "number") return JsonType::Number;
  if (s == "boolean") return JsonType::Boolean;
  if (s == "array") return JsonType::Array;
  if (s == "object") return JsonType::Object;
  return std::nullopt;
}

void expect_matches(const fs::path& file, const std::vector<RequestSpec>& specs) {
  SCOPED_TRACE(file.filename().string());
  const json doc = load(file);
  for (const auto& spec : specs) {
    SCOPED_TRACE(spec.operation);
    auto published = request_body(doc, spec);
    ASSERT_TRUE(published.has_value())
        << spec.method << " " << spec.path << " has no published JSON request body";
    std::set<std::string> required;
    std::set<std::string> names;
    for (const auto& f : spec.fields) {
      names.insert(f.name);
      if (f.required) required.insert(f.name);
      auto p = published->properties.find(f.name);
      if (p == published->properties.end()) {
        ADD_FAILURE() << "the emulator accepts '" << f.name << "', which is not published";
        continue;
      }
      auto t = published_type(p->second);
      if (t && f.type != JsonType::Any) {
        EXPECT_EQ(to_string(f.type), to_string(*t)) << "type of '" << f.name << "'";
      }
      if (f.element != JsonType::Any) {
        // The items (array) or values (object) the emulator insists on are
        // the published ones.
        const char* key = f.type == JsonType::Array ? "items" : "additionalProperties";
        auto e = p->second.find(key);
        ASSERT_TRUE(e != p->second.end() && e->is_object())
            << "'" << f.name << "' publishes no " << key;
        auto et = published_type(resolve(doc, *e));
        ASSERT_TRUE(et.has_value()) << "'" << f.name << "' " << key << " has no plain type";
        EXPECT_EQ(to_string(f.element), to_string(*et)) << key << " of '" << f.name << "'";
      }
    }
    EXPECT_EQ(required, published->required) << "required fields";
    if (spec.closed) {
      std::set<std::string> all;
      for (const auto& [k, v] : published->properties)
        all.insert(k);
      EXPECT_EQ(names, all) << "a closed spec lists every published property";
    }
    // And the emulator's check enforces it: a body without a required field
    // and one with a field of the wrong type are refused.
    json minimal = json::object();
    for (const auto& f : spec.fields) {
      if (!f.required) continue;
      switch (f.type) {
        case JsonType::String:
          minimal[f.name] = "x";
          break;
        case JsonType::Integer:
        case JsonType::Number:
          minimal[f.name] = 1;
          break;
        case JsonType::Boolean:
          minimal[f.name] = true;
          break;
        case JsonType::Array:
          minimal[f.name] = json::array({"x"});
          break;
        case JsonType::Object:
        case JsonType::Any:
          minimal[f.name] = json::object();
          break;
      }
    }
    EXPECT_EQ(check_request(minimal, spec), "");
    for (const auto& f : spec.fields) {
      if (f.required) {
        json without = minimal;
        without.erase(f.name);
        EXPECT_NE(check_request(without, spec), "") << f.name << " is required";
      }
      if (f.type != JsonType::Any) {
        json wrong = minimal;
        wrong[f.name] = f.type == JsonType::Boolean ? json(3) : json(true);
        EXPECT_NE(check_request(wrong, spec), "") << f.name << " has a type";
      }
      if (f.element != JsonType::Any) {
        json wrong = minimal;
        json bad_item = f.element == JsonType::Boolean ? json(3) : json(true);
        wrong[f.name] = f.type == JsonType::Array ? json::array({bad_item}) : json{{"K", bad_item}};
        EXPECT_NE(check_request(wrong, spec), "") << f.name << " has an item type";
      }
    }
    if (spec.closed) {
      json extra = minimal;
      extra["no_such_field"] = 1;
      EXPECT_NE(check_request(extra, spec), "");
    }
  }
}

class PublishedApi : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = reference_dir();
    if (!dir_) GTEST_SKIP() << "no ../shared/reference/provider-apis beside the checkout";
  }
  std::optional<fs::path> dir_;
};

TEST_F(PublishedApi, LambdaEmulatorChecksThePublishedLaunchAndTerminate) {
  expect_matches(*dir_ / "lambda-openapi.json", lambda_request_specs());
}

TEST_F(PublishedApi, RunpodEmulatorChecksThePublishedCreatePod) {
  expect_matches(*dir_ / "runpod-v2-openapi.json", runpod_request_specs());
}

// The published parameters of an OpenAPI operation, by operationId ($refs
// resolved): name -> required.
std::optional<std::map<std::string, bool>> openapi_parameters(const json& doc,
                                                              const std::string& operation) {
  for (auto path = doc["paths"].begin(); path != doc["paths"].end(); ++path) {
    for (auto op = path->begin(); op != path->end(); ++op) {
      if (!op->is_object() || op->value("operationId", "") != operation) continue;
      std::map<std::string, bool> out;
      for (const auto& p : op->value("parameters", json::array())) {
        const json& r = resolve(doc, p);
        if (r.value("in", "") == "query") out[r.at("name")] = r.value("required", false);
      }
      return out;
    }
  }
  return std::nullopt;
}

TEST_F(PublishedApi, RunpodEmulatorTakesExactlyThePublishedCatalogQueryParameters) {
  const json doc = load(*dir_ / "runpod-v2-openapi.json");
  for (const auto& spec : runpod_query_specs()) {
    SCOPED_TRACE(spec.operation);
    auto published = openapi_parameters(doc, spec.operation);
    ASSERT_TRUE(published.has_value()) << "no published operation " << spec.operation;
    std::set<std::string> names, required;
    for (const auto& [name, req] : *published) {
      names.insert(name);
      if (req) required.insert(name);
    }
    EXPECT_EQ(std::set<std::string>(spec.params.begin(), spec.params.end()), names);
    EXPECT_EQ(std::set<std::string>(spec.required.begin(), spec.required.end()), required);
    EXPECT_NE(check_query({{"noSuchParameter", "1"}}, spec), "");
  }
}

TEST_F(PublishedApi, Ec2EmulatorTakesExactlyThePublishedQueryParameters) {
  const json doc = load(*dir_ / "ec2-service-2.json");
  auto query_name = [](const std::string& member, const json& m) {
    if (m.contains("queryName")) return m["queryName"].get<std::string>();
    std::string n = m.contains("locationName") ? m["locationName"].get<std::string>() : member;
    if (!n.empty()) n[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(n[0])));
    return n;
  };
  for (const auto& spec : ec2_query_specs()) {
    SCOPED_TRACE(spec.operation);
    ASSERT_TRUE(doc["operations"].contains(spec.operation));
    const json& shape =
        doc["shapes"][doc["operations"][spec.operation]["input"]["shape"].get<std::string>()];
    std::set<std::string> published, required;
    for (auto it = shape["members"].begin(); it != shape["members"].end(); ++it)
      published.insert(query_name(it.key(), it.value()));
    if (shape.contains("required")) {
      for (const auto& r : shape["required"])
        required.insert(query_name(r.get<std::string>(), shape["members"][r.get<std::string>()]));
    }
    EXPECT_EQ(std::set<std::string>(spec.params.begin(), spec.params.end()), published);
    EXPECT_EQ(std::set<std::string>(spec.required.begin(), spec.required.end()), required);
    EXPECT_NE(check_query({{"Action", spec.operation}, {"NoSuchParameter", "1"}}, spec), "");
  }
}

TEST_F(PublishedApi, VastEmulatorChecksThePublishedCreateSearchAndSshKey) {
  expect_matches(*dir_ / "vast-openapi.yaml", vastai_request_specs());
}

}  // namespace
}  // namespace gpupool::emulators
