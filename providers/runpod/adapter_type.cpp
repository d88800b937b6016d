#include "providers/runpod/runpod_provider.h"

#include "providers/factory/adapter_table.h"

namespace gpupool::runpod {

factory::AdapterType adapter_type() {
  factory::AdapterType t;
  t.type = "runpod";
  t.credentials = {{"apiKey", true}};
  t.settings_block = "";
  t.construct = [](const factory::AdapterContext& ctx) -> std::unique_ptr<Provider> {
    RunpodConfig c;
    c.provider_name = ctx.provider.metadata.name;
    c.endpoint = ctx.endpoint(c.endpoint);
    c.api_key = ctx.credential("apiKey");
    return std::make_unique<RunpodProvider>(std::move(c), ctx.transport, ctx.clock, ctx.sleeper);
  };
  return t;
}

}  // namespace gpupool::runpod
