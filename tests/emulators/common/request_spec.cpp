#include "tests/emulators/common/request_spec.h"

#include <algorithm>
#include <cstdlib>
#include <iterator>

namespace gpupool::emulators {
namespace {

using nlohmann::json;

bool is(const json& v, JsonType t) {
  switch (t) {
    case JsonType::String:
      return v.is_string();
    case JsonType::Integer:
      return v.is_number_integer();
    case JsonType::Number:
      return v.is_number();
    case JsonType::Boolean:
      return v.is_boolean();
    case JsonType::Array:
      return v.is_array();
    case JsonType::Object:
      return v.is_object();
    case JsonType::Any:
      return true;
  }
  return false;
}

using T = JsonType;

}  // namespace

std::string_view to_string(JsonType type) {
  switch (type) {
    case JsonType::String:
      return "string";
    case JsonType::Integer:
      return "integer";
    case JsonType::Number:
      return "number";
    case JsonType::Boolean:
      return "boolean";
    case JsonType::Array:
      return "array";
    case JsonType::Object:
      return "object";
    case JsonType::Any:
      return "any";
  }
  return "any";
}

std::string check_request(const json& body, const RequestSpec& spec) {
  if (!body.is_object()) return "the body must be a JSON object";
  for (const auto& f : spec.fields) {
    auto it = body.find(f.name);
    if (it == body.end()) {
      if (f.required) return f.name + " is required";
      continue;
    }
    if (!is(*it, f.type))
      return f.name + " must be " + (f.type == T::Integer ? "an " : "a ") +
             std::string(to_string(f.type));
    if (f.element != T::Any && (it->is_array() || it->is_object())) {
      for (auto e = it->begin(); e != it->end(); ++e) {
        if (is(e.value(), f.element)) continue;
        std::string where = it->is_array()
                                ? f.name + "[" + std::to_string(std::distance(it->begin(), e)) + "]"
                                : f.name + "." + e.key();
        return where + " must be " + (f.element == T::Integer ? "an " : "a ") +
               std::string(to_string(f.element));
      }
    }
  }
  if (spec.closed) {
    for (auto it = body.begin(); it != body.end(); ++it) {
      const bool known = std::any_of(spec.fields.begin(), spec.fields.end(),
                                     [&](const FieldSpec& f) { return f.name == it.key(); });
      if (!known) return "unknown field " + it.key();
    }
  }
  return "";
}

const RequestSpec& request_spec(const std::vector<RequestSpec>& specs, std::string_view operation) {
  for (const auto& s : specs) {
    if (s.operation == operation) return s;
  }
  std::abort();  // a spec the emulator names must exist
}

// Lambda Cloud API 1.10.0 (lambda-openapi.json).
const std::vector<RequestSpec>& lambda_request_specs() {
  static const std::vector<RequestSpec> specs = {
      {"launchInstance",
       "post",
       "/api/v1/instance-operations/launch",
       {{"region_name", T::String, true},
        {"instance_type_name", T::String, true},
        {"ssh_key_names", T::Array, true},
        {"file_system_names", T::Array},
        {"file_system_mounts", T::Array},
        {"hostname", T::String},
        {"name", T::String},
        {"image", T::Any},
        {"user_data", T::String},
        {"tags", T::Array},
        {"firewall_rulesets", T::Array}},
       true},
      {"terminateInstance",
       "post",
       "/api/v1/instance-operations/terminate",
       {{"instance_ids", T::Array, true}},
       true},
  };
  return specs;
}

// Runpod REST v2 (runpod-v2-openapi.json): createPod's body is
// ContainerConfig plus the pod fields (allOf), every property listed.
const std::vector<RequestSpec>& runpod_request_specs() {
  static const std::vector<RequestSpec> specs = {
      {"createPod",
       "post",
       "/v2/pods",
       {{"name", T::String, true},
        {"args", T::String},
        {"disk", T::Integer},
        {"env", T::Object, false, T::String},
        {"image", T::String},
        {"ports", T::Array, false, T::String},
        {"registry", T::Any},
        {"cloud", T::String},
        {"cpu", T::Object},
        {"dataCenterIds", T::Array},
        {"globalNetworking", T::Boolean},
        {"gpu", T::Object},
        {"mounts", T::Object},
        {"startJupyter", T::Boolean},
        {"startSsh", T::Boolean},
        {"templateId", T::String}},
       true},
  };
  return specs;
}

// Vast.ai API (vast-openapi.yaml).
const std::vector<RequestSpec>& vastai_request_specs() {
  static const std::vector<RequestSpec> specs = {
      {"createInstance",
       "put",
       "/api/v0/asks/{id}",
       {{"image", T::String, true},
        {"label", T::String},
        {"disk", T::Number},
        {"runtype", T::String},
        {"target_state", T::String},
        {"env", T::String},
        {"onstart", T::String},
        {"args", T::Array, false, T::String},
        {"cancel_unavail", T::Boolean},
        {"price", T::Number}},
       false},
      {"attachSshKey", "post", "/api/v0/instances/{id}/ssh", {{"ssh_key", T::String}}, true},
      {"searchOffers",
       "post",
       "/api/v0/bundles",
       {{"order", T::Array}, {"limit", T::Integer}},
       false},
  };
  return specs;
}

std::string check_query(const std::vector<std::pair<std::string, std::string>>& params,
                        const QuerySpec& spec) {
  auto top = [](const std::string& name) { return name.substr(0, name.find('.')); };
  for (const auto& r : spec.required) {
    const bool present =
        std::any_of(params.begin(), params.end(), [&](const auto& p) { return top(p.first) == r; });
    if (!present) return "missing " + r;
  }
  for (const auto& [name, value] : params) {
    const std::string t = top(name);
    if (t == "Action" || t == "Version") continue;
    if (std::find(spec.params.begin(), spec.params.end(), t) == spec.params.end())
      return "unknown " + t;
  }
  return "";
}

const QuerySpec* query_spec(const std::vector<QuerySpec>& specs, std::string_view operation) {
  for (const auto& s : specs) {
    if (s.operation == operation) return &s;
  }
  return nullptr;
}

// listGpuTypes (GET /v2/catalog/gpus): the published parameters, none
// required.
const std::vector<QuerySpec>& runpod_query_specs() {
  static const std::vector<QuerySpec> specs = {
      {"listGpuTypes",
       {"include", "product", "count", "cloud", "countryCodes", "cudaVersions", "minCudaVersion"},
       {}},
  };
  return specs;
}

// Query names as the EC2 protocol serialises the input members (queryName,
// else the capitalised locationName, else the member name).
const std::vector<QuerySpec>& ec2_query_specs() {
  static const std::vector<QuerySpec> specs = {
      {"RunInstances",
       {"BlockDeviceMapping",
        "ImageId",
        "InstanceType",
        "Ipv6AddressCount",
        "Ipv6Address",
        "KernelId",
        "KeyName",
        "MaxCount",
        "MinCount",
        "Monitoring",
        "Placement",
        "RamdiskId",
        "SecurityGroupId",
        "SecurityGroup",
        "SubnetId",
        "UserData",
        "ElasticGpuSpecification",
        "ElasticInferenceAccelerator",
        "TagSpecification",
        "LaunchTemplate",
        "InstanceMarketOptions",
        "CreditSpecification",
        "CpuOptions",
        "CapacityReservationSpecification",
        "HibernationOptions",
        "LicenseSpecification",
        "MetadataOptions",
        "EnclaveOptions",
        "PrivateDnsNameOptions",
        "MaintenanceOptions",
        "DisableApiStop",
        "EnablePrimaryIpv6",
        "NetworkPerformanceOptions",
        "Operator",
        "SecondaryInterface",
        "DryRun",
        "DisableApiTermination",
        "InstanceInitiatedShutdownBehavior",
        "PrivateIpAddress",
        "ClientToken",
        "AdditionalInfo",
        "NetworkInterface",
        "IamInstanceProfile",
        "EbsOptimized"},
       {"MaxCount", "MinCount"}},
      {"DescribeInstances",
       {"InstanceId", "IncludeManagedResources", "DryRun", "Filter", "NextToken", "MaxResults"},
       {}},
      {"TerminateInstances", {"InstanceId", "Force", "SkipOsShutdown", "DryRun"}, {"InstanceId"}},
      {"DescribeInstanceTypeOfferings",
       {"DryRun", "LocationType", "Filter", "MaxResults", "NextToken"},
       {}},
      {"DescribeInstanceTypes",
       {"DryRun", "InstanceType", "Filter", "MaxResults", "NextToken",
        "IncludeUnsupportedInRegion"},
       {}},

  };
  return specs;
}

}  // namespace gpupool::emulators
