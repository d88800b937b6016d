#include "providers/vastai/vastai_provider.h"

#include "providers/factory/adapter_table.h"

namespace gpupool::vastai {

factory::AdapterType adapter_type() {
  return factory::adapter<VastProvider, VastConfig>(
      "vastai", {{"apiKey", true}}, "vastai",
      [](const factory::AdapterContext& ctx, VastConfig& c) {
        c.api_key = ctx.credential("apiKey");
        if (const auto& vast = ctx.provider.spec.vastai) {
          if (!vast->image.empty()) c.image = vast->image;
          if (vast->disk_gb) c.disk_gb = *vast->disk_gb;
          if (vast->verified_only) c.verified_only = *vast->verified_only;
        }
      });
}

}  // namespace gpupool::vastai
