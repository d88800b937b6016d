#pragma once
// What a provider's published API description says a request body may and
// must carry, written down once per operation and used twice: the emulator
// refuses a request that does not fit (as the real API would), and
// tests/emulators/conformance/published_api_test.cpp compares the spec with
// the published file (shared/reference/provider-apis/) so drift is caught.
//
// Pure functions; thread-safe.

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace gpupool::emulators {

enum class JsonType { String, Integer, Number, Boolean, Array, Object, Any };

std::string_view to_string(JsonType type);

struct FieldSpec {
  std::string name;
  JsonType type = JsonType::Any;
  bool required = false;
  // Array: the type of every item (published items.type); object: the type
  // of every value (published additionalProperties.type). Any: unchecked.
  JsonType element = JsonType::Any;
};

struct RequestSpec {
  std::string operation;  // the published operationId ("createPod")
  std::string method;     // "post", as in the published description
  std::string path;       // "/v2/pods", as in the published description
  std::vector<FieldSpec> fields;
  // True when `fields` lists every published property and anything else is
  // refused; false when the emulator checks only the fields it lists.
  bool closed = false;
};

// "" when `body` fits the spec; otherwise a message naming the first field
// that is missing, of the wrong type (or holding an item or value of the
// wrong type), or (closed specs) unknown.
std::string check_request(const nlohmann::json& body, const RequestSpec& spec);

// The request specs every emulator checks, by provider ("lambda", "runpod",
// "vastai"), for the drift test.
const std::vector<RequestSpec>& lambda_request_specs();
const std::vector<RequestSpec>& runpod_request_specs();
const std::vector<RequestSpec>& vastai_request_specs();
// A Query-API operation (EC2): the top-level parameter names it takes (the
// part before the first '.': "TagSpecification" for
// "TagSpecification.1.ResourceType"), every published one, and the required
// ones. Action and Version are always allowed.
struct QuerySpec {
  std::string operation;
  std::vector<std::string> params;
  std::vector<std::string> required;
};
// "" when the parameters fit; otherwise "missing <name>" or "unknown <name>".
std::string check_query(const std::vector<std::pair<std::string, std::string>>& params,
                        const QuerySpec& spec);
// EC2 2016-11-15 (ec2-service-2.json), the operations the EC2 emulator serves.
const std::vector<QuerySpec>& ec2_query_specs();
// Runpod REST v2 (runpod-v2-openapi.json): the query parameters of the GET
// operations the Runpod emulator serves (listGpuTypes).
const std::vector<QuerySpec>& runpod_query_specs();
// The query spec named `operation`, or nullptr.
const QuerySpec* query_spec(const std::vector<QuerySpec>& specs, std::string_view operation);

// The spec named `operation` in `specs` (REQUIRES: it exists).
const RequestSpec& request_spec(const std::vector<RequestSpec>& specs, std::string_view operation);

}  // namespace gpupool::emulators
