#include "providers/verda/verda_provider.h"

#include "providers/factory/adapter_table.h"

namespace gpupool::verda {

factory::AdapterType adapter_type() {
  return factory::adapter<VerdaProvider, VerdaConfig>(
      "verda", {{"clientId", true}, {"clientSecret", true}}, "",
      [](const factory::AdapterContext& ctx, VerdaConfig& c) {
        c.client_id = ctx.credential("clientId");
        c.client_secret = ctx.credential("clientSecret");
      });
}

}  // namespace gpupool::verda
