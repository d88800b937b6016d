#include "providers/lambda/lambda_provider.h"

#include "providers/factory/adapter_table.h"

namespace gpupool::lambda {

factory::AdapterType adapter_type() {
  factory::AdapterType t;
  t.type = "lambda";
  t.credentials = {{"apiKey", true}};
  t.settings_block = "lambda";
  t.construct = [](const factory::AdapterContext& ctx) -> std::unique_ptr<Provider> {
    LambdaConfig c;
    c.provider_name = ctx.provider.metadata.name;
    c.endpoint = ctx.endpoint(c.endpoint);
    const api::GpuProviderSpec& spec = ctx.provider.spec;
    c.api_key = ctx.credential("apiKey");
    if (spec.lambda) c.ssh_key_name = spec.lambda->ssh_key_name;
    return std::make_unique<LambdaProvider>(std::move(c), ctx.transport, ctx.clock, ctx.sleeper);
  };
  return t;
}

}  // namespace gpupool::lambda
