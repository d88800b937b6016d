#include "providers/vastai/vastai_provider.h"

#include "providers/factory/adapter_table.h"

namespace gpupool::vastai {

factory::AdapterType adapter_type() {
  factory::AdapterType t;
  t.type = "vastai";
  t.credentials = {{"apiKey", true}};
  t.settings_block = "vastai";
  t.construct = [](const factory::AdapterContext& ctx) -> std::unique_ptr<Provider> {
    VastConfig c;
    c.provider_name = ctx.provider.metadata.name;
    c.endpoint = ctx.endpoint(c.endpoint);
    c.api_key = ctx.credential("apiKey");
    if (const auto& vast = ctx.provider.spec.vastai) {
      if (!vast->image.empty()) c.image = vast->image;
      if (vast->disk_gb) c.disk_gb = *vast->disk_gb;
      if (vast->verified_only) c.verified_only = *vast->verified_only;
    }
    return std::make_unique<VastProvider>(std::move(c), ctx.transport, ctx.clock, ctx.sleeper);
  };
  return t;
}

}  // namespace gpupool::vastai
