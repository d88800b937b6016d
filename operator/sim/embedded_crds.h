#pragma once
// The CRD manifests of crds/, compiled into the simulator (CMake reads them
// at configure time and re-runs when they change), so `simulate` needs no
// source tree at run time.

#include <string_view>
#include <vector>

namespace gpupool::sim {

// One YAML document text per file of crds/.
const std::vector<std::string_view>& embedded_crds();

}  // namespace gpupool::sim
