#include "providers/runpod/runpod_provider.h"

#include "providers/factory/adapter_table.h"

namespace gpupool::runpod {

factory::AdapterType adapter_type() {
  return factory::adapter<RunpodProvider, RunpodConfig>(
      "runpod", {{"apiKey", true}}, "", [](const factory::AdapterContext& ctx, RunpodConfig& c) {
        c.api_key = ctx.credential("apiKey");
      });
}

}  // namespace gpupool::runpod
