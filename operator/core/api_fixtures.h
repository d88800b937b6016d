#pragma once
// Fully populated example objects for tests: every field of every type is
// set to a non-default value, so round-trip and CRD-schema tests see every
// wire field. Test-only (linked by tests, never by the operator).

#include "operator/core/api_types.h"

namespace gpupool::api::fixtures {

GpuPool full_gpu_pool();
GpuInstance full_gpu_instance();
GpuProvider full_gpu_provider();

// A small valid pool: one L40S model, replicas 1..3, two providers.
GpuPool minimal_valid_pool();

}  // namespace gpupool::api::fixtures
