// The manager end to end in one process: in-memory API store, real threads,
// the system clock, a "fake" GpuProvider built by the registry.
#include "operator/manager/manager.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "operator/controllers/context.h"
#include "operator/core/api_codec.h"
#include "operator/core/pool_decision.h"
#include "operator/kube/memory/store.h"

namespace gpupool::manager {
namespace {

using kube::Json;

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Polls `pred` until true or the deadline (real time).
bool eventually(const std::function<bool()>& pred,
                std::chrono::seconds deadline = std::chrono::seconds(30)) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return pred();
}

int http_status(uint16_t port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  const std::string req = "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  (void)!write(fd, req.data(), req.size());
  char buf[64] = {};
  const ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n < 12) return -1;
  return std::atoi(buf + 9);
}

TEST(Manager, ConvergesAPoolAndServesHealth) {
  SystemClock clock;
  kube::MemoryStore api(clock);
  const char* src = std::getenv("GPUPOOL_SOURCE_DIR");
  for (const char* f : {"gpupool.io_gpupools.yaml", "gpupool.io_gpuinstances.yaml",
                        "gpupool.io_gpuproviders.yaml"}) {
    auto docs = api::yaml_to_json(read_file(std::string(src ? src : ".") + "/crds/" + f));
    ASSERT_TRUE(docs.ok());
    for (const auto& d : *docs)
      ASSERT_TRUE(api.create(kube::resources::kCustomResourceDefinitions, "", d).ok());
  }
  std::ostringstream logs;
  Logger log(logs, clock, LogLevel::Info, LogFormat::Json);
  ManagerOptions mo;
  mo.health_addr = "127.0.0.1:0";
  mo.gc_period = Duration{1};
  Manager mgr(api, clock, log, mo);
  ASSERT_TRUE(mgr.start().ok());
  ASSERT_NE(mgr.health_port(), 0);
  EXPECT_EQ(http_status(mgr.health_port(), "/healthz"), 200);
  ASSERT_TRUE(eventually([&] { return mgr.ready(); }));
  EXPECT_EQ(http_status(mgr.health_port(), "/readyz"), 200);

  Json provider = {{"apiVersion", "gpupool.io/v1alpha1"},
                   {"kind", "GpuProvider"},
                   {"metadata", {{"name", "local"}}},
                   {"spec", {{"type", "fake"}, {"fake", {{"bootSeconds", 0}}}}}};
  ASSERT_TRUE(api.create(controllers::kGpuProviders, "", provider).ok());
  Json pool = {{"apiVersion", "gpupool.io/v1alpha1"},
               {"kind", "GpuPool"},
               {"metadata", {{"name", "web"}, {"namespace", "default"}}},
               {"spec",
                {{"gpu", {{"models", {{{"name", "L40S"}}}}}},
                 {"replicas", {{"count", 2}}},
                 {"providers", {{{"name", "local"}}}}}}};
  ASSERT_TRUE(api.create(controllers::kGpuPools, "default", pool).ok());
  auto ready = [&] {
    auto p = api.get(controllers::kGpuPools, "default", "web");
    if (!p.ok()) return false;
    auto typed = controllers::to_pool(*p);
    const auto* c = typed ? decision::find_condition(typed->status.conditions, "Ready") : nullptr;
    return c && c->status == api::ConditionStatus::True && typed->status.replicas.ready == 2;
  };
  EXPECT_TRUE(eventually(ready));
  EXPECT_EQ(api.list(controllers::kGpuInstances, "default")->items.size(), 2u);
  const std::string metrics_probe = logs.str();
  EXPECT_NE(metrics_probe.find("\"msg\":\"controllers started\""), std::string::npos);

  // Deleting the pool ends the machines and then the pool goes.
  ASSERT_TRUE(api.remove(controllers::kGpuPools, "default", "web").ok());
  EXPECT_TRUE(eventually([&] {
    return !api.get(controllers::kGpuPools, "default", "web").ok() &&
           api.list(controllers::kGpuInstances, "default")->items.empty();
  }));
  mgr.stop();
  EXPECT_EQ(http_status(mgr.health_port(), "/healthz"), -1);
}

}  // namespace
}  // namespace gpupool::manager
