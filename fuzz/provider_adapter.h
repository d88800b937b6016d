#pragma once
// make_provider: the adapter a provider_<name> fuzz target drives, set up
// against the scripted transport with `key` as its API credential.
// provider_adapter.cpp is compiled once per adapter
// (GPUPOOL_FUZZ_ADAPTER_<NAME>); provider_responses.cpp once for all.
#include <memory>
#include <string_view>

#include "operator/clock/clock.h"
#include "providers/http/client.h"
#include "providers/http/transport.h"
#include "providers/provider.h"

namespace gpupool::fuzz {

std::unique_ptr<Provider> make_provider(net::HttpTransport& t, const Clock& clock,
                                        net::Sleeper& sleeper, const net::LogSink& log,
                                        std::string_view key);

}  // namespace gpupool::fuzz
