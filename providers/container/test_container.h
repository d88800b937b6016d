#pragma once
// For adapter tests: an Endpoint-mode intent with a container whose args and
// env carry values a start script must quote (an apostrophe) and must never
// log (a token). Header-only; tests only.

#include "providers/provider.h"

namespace gpupool::container {

inline InstanceIntent endpoint_of(InstanceIntent i) {
  i.user_data.clear();  // Endpoint mode: no Node bootstrap
  i.container.image = "vllm/vllm-openai:v0.6.3";
  i.container.port = 8000;
  i.container.args = {"--model", "m", "--served-model-name", "it's"};
  i.container.env = {{"HF_TOKEN", "hf_s3cr3t"}};
  return i;
}

}  // namespace gpupool::container
