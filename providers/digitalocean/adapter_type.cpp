#include "providers/digitalocean/digitalocean_provider.h"

#include "providers/factory/adapter_table.h"

namespace gpupool::digitalocean {

factory::AdapterType adapter_type() {
  factory::AdapterType t;
  t.type = "digitalocean";
  t.credentials = {{"apiToken", true}};
  t.settings_block = "";
  t.construct = [](const factory::AdapterContext& ctx) -> std::unique_ptr<Provider> {
    DoConfig c;
    c.provider_name = ctx.provider.metadata.name;
    c.endpoint = ctx.endpoint(c.endpoint);
    c.api_token = ctx.credential("apiToken");
    return std::make_unique<DoProvider>(std::move(c), ctx.transport, ctx.clock, ctx.sleeper);
  };
  return t;
}

}  // namespace gpupool::digitalocean
