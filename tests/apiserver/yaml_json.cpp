// YAML -> JSON for manifests and apply patches (yaml-cpp exceptions stay here).

#include <yaml-cpp/yaml.h>

#include <charconv>

#include "operator/yaml/safe_load.h"
#include "tests/apiserver/api_server.h"

namespace gpupool::apiserver {

namespace {

kube::Json scalar_to_json(const YAML::Node& n) {
  const std::string& s = n.Scalar();
  if (n.Tag() == "!") return s;  // quoted: always a string
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  long long i = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), i);
  if (r.ec == std::errc() && r.ptr == s.data() + s.size()) return i;
  bool numeric = !s.empty() && s.find_first_not_of("0123456789+-.eE") == std::string::npos &&
                 s.find_first_of("0123456789") != std::string::npos;
  if (numeric) {
    kube::Json j = kube::Json::parse(s, nullptr, false);
    if (!j.is_discarded() && j.is_number()) return j;
  }
  return s;
}

kube::Json to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar:
      return scalar_to_json(n);
    case YAML::NodeType::Sequence: {
      kube::Json a = kube::Json::array();
      for (const auto& e : n)
        a.push_back(to_json(e));
      return a;
    }
    case YAML::NodeType::Map: {
      kube::Json o = kube::Json::object();
      for (const auto& kv : n)
        o[kv.first.as<std::string>()] = to_json(kv.second);
      return o;
    }
  }
  return nullptr;
}

}  // namespace

Result<std::vector<kube::Json>, ApiServerError> parse_yaml_documents(const std::string& text) {
  std::vector<kube::Json> out;
  try {
    std::vector<YAML::Node> docs = yaml::load_all(text);
    for (const auto& d : docs) {
      kube::Json j = to_json(d);
      if (!j.is_null()) out.push_back(std::move(j));
    }
  } catch (const YAML::Exception& e) {
    return fail(ApiServerError{std::string("invalid YAML: ") + e.what()});
  }
  return out;
}

}  // namespace gpupool::apiserver
