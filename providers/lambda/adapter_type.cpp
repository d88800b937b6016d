#include "providers/lambda/lambda_provider.h"

#include "providers/factory/adapter_table.h"

namespace gpupool::lambda {

factory::AdapterType adapter_type() {
  return factory::adapter<LambdaProvider, LambdaConfig>(
      "lambda", {{"apiKey", true}}, "lambda",
      [](const factory::AdapterContext& ctx, LambdaConfig& c) {
        const api::GpuProviderSpec& spec = ctx.provider.spec;
        c.api_key = ctx.credential("apiKey");
        if (spec.lambda) c.ssh_key_name = spec.lambda->ssh_key_name;
      });
}

}  // namespace gpupool::lambda
