#include "operator/cmd/run_cmd.h"

#include <signal.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <future>
#include <map>
#include <optional>
#include <ostream>

#include "operator/clock/clock.h"
#include "operator/controllers/endpoint_prober_pool.h"
#include "operator/controllers/provider_slots.h"
#include "operator/kube/client/config.h"
#include "operator/kube/client/http_client.h"
#include "operator/kube/runtime/leader_election.h"
#include "operator/manager/log.h"
#include "operator/manager/manager.h"

namespace gpupool::cmd {
namespace {

constexpr int kOk = 0, kError = 1, kUsage = 2;

constexpr const char* kRunUsage = R"(Usage: gpupool-operator run [options]

Runs the operator: keeps GpuPools converged at their providers.

Options:
  --kubeconfig PATH          kubeconfig file (default: in-cluster, $KUBECONFIG, ~/.kube/config)
  --namespace NS             watch only this namespace (default: all)
  --leader-elect[=BOOL]      run only while holding the lease (default: false)
  --lease-namespace NS       namespace of the Lease (default: default)
  --lease-name NAME          name of the Lease (default: gpupool-operator)
  --leader-elect-lease-duration DURATION
                             how long other replicas wait, after they last saw the Lease
                             change, before taking it over (default: 15s)
  --leader-elect-renew-deadline DURATION
                             how long the leader keeps trying to renew before it stops
                             writing and exits with code 1 (default: 10s)
  --leader-elect-retry-period DURATION
                             time between acquire/renew attempts (default: 2s)
                             DURATION is whole seconds, "N" or "Ns"; the three must satisfy
                             lease-duration > renew-deadline > 1.2 * retry-period
  --health-addr HOST:PORT    /healthz and /readyz (default: 127.0.0.1:8081; "" disables)
  --metrics-addr HOST:PORT   /metrics, served by prometheus-cpp's Exposer there (default: "" =
                             served by the health server on --health-addr instead; the same
                             address as --health-addr means the same)
  --log-level LEVEL          debug|info|warn|error (default: info)
  --log-format FORMAT        text|json (default: text)
  --workers N                workers per controller (default: 4)
  --health-check-workers N   threads that run Endpoint-mode HTTP health checks, apart from the
                             controllers' workers, so a machine that never answers holds one
                             of these for its timeoutSeconds, not a worker (default: 4; 1..64)
  --provider-concurrency N   provider API calls in flight per GpuProvider, over all controllers;
                             a reconcile that finds its provider at the limit comes back in
                             300 ms and its worker serves other keys, so a slow provider holds
                             at most N workers of a controller (default: 0 = --workers / 2, at
                             least 1; N >= --workers lets one provider hold every worker)
  --gc-period-seconds N      garbage collection period (default: 15)
  --spend-status-period-seconds N
                             how often a pool's spend summary in status is refreshed when
                             nothing else changed (default: 300)
  --prometheus-url URL       Prometheus that autoscaling metrics query unless they set their
                             own prometheusUrl (default: "" = such metrics fail; pools hold)
  --prometheus-timeout-seconds N
                             timeout of one Prometheus query (default: 5)
  --autoscale-period-seconds N
                             how often an autoscaling pool's signals are read (default: 15)
  --shutdown-grace-seconds N on SIGTERM: in-flight work gets half of this to finish, then API
                             calls are interrupted; the process exits by then (default: 20)
  --kube-api-qps N           Kubernetes API requests per second, client-side token bucket
                             (default: 200; 0 disables the limit)
  --kube-api-burst N         requests the bucket lets through at once (default: 300)
)";

// "15" or "15s": whole seconds >= 1; nullopt otherwise.
std::optional<Duration> parse_seconds(std::string text) {
  if (!text.empty() && text.back() == 's') text.pop_back();
  if (text.empty() || text.size() > 9 ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  const int64_t n = std::stoll(text);
  if (n < 1) return std::nullopt;
  return Duration{n};
}

// --health-check-workers: a whole number 1..ProbePool::kMaxThreads, digits
// only ("4x", "-1", "" are refused); nullopt otherwise.
std::optional<int> parse_health_check_workers(const std::string& text) {
  if (text.empty() || text.size() > 3 ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  const int n = std::stoi(text);
  if (n < 1 || n > controllers::ProbePool::kMaxThreads) return std::nullopt;
  return n;
}

// --provider-concurrency: a whole number 0..100000 (0: the default for the
// workers), digits only; nullopt otherwise.
std::optional<int> parse_provider_concurrency(const std::string& text) {
  if (text.empty() || text.size() > 6 ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  const int n = std::stoi(text);
  if (n > 100'000) return std::nullopt;
  return n;
}

struct LeaderElectionTimings {
  Duration lease_duration, renew_deadline, retry_period;
};

// The three --leader-elect-* durations: each well-formed, and (when
// --leader-elect is on) in the order the elector needs. Writes the error.
std::optional<LeaderElectionTimings> parse_leader_election_flags(
    std::map<std::string, std::string>& flags, std::ostream& err) {
  LeaderElectionTimings t{};
  for (auto [name, field] :
       {std::pair{"leader-elect-lease-duration", &LeaderElectionTimings::lease_duration},
        std::pair{"leader-elect-renew-deadline", &LeaderElectionTimings::renew_deadline},
        std::pair{"leader-elect-retry-period", &LeaderElectionTimings::retry_period}}) {
    auto d = parse_seconds(flags[name]);
    if (!d) {
      err << "error: --" << name << " must be whole seconds >= 1 (\"15\" or \"15s\"), not \""
          << flags[name] << "\"\n";
      return std::nullopt;
    }
    t.*field = *d;
  }
  if (flags["leader-elect"] == "true") {
    kube::LeaderElectionConfig c;
    c.lease_namespace = flags["lease-namespace"];
    c.lease_name = flags["lease-name"];
    c.identity = "flag-check";  // the real one is made by the manager
    c.lease_duration = t.lease_duration;
    c.renew_deadline = t.renew_deadline;
    c.retry_period = t.retry_period;
    if (auto v = kube::LeaderElector::validate(c); !v.ok()) {
      err << "error: leader election: " << v.error().message
          << " (--leader-elect-lease-duration > --leader-elect-renew-deadline > 1.2 * "
             "--leader-elect-retry-period; --lease-name and --lease-namespace not empty)\n";
      return std::nullopt;
    }
  }
  return t;
}

}  // namespace

int run_operator(const std::vector<std::string>& args, const factory::AdapterTable& adapters,
                 std::ostream& out, std::ostream& err) {
  std::map<std::string, std::string> flags = {{"kubeconfig", ""},
                                              {"namespace", ""},
                                              {"leader-elect", "false"},
                                              {"lease-namespace", "default"},
                                              {"lease-name", "gpupool-operator"},
                                              {"leader-elect-lease-duration", "15s"},
                                              {"leader-elect-renew-deadline", "10s"},
                                              {"leader-elect-retry-period", "2s"},
                                              {"health-addr", "127.0.0.1:8081"},
                                              {"metrics-addr", ""},
                                              {"log-level", "info"},
                                              {"log-format", "text"},
                                              {"workers", "4"},
                                              {"health-check-workers", "4"},
                                              {"provider-concurrency", "0"},
                                              {"gc-period-seconds", "15"},
                                              {"spend-status-period-seconds", "300"},
                                              {"prometheus-url", ""},
                                              {"prometheus-timeout-seconds", "5"},
                                              {"autoscale-period-seconds", "15"},
                                              {"shutdown-grace-seconds", "20"},
                                              {"kube-api-qps", "200"},
                                              {"kube-api-burst", "300"}};
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help") {
      out << kRunUsage;
      return kOk;
    }
    if (a.rfind("--", 0) != 0) {
      err << "error: unexpected argument '" << a << "'\n\n" << kRunUsage;
      return kUsage;
    }
    std::string name = a.substr(2), value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    if (!flags.count(name)) {
      err << "error: unknown flag '--" << name << "'\n\n" << kRunUsage;
      return kUsage;
    }
    if (!has_value) {
      if (name == "leader-elect") {
        value = "true";
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        err << "error: flag '--" << name << "' needs a value\n";
        return kUsage;
      }
    }
    flags[name] = value;
  }
  auto level = manager::parse_log_level(flags["log-level"]);
  auto format = manager::parse_log_format(flags["log-format"]);
  if (!level || !format) {
    err << "error: --log-level must be debug|info|warn|error and --log-format text|json\n";
    return kUsage;
  }
  if (flags["leader-elect"] != "true" && flags["leader-elect"] != "false") {
    err << "error: --leader-elect must be true or false\n";
    return kUsage;
  }
  auto elect = parse_leader_election_flags(flags, err);
  if (!elect) return kUsage;
  int workers = 0, gc_period = 0, spend_period = 0, prom_timeout = 0, scale_period = 0, grace = 0;
  try {
    workers = std::stoi(flags["workers"]);
    gc_period = std::stoi(flags["gc-period-seconds"]);
    spend_period = std::stoi(flags["spend-status-period-seconds"]);
    prom_timeout = std::stoi(flags["prometheus-timeout-seconds"]);
    scale_period = std::stoi(flags["autoscale-period-seconds"]);
    grace = std::stoi(flags["shutdown-grace-seconds"]);
  } catch (...) {
    workers = gc_period = spend_period = prom_timeout = scale_period = grace = 0;
  }
  if (workers < 1 || gc_period < 1 || spend_period < 1 || prom_timeout < 1 || scale_period < 1 ||
      grace < 1) {
    err << "error: --workers, --gc-period-seconds, --spend-status-period-seconds, "
           "--prometheus-timeout-seconds, --autoscale-period-seconds and "
           "--shutdown-grace-seconds must be whole numbers >= 1\n";
    return kUsage;
  }
  const auto provider_concurrency = parse_provider_concurrency(flags["provider-concurrency"]);
  if (!provider_concurrency) {
    err << "error: --provider-concurrency must be a whole number >= 0 (0: --workers / 2), not \""
        << flags["provider-concurrency"] << "\"\n";
    return kUsage;
  }
  double api_qps = -1;
  int api_burst = 0;
  try {
    size_t used = 0;
    api_qps = std::stod(flags["kube-api-qps"], &used);
    if (used != flags["kube-api-qps"].size()) api_qps = -1;
    api_burst = std::stoi(flags["kube-api-burst"]);
  } catch (...) {
    api_qps = -1;
  }
  if (!(api_qps >= 0 && api_qps <= 1e6) || api_burst < 1) {
    err << "error: --kube-api-qps must be a number >= 0 and --kube-api-burst a whole number "
           ">= 1\n";
    return kUsage;
  }
  const auto health_check_workers = parse_health_check_workers(flags["health-check-workers"]);
  if (!health_check_workers) {
    err << "error: --health-check-workers must be a whole number from 1 to "
        << controllers::ProbePool::kMaxThreads << ", not \"" << flags["health-check-workers"]
        << "\"\n";
    return kUsage;
  }
  const std::string& prom_url = flags["prometheus-url"];
  if (!prom_url.empty() && prom_url.rfind("http://", 0) != 0 &&
      prom_url.rfind("https://", 0) != 0) {
    err << "error: --prometheus-url must start with http:// or https://\n";
    return kUsage;
  }

  SystemClock clock;
  manager::Logger log(err, clock, *level, *format);

  Result<kube::ClientConfig, kube::ConfigError> config = kube::ClientConfig{};
  if (!flags["kubeconfig"].empty()) {
    config = kube::load_kubeconfig({{flags["kubeconfig"]}, ""});
  } else {
    auto env = kube::process_env();
    if (env("KUBERNETES_SERVICE_HOST")) {
      config = kube::load_in_cluster(env);
    } else {
      config = kube::load_kubeconfig({kube::default_kubeconfig_paths(env), ""});
    }
  }
  if (!config.ok()) {
    log.error("cannot load the Kubernetes configuration", {{"error", config.error().message}});
    return kError;
  }
  config->qps = api_qps;
  config->burst = api_burst;
  log.info("connecting", {{"config", config->to_string()}});

  // Every thread started from here on inherits the blocked signals, so only
  // sigtimedwait below sees them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  kube::HttpKubeClient client(std::move(config).value(), clock);
  manager::ManagerOptions mo;
  mo.namespace_ = flags["namespace"];
  mo.leader_elect = flags["leader-elect"] == "true";
  mo.lease_namespace = flags["lease-namespace"];
  mo.lease_name = flags["lease-name"];
  mo.lease_duration = elect->lease_duration;
  mo.renew_deadline = elect->renew_deadline;
  mo.retry_period = elect->retry_period;
  mo.health_addr = flags["health-addr"];
  mo.metrics_addr = flags["metrics-addr"];
#ifdef GPUPOOL_VERSION
  mo.version = GPUPOOL_VERSION;
#endif
#ifdef GPUPOOL_REVISION
  mo.revision = GPUPOOL_REVISION;
#endif
  mo.workers = workers;
  mo.health_check_workers = *health_check_workers;
  mo.provider_concurrency = *provider_concurrency > 0
                                ? *provider_concurrency
                                : controllers::default_provider_concurrency(workers);
  mo.gc_period = Duration{gc_period};
  mo.spend_status_period = Duration{spend_period};
  mo.prometheus_url = flags["prometheus-url"];
  mo.prometheus_timeout = std::chrono::seconds{prom_timeout};
  mo.scaling_period = Duration{scale_period};
  mo.adapters = adapters;
  manager::Manager mgr(client, clock, log, mo);
  if (auto s = mgr.start(); !s.ok()) {
    log.error("cannot start", {{"error", s.error().message}});
    mgr.stop();
    return kError;
  }
  log.info("running", {{"namespace", mo.namespace_.empty() ? "(all)" : mo.namespace_},
                       {"leader-elect", flags["leader-elect"]}});
  int code = kOk;
  for (;;) {
    timespec timeout{0, 200'000'000};
    const int sig = sigtimedwait(&set, nullptr, &timeout);
    if (sig == SIGTERM || sig == SIGINT) {
      log.info("shutting down", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
      break;
    }
    if (mgr.lost_leadership()) {
      log.error("leadership lost; exiting so a fresh process can campaign again");
      code = kError;
      break;
    }
  }
  // Bounded shutdown: in-flight reconciles get half the grace to finish;
  // then every API call is interrupted (a dead API server must not hold the
  // exit); at the end of the grace the process leaves regardless.
  const auto half = std::chrono::milliseconds(grace * 500);
  auto stopped = std::async(std::launch::async, [&mgr] { mgr.stop(); });
  if (stopped.wait_for(half) != std::future_status::ready) {
    log.warn("still stopping; interrupting API calls",
             {{"after", std::to_string(grace / 2.0) + "s"}});
    client.shutdown();
    if (stopped.wait_for(half) != std::future_status::ready) {
      log.error("shutdown grace passed; exiting without waiting for the rest",
                {{"grace", std::to_string(grace) + "s"}});
      std::_Exit(kError);
    }
  }
  log.info("stopped");
  return code;
}

}  // namespace gpupool::cmd
