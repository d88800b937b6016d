#pragma once
// Fully populated example objects for tests: every field of every type is
// set to a non-default value, so round-trip and CRD-schema tests see every
// wire field. Test-only (linked by tests, never by the operator).

#include <vector>

#include "operator/core/api_types.h"

namespace gpupool::api::fixtures {

GpuPool full_gpu_pool();
GpuInstance full_gpu_instance();
GpuProvider full_gpu_provider();  // type fluence: sshPublicKey.value, spec.fluence
// Per-type settings blocks may only be set on their own type, so one object
// cannot hold them all: full_gpu_provider() followed by an aws (with
// sshPublicKey.secretKeyRef), a lambda, a scaleway and a fake variant of it,
// each fully populated. Together they write every GpuProvider field.
std::vector<GpuProvider> full_gpu_providers();

// A small valid pool: one L40S model, replicas 1..3, two providers.
GpuPool minimal_valid_pool();

}  // namespace gpupool::api::fixtures
