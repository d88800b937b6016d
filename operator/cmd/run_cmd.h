#pragma once
// `gpupool-operator run`: the operator process. Connects to the API server
// (--kubeconfig, else in-cluster configuration, else $KUBECONFIG or
// ~/.kube/config), starts the manager (operator/manager/manager.h) and runs
// until SIGTERM or SIGINT (clean shutdown: controllers finish their current
// reconcile, the lease is released) or until leadership is lost (exit 1).
//
// Flags (--flag value or --flag=value):
//   --kubeconfig PATH      --namespace NS (empty: all)   --leader-elect[=bool]
//   --lease-namespace NS   --lease-name NAME             --health-addr HOST:PORT
//   --metrics-addr HOST:PORT  --log-level debug|info|warn|error
//   --log-format text|json    --workers N                --gc-period-seconds N
//   --kube-api-qps N (client-side rate limit, default 200; 0: none)
//   --kube-api-burst N (default 300)
// Bad flag values return 2 with the reason on `err` before anything starts.
// The configuration line logged at start has every credential redacted.
//
// REQUIRES: called from the main thread before any other thread exists (it
// blocks SIGTERM/SIGINT for every thread it starts and waits for them).

#include <iosfwd>
#include <string>
#include <vector>

#include "providers/factory/adapter_table.h"

namespace gpupool::cmd {

// `adapters`: the provider adapters the operator can build (main's table).
int run_operator(const std::vector<std::string>& args, const factory::AdapterTable& adapters,
                 std::ostream& out, std::ostream& err);

}  // namespace gpupool::cmd
