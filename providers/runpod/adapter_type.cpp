#include "providers/runpod/runpod_provider.h"

#include "providers/factory/adapter_table.h"

namespace gpupool::runpod {

factory::AdapterType adapter_type() {
  return factory::adapter<RunpodProvider, RunpodConfig>(
      "runpod", {{"apiKey", true}}, "", [](const factory::AdapterContext& ctx, RunpodConfig& c) {
        c.api_key = ctx.credential("apiKey");
        if (const auto& runpod = ctx.provider.spec.runpod) {
          if (!runpod->image.empty()) c.image = runpod->image;
          if (runpod->disk_gb) c.disk_gb = *runpod->disk_gb;
          if (!runpod->cloud_type.empty()) c.cloud_type = runpod->cloud_type;
          c.data_center_ids = runpod->data_center_ids;
          c.min_cuda_version = runpod->min_cuda_version;
        }
      });
}

}  // namespace gpupool::runpod
