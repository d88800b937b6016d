#pragma once
// Defaulting and semantic validation of the gpupool.io/v1alpha1 types.
//
// apply_defaults() fills what the documents may omit (documented in
// api_types.h): replicas.count := min, replicas.max := max(min, count);
// endpoint port / health path are already defaulted by the types. It is
// idempotent and never makes a valid object invalid.
//
// validate() returns EVERY problem, each with its Kubernetes-style field
// path, in a stable order (document order of the fields), e.g.
//   spec.replicas.max: must be >= spec.replicas.min (2)
//   spec.gpu.models[1].throughputWeight: must be > 0
//   spec.providers[0].name: must not be empty
// An empty vector means valid. It works on defaulted and undefaulted objects
// (unset optionals are treated as their defaults). Validation of spec and
// metadata only; status is written by the operator and is not validated.
//
// The checks here are a superset of the CRD's OpenAPI + CEL rules
// (crds/*.yaml), so a file that passes validate() is accepted by the API
// server, and the CRD refuses most invalid specs before the operator sees
// them.

#include <string_view>
#include <vector>

#include "operator/base/result.h"

#include "operator/core/api_codec.h"
#include "operator/core/api_types.h"

namespace gpupool::api {

void apply_defaults(GpuPool& pool);
void apply_defaults(GpuInstance& instance);
void apply_defaults(GpuProvider& provider);

std::vector<FieldError> validate(const GpuPool& pool);
std::vector<FieldError> validate(const GpuInstance& instance);
std::vector<FieldError> validate(const GpuProvider& provider);
std::vector<FieldError> validate(const ApiObject& object);
// An update of a GpuInstance from `old` (as stored) to `updated`, in step
// with the CRD's transition rule at the object root: spec.offer may change
// only while no machine exists (old's status.providerId is empty), which is
// how the operator moves a create its provider refused (NoCapacity) onto the
// next offer (docs/operations.md, "Create and failover"); once a machine
// exists the offer is what it was bought at and is immutable.
std::vector<FieldError> validate_update(const GpuInstance& old, const GpuInstance& updated);

// For user files (the `plan` command, tests): parses a YAML (or JSON) stream,
// decodes every document in Strict mode, applies defaults and validates.
// Returns the defaulted objects in document order, or a DecodeError holding
// every problem of every document: syntax errors (kind Syntax), documents of
// other kinds (UnknownKind), decode errors and validation errors (Invalid).
// A validation error on a path at or under a field that failed to decode is
// not reported twice. FieldError::document is set when the stream has more
// than one document.
Result<std::vector<ApiObject>, DecodeError> load_objects(std::string_view text);

// The desired fixed machine count of a pool with autoscaling off, after
// defaulting rules: count, else min.
int fixed_replicas(const GpuPoolSpec& spec);
// The effective maximum: max, else max(min, count).
int max_replicas(const GpuPoolSpec& spec);

// True if `name` is a valid DNS-1123 subdomain (Kubernetes object names):
// at most 253 characters of [a-z0-9.-], starting and ending alphanumeric.
bool is_dns1123_subdomain(std::string_view name);
// True if `name` is a valid DNS-1123 label (namespaces, Secret names are
// subdomains): at most 63 characters of [a-z0-9-], alphanumeric at both ends.
bool is_dns1123_label(std::string_view name);

}  // namespace gpupool::api
