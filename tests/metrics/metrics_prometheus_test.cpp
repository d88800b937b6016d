// A real Prometheus scrapes the real operator. The test API server (in
// process), `gpupool-operator run` with a "fake" GpuProvider and a running
// pool, and Debian's `prometheus` (temporary config and storage, loopback
// only, scraping the operator's --metrics-addr every second). Then, through
// Prometheus' HTTP API:
//   * every dashboard panel query parses, and every pool panel returns data;
//   * every alert expression parses;
//   * the spend counter grows between scrapes and agrees to the cent with
//     spend::pool_spend computed from the API objects at the scrape's
//     timestamp.
// Everything started is stopped at the end.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <sstream>
#include <thread>

#include "operator/core/api_codec.h"
#include "operator/core/spend.h"
#include "tests/apiserver/api_server.h"
#include "tests/operator/process.h"

extern char** environ;

namespace gpupool {
namespace {

using namespace std::chrono_literals;
using kube::Json;
namespace fs = std::filesystem;

const kube::Resource kPools{"gpupool.io", "v1alpha1", "gpupools", "GpuPool", true};
const kube::Resource kInstances{"gpupool.io", "v1alpha1", "gpuinstances", "GpuInstance", true};

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Real-time polling: the operator and Prometheus are other processes.
bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds limit = 60s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(200ms);
  }
  return pred();
}

pid_t spawn(const std::vector<std::string>& args, const fs::path& out, const fs::path& err,
            const std::vector<std::string>& extra_env = {}) {
  return testing_process::spawn(args, out, err, {.extra_env = extra_env, .truncate_out = true});
}

using testing_process::wait_exit;

// A loopback port nobody listens on right now.
uint16_t free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  uint16_t port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  close(fd);
  return port;
}

class MetricsPrometheus : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* src = std::getenv("GPUPOOL_SOURCE_DIR");
    const char* bin = std::getenv("GPUPOOL_BINARY_DIR");
    ASSERT_TRUE(src && bin);
    source_ = src;
    binary_ = fs::path(bin) / "bin" / "gpupool-operator";
    ASSERT_TRUE(fs::exists(binary_)) << binary_;
    // Prometheus is a requirement (scripts/setup.sh installs it): fail, never skip.
    ASSERT_EQ(access("/usr/bin/prometheus", X_OK), 0) << "prometheus missing: scripts/setup.sh";
    dir_ = fs::temp_directory_path() / ("gpupool-prom-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "home");
    server_ = std::make_unique<apiserver::TestApiServer>(clock_);
    ASSERT_TRUE(server_->start().ok());
    for (const char* f : {"gpupool.io_gpupools.yaml", "gpupool.io_gpuinstances.yaml",
                          "gpupool.io_gpuproviders.yaml"}) {
      auto s = server_->load_manifests(read_file(source_ / "crds" / f));
      ASSERT_TRUE(s.ok()) << s.error().message;
    }
    kubeconfig_ = dir_ / "kubeconfig";
    ASSERT_TRUE(server_->write_kubeconfig(kubeconfig_.string()).ok());
  }

  void TearDown() override {
    for (pid_t* p : {&prom_, &op_}) {
      if (*p > 0) {
        kill(*p, SIGTERM);
        wait_exit(*p);
        *p = -1;
      }
    }
    if (server_) server_->stop();
    if (!HasFailure()) fs::remove_all(dir_);
  }

  int kubectl(const std::vector<std::string>& args, std::string* out,
              const std::string& stdin_text = "") {
    std::vector<std::string> full = {"timeout", "60", "kubectl", "--kubeconfig",
                                     kubeconfig_.string()};
    full.insert(full.end(), args.begin(), args.end());
    const fs::path o = dir_ / "kubectl.out", e = dir_ / "kubectl.err";
    fs::remove(e);
    if (!stdin_text.empty()) {
      const fs::path in = dir_ / "stdin.yaml";
      std::ofstream(in) << stdin_text;
      for (auto& a : full) {
        if (a == "-") a = in.string();
      }
    }
    pid_t pid = spawn(
        full, o, e,
        {"HOME=" + (dir_ / "home").string(), "KUBECACHEDIR=" + (dir_ / "home" / "cache").string()});
    const int code = pid > 0 ? wait_exit(pid) : -1;
    if (out) *out = read_file(o) + read_file(e);
    return code;
  }

  // GET Prometheus' /api/v1/query; the decoded answer (null on transport error).
  Json query(const std::string& promql) {
    const fs::path o = dir_ / "curl.out", e = dir_ / "curl.err";
    pid_t pid =
        spawn({"curl", "-sS", "--max-time", "10", "--get", "--data-urlencode", "query=" + promql,
               "http://127.0.0.1:" + std::to_string(prom_port_) + "/api/v1/query"},
              o, e);
    if (pid <= 0 || wait_exit(pid) != 0) return nullptr;
    return Json::parse(read_file(o), nullptr, false);
  }

  SystemClock clock_;
  fs::path source_, binary_, dir_, kubeconfig_;
  std::unique_ptr<apiserver::TestApiServer> server_;
  pid_t op_ = -1, prom_ = -1;
  uint16_t metrics_port_ = 0, prom_port_ = 0;
};

std::string substitute(std::string expr, const std::map<std::string, std::string>& vars) {
  for (const auto& [k, v] : vars) {
    for (size_t at = expr.find(k); at != std::string::npos; at = expr.find(k, at + v.size()))
      expr.replace(at, k.size(), v);
  }
  return expr;
}

TEST_F(MetricsPrometheus, PrometheusScrapesTheCatalogAndSpendAgreesWithCore) {
  // The operator, with /metrics on its own address (prometheus-cpp's Exposer).
  metrics_port_ = free_port();
  ASSERT_GT(metrics_port_, 0);
  op_ = spawn({binary_.string(), "run", "--kubeconfig", kubeconfig_.string(), "--health-addr",
               "127.0.0.1:0", "--metrics-addr", "127.0.0.1:" + std::to_string(metrics_port_),
               "--gc-period-seconds", "1", "--log-format", "json"},
              dir_ / "operator.out", dir_ / "operator.log");
  ASSERT_GT(op_, 0);
  std::string out;
  ASSERT_EQ(kubectl({"apply", "-f", "-"}, &out,
                    "apiVersion: gpupool.io/v1alpha1\nkind: GpuProvider\nmetadata:\n  name: local\n"
                    "spec:\n  type: fake\n  fake:\n    bootSeconds: 1\n"
                    "  priceOverrides:\n  - gpuModel: L40S\n    pricePerGpuHour: \"0.90\"\n"),
            0)
      << out;
  ASSERT_EQ(kubectl({"apply", "-f", "-"}, &out,
                    "apiVersion: gpupool.io/v1alpha1\nkind: GpuPool\nmetadata:\n  name: web\n"
                    "  namespace: default\nspec:\n  gpu:\n    models:\n    - name: L40S\n"
                    "  replicas:\n    count: 2\n  providers:\n  - name: local\n"
                    "  budget:\n    maxUsdPerHour: \"5.00\"\n    maxUsdPerMonth: \"3000\"\n"),
            0)
      << out;
  ASSERT_EQ(kubectl({"wait", "--for=condition=Ready", "gpupool/web", "--timeout=60s"}, &out), 0)
      << out << read_file(dir_ / "operator.log");

  // Prometheus: temporary config and storage, loopback only.
  prom_port_ = free_port();
  ASSERT_GT(prom_port_, 0);
  std::ofstream(dir_ / "prometheus.yml")
      << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
         "scrape_configs:\n- job_name: gpupool-operator\n  scrape_interval: 1s\n"
         "  scrape_timeout: 1s\n  static_configs:\n  - targets: ['127.0.0.1:"
      << metrics_port_ << "']\n";
  prom_ = spawn({"/usr/bin/prometheus", "--config.file=" + (dir_ / "prometheus.yml").string(),
                 "--storage.tsdb.path=" + (dir_ / "tsdb").string(),
                 "--web.listen-address=127.0.0.1:" + std::to_string(prom_port_)},
                dir_ / "prometheus.out", dir_ / "prometheus.log");
  ASSERT_GT(prom_, 0);
  const std::string spend_sel = R"(gpupool_pool_spend_usd_total{namespace="default",pool="web"})";
  // At least three scrapes of the spend series (rate windows need two).
  ASSERT_TRUE(eventually(
      [&] {
        Json r = query("count_over_time(" + spend_sel + "[1m])");
        return r.is_object() && r.value("status", "") == "success" &&
               !r["data"]["result"].empty() &&
               std::stod(r["data"]["result"][0]["value"][1].get<std::string>()) >= 3;
      },
      60s))
      << read_file(dir_ / "prometheus.log") << query("up").dump();

  // Every dashboard query parses; every pool panel has data.
  const Json dashboard = Json::parse(read_file(source_ / "metrics/dashboards/gpupool.json"));
  const std::map<std::string, std::string> vars{
      {"$namespace", "default"},  {"$pool", "web"},   {"$provider", ".*"},  {"$instance", ".*"},
      {"$__rate_interval", "5s"}, {"$__range", "1m"}, {"$__interval", "5s"}};
  int queries = 0, pool_queries = 0;
  std::function<void(const Json&)> walk = [&](const Json& panels) {
    for (const auto& p : panels) {
      if (p.contains("panels")) walk(p["panels"]);
      if (!p.contains("targets")) continue;
      for (const auto& t : p["targets"]) {
        if (!t.contains("expr")) continue;
        const std::string expr = substitute(t["expr"].get<std::string>(), vars);
        Json r = query(expr);
        ASSERT_TRUE(r.is_object()) << expr;
        EXPECT_EQ(r.value("status", ""), "success") << expr << "\n" << r.dump();
        ++queries;
        if (expr.find("gpupool_pool_") != std::string::npos) {
          ++pool_queries;
          EXPECT_FALSE(r["data"]["result"].empty())
              << p.value("title", "") << ": " << expr << " returned nothing";
        }
      }
    }
  };
  walk(dashboard["panels"]);
  EXPECT_GE(queries, 30);
  EXPECT_GE(pool_queries, 15);

  // Every alert expression parses.
  const YAML::Node rules = YAML::LoadFile((source_ / "metrics/alerts/gpupool-rules.yaml").string());
  int alerts = 0;
  for (const auto& g : rules["groups"]) {
    for (const auto& rule : g["rules"]) {
      const std::string expr = rule["expr"].as<std::string>();
      Json r = query(expr);
      ASSERT_TRUE(r.is_object()) << expr;
      EXPECT_EQ(r.value("status", ""), "success") << expr << "\n" << r.dump();
      ++alerts;
    }
  }
  EXPECT_GT(alerts, 0);

  // The spend counter grows between scrapes and agrees with core to the cent.
  Json raw = query(spend_sel + "[30s]");
  ASSERT_EQ(raw.value("status", ""), "success") << raw.dump();
  ASSERT_EQ(raw["data"]["result"].size(), 1u) << raw.dump();  // one provider
  const Json& series = raw["data"]["result"][0];
  EXPECT_EQ(series["metric"].value("provider", ""), "local");
  const Json& values = series["values"];
  ASSERT_GE(values.size(), 3u);
  const double first = std::stod(values[0][1].get<std::string>());
  const double last_v = std::stod(values[values.size() - 1][1].get<std::string>());
  EXPECT_GT(last_v, first) << values.dump();
  for (size_t i = 1; i < values.size(); ++i) {
    EXPECT_GE(std::stod(values[i][1].get<std::string>()),
              std::stod(values[i - 1][1].get<std::string>()));
  }
  const double ts = values[values.size() - 1][0].get<double>();
  const Time at{std::chrono::seconds(static_cast<int64_t>(std::floor(ts)))};
  std::vector<api::GpuInstance> insts;
  auto listed = server_->store().list(kInstances, "default");
  ASSERT_TRUE(listed.ok());
  for (const auto& j : listed->items) {
    auto i = api::decode_gpu_instance(j, api::DecodeMode::Lenient);
    ASSERT_TRUE(i.ok());
    insts.push_back(*i);
  }
  ASSERT_EQ(insts.size(), 2u);
  auto pool = api::decode_gpu_pool(*server_->store().get(kPools, "default", "web"),
                                   api::DecodeMode::Lenient);
  ASSERT_TRUE(pool.ok());
  std::string ledger_text;
  if (auto it = pool->metadata.annotations.find(spend::kLedgerAnnotation);
      it != pool->metadata.annotations.end()) {
    ledger_text = it->second;
  }
  auto ledger = spend::parse_ledger(ledger_text);
  ASSERT_TRUE(ledger.ok());
  const double want = spend::pool_spend(insts, *ledger, at).accrued.to_double();
  EXPECT_GT(want, 0.0);
  EXPECT_NEAR(last_v, want, 0.005) << "scrape at " << ts;

  // Stop everything.
  kill(prom_, SIGTERM);
  EXPECT_EQ(wait_exit(prom_), 0);
  prom_ = -1;
  kill(op_, SIGTERM);
  EXPECT_EQ(wait_exit(op_), 0);
  op_ = -1;
}

}  // namespace
}  // namespace gpupool
