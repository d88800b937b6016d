// Two real operator processes with --leader-elect against one test API
// server and one fake provider (gpupool-fake-provider-server, out of
// process so it outlives the operators). The leader is SIGKILLed, then the
// next leader is SIGSTOPped and later SIGCONTed; the test shows that
//  - exactly one replica leads at a time (the Lease's holderIdentity and
//    the replicas' /readyz agree);
//  - the other takes over within the lease duration (+ one retry period and
//    a margin) after a SIGKILL and after a SIGSTOP, and keeps converging
//    scale changes;
//  - the paused leader, once resumed, notices it lost the lease and exits
//    (code 1) within the renew deadline, without one more mutating call;
//  - no two replicas ever buy or end machines in overlapping time, and no
//    machine is bought twice.
//
// Who made each provider call: every operator process gets its own
// recording HTTP proxy (the `http_proxy` environment variable, which
// libcurl honours) and the GpuProvider's endpoint names a host that is
// never resolved ("fake-provider.test"), so every provider call goes
// through the caller's proxy, which forwards it to the fake provider on
// 127.0.0.1 and records (replica, method, start, end). The API server is on
// 127.0.0.1, which `no_proxy` keeps direct. Everything stays on loopback.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "operator/core/api_codec.h"
#include "operator/kube/runtime/leader_election.h"
#include "tests/apiserver/api_server.h"
#include "tests/operator/http_get.h"
#include "tests/operator/operator_world.h"
#include "tests/operator/process.h"

extern char** environ;

namespace gpupool {
namespace {

using namespace std::chrono_literals;
using kube::Json;
using Steady = std::chrono::steady_clock;
namespace fs = std::filesystem;

const kube::Resource kPoolsRes{"gpupool.io", "v1alpha1", "gpupools", "GpuPool", true};
const kube::Resource kInstancesRes{"gpupool.io", "v1alpha1", "gpuinstances", "GpuInstance", true};

// Lease timings given to both replicas (whole seconds, the flags' unit).
constexpr int kLeaseSeconds = 4, kRenewSeconds = 3, kRetrySeconds = 1;
// How long a take-over may take: the lease duration counted from when the
// follower last saw the lease change (up to one retry period before the
// leader died), its next attempt (one more retry period), and slack for two
// processes sharing two busy cores under the sanitizers.
constexpr auto kTakeOverLimit = std::chrono::seconds(kLeaseSeconds + 2 * kRetrySeconds) + 1500ms;

using testing_world::read_text;

bool poll_until(const std::function<bool()>& pred, std::chrono::milliseconds limit,
                std::chrono::milliseconds step = 50ms) {
  const auto deadline = Steady::now() + limit;
  while (Steady::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(step);
  }
  return pred();
}

// --- loopback sockets --------------------------------------------------------

using testing_http::connect_loopback;
using testing_http::http_call;
using testing_http::HttpReply;
using testing_http::write_all;

uint16_t free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// --- the recording proxy -----------------------------------------------------

// One provider call as the proxy saw it.
struct ProviderCall {
  std::string replica;  // the proxy's label: which operator process
  std::string method;   // "offers", "create", "list", "get", "terminate"
  Steady::time_point start, end;
  bool mutating() const { return method == "create" || method == "terminate"; }
};

// A forward HTTP proxy for one operator process: it accepts absolute-form
// requests ("POST http://fake-provider.test:P/call HTTP/1.1"), forwards each
// to the fake provider on 127.0.0.1 and records it. Keep-alive connections
// are served until the client closes them (or dies).
class RecordingProxy {
 public:
  RecordingProxy(std::string label, uint16_t upstream_port)
      : label_(std::move(label)), upstream_(upstream_port) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        listen(listen_fd_, 16) != 0) {
      close(listen_fd_);
      listen_fd_ = -1;
      return;
    }
    socklen_t len = sizeof addr;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~RecordingProxy() {
    stopping_ = true;
    if (listen_fd_ >= 0) shutdown(listen_fd_, SHUT_RDWR);
    if (acceptor_.joinable()) acceptor_.join();
    if (listen_fd_ >= 0) close(listen_fd_);
    std::lock_guard lock(mu_);
    for (int fd : conns_)
      shutdown(fd, SHUT_RDWR);
    for (auto& t : workers_)
      t.detach();  // each exits on the shutdown above and closes its fd
  }
  RecordingProxy(const RecordingProxy&) = delete;
  RecordingProxy& operator=(const RecordingProxy&) = delete;

  uint16_t port() const { return port_; }
  std::vector<ProviderCall> calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }

 private:
  void accept_loop() {
    while (!stopping_) {
      const int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) {
        if (stopping_) return;
        continue;
      }
      std::lock_guard lock(mu_);
      conns_.insert(fd);
      workers_.emplace_back([this, fd] { serve(fd); });
    }
  }

  // Reads one request (head and Content-Length body). False on EOF/error.
  static bool read_request(int fd, std::string& buffered, std::string& head, std::string& body) {
    char buf[8192];
    size_t sep = std::string::npos;
    while ((sep = buffered.find("\r\n\r\n")) == std::string::npos) {
      const ssize_t n = read(fd, buf, sizeof buf);
      if (n <= 0) return false;
      buffered.append(buf, static_cast<size_t>(n));
    }
    head = buffered.substr(0, sep + 2);
    buffered.erase(0, sep + 4);
    std::string lower = head;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    size_t length = 0;
    if (auto p = lower.find("\r\ncontent-length:"); p != std::string::npos) {
      length = std::strtoul(lower.c_str() + p + 17, nullptr, 10);
    }
    if (lower.find("\r\nexpect: 100-continue") != std::string::npos &&
        !write_all(fd, "HTTP/1.1 100 Continue\r\n\r\n")) {
      return false;
    }
    while (buffered.size() < length) {
      const ssize_t n = read(fd, buf, sizeof buf);
      if (n <= 0) return false;
      buffered.append(buf, static_cast<size_t>(n));
    }
    body = buffered.substr(0, length);
    buffered.erase(0, length);
    return true;
  }

  void serve(int fd) {
    std::string buffered, head, body;
    while (!stopping_ && read_request(fd, buffered, head, body)) {
      // "POST http://host:port/call HTTP/1.1": keep the path only.
      const std::string line = head.substr(0, head.find("\r\n"));
      const auto sp1 = line.find(' '), sp2 = line.rfind(' ');
      std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
      if (auto scheme = target.find("://"); scheme != std::string::npos) {
        const auto slash = target.find('/', scheme + 3);
        target = slash == std::string::npos ? "/" : target.substr(slash);
      }
      const Json doc = Json::parse(body, nullptr, false);
      ProviderCall call{label_, doc.is_object() ? doc.value("method", "") : "", Steady::now(), {}};
      const HttpReply up = http_call(upstream_, line.substr(0, sp1), target, body, 30s);
      call.end = Steady::now();
      {
        std::lock_guard lock(mu_);
        calls_.push_back(call);
      }
      const int status = up.status < 0 ? 502 : up.status;
      const std::string out = "HTTP/1.1 " + std::to_string(status) +
                              " X\r\nContent-Type: application/json\r\nContent-Length: " +
                              std::to_string(up.body.size()) + "\r\n\r\n" + up.body;
      if (!write_all(fd, out)) break;
    }
    std::lock_guard lock(mu_);
    conns_.erase(fd);
    close(fd);
  }

  const std::string label_;
  const uint16_t upstream_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  mutable std::mutex mu_;
  std::set<int> conns_;               // guarded by mu_
  std::vector<std::thread> workers_;  // guarded by mu_
  std::vector<ProviderCall> calls_;   // guarded by mu_
};

// --- processes ---------------------------------------------------------------

// Only the proxy settings this test gives count: inherited ones are dropped.
bool not_a_proxy_setting(std::string_view v) {
  for (const char* p : {"http_proxy=", "HTTP_PROXY=", "https_proxy=", "HTTPS_PROXY=", "all_proxy=",
                        "ALL_PROXY=", "no_proxy=", "NO_PROXY="}) {
    if (v.rfind(p, 0) == 0) return false;
  }
  return true;
}

pid_t spawn(const std::vector<std::string>& args, const fs::path& log,
            const std::vector<std::string>& extra_env = {}) {
  return testing_process::spawn(args, log, log,
                                {.extra_env = extra_env, .inherit = not_a_proxy_setting});
}

using testing_process::wait_exit;

// One operator process with its own proxy and health port.
struct Replica {
  std::string label;
  pid_t pid = -1;
  uint16_t health_port = 0;
  fs::path log;
  std::unique_ptr<RecordingProxy> proxy;
  bool exited = false;

  // "200" ready (leads), "503" not (follows); -1 no answer.
  int readyz() const { return http_call(health_port, "GET", "/readyz", "", 1s).status; }
};

class OperatorLeadership : public testing_world::OperatorWorldTest {
 protected:
  void SetUp() override { start_world("leadership", "fake.log", "fake.log"); }

  void TearDown() override {
    for (auto& r : replicas_) {
      if (r->pid > 0 && !r->exited) {
        kill(r->pid, SIGKILL);
        (void)wait_exit(r->pid, 10s);
      }
    }
    stop_world();
  }

  Replica& start_replica(const std::string& label) {
    auto r = std::make_unique<Replica>();
    r->label = label;
    r->proxy = std::make_unique<RecordingProxy>(label, fake_port_);
    r->health_port = free_port();
    r->log = dir_ / ("operator-" + label + ".log");
    r->pid = spawn({binary_.string(), "run", "--kubeconfig", kubeconfig_.string(), "--leader-elect",
                    "--leader-elect-lease-duration", std::to_string(kLeaseSeconds) + "s",
                    "--leader-elect-renew-deadline", std::to_string(kRenewSeconds) + "s",
                    "--leader-elect-retry-period", std::to_string(kRetrySeconds) + "s",
                    "--health-addr", "127.0.0.1:" + std::to_string(r->health_port),
                    "--gc-period-seconds", "1", "--shutdown-grace-seconds", "4"},
                   r->log,
                   {"http_proxy=http://127.0.0.1:" + std::to_string(r->proxy->port()),
                    "no_proxy=127.0.0.1,localhost"});
    EXPECT_GT(r->pid, 0);
    replicas_.push_back(std::move(r));
    return *replicas_.back();
  }

  // The Lease as the API server holds it (empty when absent).
  Json lease_spec() {
    auto l = server_->store().get(kube::resources::kLeases, "default", "gpupool-operator");
    return l.ok() ? l->value("spec", Json::object()) : Json::object();
  }
  // Which replica the Lease names (identities are "<host>_<pid>_<random>").
  Replica* holder() {
    const std::string id = lease_spec().value("holderIdentity", "");
    for (auto& r : replicas_) {
      if (id.find("_" + std::to_string(r->pid) + "_") != std::string::npos) return r.get();
    }
    return nullptr;
  }
  // Waits until the Lease names a replica other than `old` (nullptr: any);
  // returns it, or nullptr after `limit`.
  Replica* wait_new_holder(const Replica* old, std::chrono::milliseconds limit) {
    Replica* now = nullptr;
    poll_until(
        [&] {
          now = holder();
          return now != nullptr && now != old;
        },
        limit, 20ms);
    return now != old ? now : nullptr;
  }

  void set_replicas(int n) {
    ASSERT_TRUE(server_->store()
                    .patch(kPoolsRes, "default", "web", kube::PatchType::Merge,
                           {{"spec", {{"replicas", {{"count", n}}}}}})
                    .ok());
  }

  Json ledger() {
    const HttpReply r = http_call(fake_port_, "GET", "/ledger");
    Json j = Json::parse(r.body, nullptr, false);
    return j.is_object() ? j : Json::object();
  }

  // The provider holds exactly `desired` live machines, no name twice, each
  // the machine of a Running GpuInstance, and there are `desired` of those.
  bool converged(int desired, std::string& why) {
    const Json l = ledger();
    if (!l.contains("machines")) {
      why = "no ledger";
      return false;
    }
    std::map<std::string, std::string> live;  // name -> provider id
    std::set<std::string> names;
    for (const auto& m : l["machines"]) {
      const std::string name = m.value("name", "");
      if (!names.insert(name).second) {
        why = "machine bought twice: " + name;
        return false;
      }
      if (!m.value("ended", true)) live[name] = m.value("providerId", "");
    }
    if (static_cast<int>(live.size()) != desired) {
      why = std::to_string(live.size()) + " live machines";
      return false;
    }
    auto list = server_->store().list(kInstancesRes, "default");
    if (!list.ok() || static_cast<int>(list->items.size()) != desired) {
      why = (list.ok() ? std::to_string(list->items.size()) : "?") + " GpuInstances";
      return false;
    }
    for (const auto& j : list->items) {
      auto i = api::decode_gpu_instance(j, api::DecodeMode::Lenient);
      if (!i.ok()) {
        why = "undecodable GpuInstance";
        return false;
      }
      auto it = live.find(i->metadata.name);
      if (i->status.phase != api::InstancePhase::Running || it == live.end() ||
          it->second != i->status.provider_id) {
        why = "instance " + i->metadata.name + " not Running on its live machine";
        return false;
      }
    }
    return true;
  }
  void expect_converges(int desired, std::chrono::milliseconds limit) {
    std::string why;
    EXPECT_TRUE(poll_until([&] { return converged(desired, why); }, limit, 100ms))
        << "not converged on " << desired << ": " << why;
  }

  // Every mutating provider call of every replica, by start time.
  std::vector<ProviderCall> mutating_calls() {
    std::vector<ProviderCall> all;
    for (auto& r : replicas_) {
      for (const auto& c : r->proxy->calls()) {
        if (c.mutating()) all.push_back(c);
      }
    }
    std::sort(all.begin(), all.end(),
              [](const ProviderCall& a, const ProviderCall& b) { return a.start < b.start; });
    return all;
  }

  std::vector<std::unique_ptr<Replica>> replicas_;
};

double seconds_between(Steady::time_point a, Steady::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

TEST_F(OperatorLeadership, TheOtherReplicaTakesOverAfterKillAndPauseAndNeitherBuysTwice) {
  const std::string manifests =
      "apiVersion: gpupool.io/v1alpha1\nkind: GpuProvider\nmetadata:\n  name: remote\nspec:\n"
      "  type: fake\n  endpoint: http://fake-provider.test:" +
      std::to_string(fake_port_) +
      "\n---\napiVersion: gpupool.io/v1alpha1\nkind: GpuPool\nmetadata:\n  name: web\n  "
      "namespace: default\nspec:\n  gpu:\n    models:\n    - name: L40S\n  replicas:\n    count: "
      "2\n  providers:\n  - name: remote\n  lifecycle:\n    minParkSeconds: 0\n    "
      "parkMarginSeconds: 3600\n    adoptionGraceSeconds: 5\n";
  auto objs = server_->load_manifests(manifests);
  ASSERT_TRUE(objs.ok());

  // 1. Two replicas; exactly one leads, by the Lease and by /readyz.
  Replica& a = start_replica("a");
  Replica& b = start_replica("b");
  Replica* first = wait_new_holder(nullptr, 20s);
  ASSERT_NE(first, nullptr) << "nobody took the lease";
  Replica* second = first == &a ? &b : &a;
  EXPECT_TRUE(poll_until([&] { return first->readyz() == 200 && second->readyz() == 503; }, 10s))
      << "leader /readyz " << first->readyz() << ", follower " << second->readyz();
  // Lease timestamps carry microseconds (MicroTime).
  const std::string renew = lease_spec().value("renewTime", "");
  ASSERT_TRUE(kube::parse_micro_time(renew).has_value()) << renew;
  EXPECT_EQ(renew.size(), std::string("2026-01-01T00:00:00.000000Z").size()) << renew;
  expect_converges(2, 20s);

  // 2. SIGKILL the leader: the other takes over within the lease duration
  //    and converges a scale change; the killed one comes back as a new
  //    process (as its Deployment would restart it) and follows.
  const auto killed_at = Steady::now();
  ASSERT_EQ(kill(first->pid, SIGKILL), 0);
  EXPECT_EQ(wait_exit(first->pid, 5s), 128 + SIGKILL);
  first->exited = true;
  Replica* after_kill = wait_new_holder(first, kTakeOverLimit + 5s);
  const auto took_over_after_kill = Steady::now();
  ASSERT_EQ(after_kill, second) << "the surviving replica did not take the lease";
  const double kill_takeover = seconds_between(killed_at, took_over_after_kill);
  EXPECT_LE(took_over_after_kill - killed_at, kTakeOverLimit);
  EXPECT_TRUE(poll_until([&] { return second->readyz() == 200; }, 10s))
      << "the new leader is ready";
  Replica& c = start_replica("c");
  set_replicas(3);
  expect_converges(3, 20s);
  EXPECT_EQ(holder(), second);
  EXPECT_TRUE(poll_until([&] { return c.readyz() == 503; }, 10s)) << "the new replica follows";

  // 3. SIGSTOP the leader: the restarted replica takes over and converges
  //    a scale-down while the old leader is frozen.
  const auto stopped_at = Steady::now();
  ASSERT_EQ(kill(second->pid, SIGSTOP), 0);
  Replica* after_stop = wait_new_holder(second, kTakeOverLimit + 5s);
  const auto took_over_after_stop = Steady::now();
  ASSERT_EQ(after_stop, &c) << "the restarted replica did not take the lease";
  const double stop_takeover = seconds_between(stopped_at, took_over_after_stop);
  EXPECT_LE(took_over_after_stop - stopped_at, kTakeOverLimit);
  EXPECT_TRUE(poll_until([&] { return c.readyz() == 200; }, 10s)) << "the new leader is ready";
  set_replicas(1);
  expect_converges(1, 20s);

  // 4. SIGCONT the frozen one: it finds the lease gone and exits with code 1
  //    within the renew deadline, making no provider call that changes
  //    anything after it woke.
  const auto resumed_at = Steady::now();
  ASSERT_EQ(kill(second->pid, SIGCONT), 0);
  const auto code = wait_exit(second->pid, std::chrono::seconds(kRenewSeconds) + 2s);
  const double exit_after_resume = seconds_between(resumed_at, Steady::now());
  ASSERT_TRUE(code.has_value()) << "the resumed replica is still running";
  second->exited = true;
  EXPECT_EQ(*code, 1);
  // It stopped writing the instant it woke (the fence; checked below on the
  // provider's side); leaving takes the elector's next look at the Lease and
  // a bounded shutdown: within the renew deadline, plus slack for load.
  EXPECT_LE(exit_after_resume, kRenewSeconds + 1.0);
  const std::string second_log = read_text(second->log);
  EXPECT_NE(second_log.find("leadership lost; exiting"), std::string::npos) << second_log;
  for (const auto& call : second->proxy->calls()) {
    EXPECT_FALSE(call.mutating() && call.start > stopped_at)
        << second->label << " " << call.method << " after it was paused";
  }
  EXPECT_EQ(holder(), &c);

  // 5. The world stays as asked: one machine, none bought twice.
  std::this_thread::sleep_for(2s);
  std::string why;
  EXPECT_TRUE(converged(1, why)) << why;

  // 6. Mutating provider calls never overlap between replicas: they form
  //    one run per leader term (first, second, c), each run ending before the
  //    next one starts.
  const auto calls = mutating_calls();
  ASSERT_FALSE(calls.empty());
  std::vector<std::string> order;
  std::map<std::string, std::pair<Steady::time_point, Steady::time_point>> span;
  for (const auto& call : calls) {
    if (order.empty() || order.back() != call.replica) order.push_back(call.replica);
    auto [it, fresh] = span.try_emplace(call.replica, call.start, call.end);
    if (!fresh) it->second.second = std::max(it->second.second, call.end);
  }
  std::ostringstream timeline;  // for failure messages
  for (const auto& call : calls) {
    timeline
        << "\n  " << call.replica << " " << call.method << " "
        << std::chrono::duration_cast<std::chrono::milliseconds>(call.start - killed_at).count()
        << ".."
        << std::chrono::duration_cast<std::chrono::milliseconds>(call.end - killed_at).count()
        << " ms after the kill";
  }
  SCOPED_TRACE(
      "mutating calls:" + timeline.str() + "\n  paused at " +
      std::to_string(
          std::chrono::duration_cast<std::chrono::milliseconds>(stopped_at - killed_at).count()) +
      " ms, resumed at " +
      std::to_string(
          std::chrono::duration_cast<std::chrono::milliseconds>(resumed_at - killed_at).count()) +
      " ms");
  std::set<std::string> distinct(order.begin(), order.end());
  EXPECT_EQ(order.size(), distinct.size()) << "a replica bought or ended machines again after "
                                              "another replica had";
  for (size_t i = 1; i < order.size(); ++i) {
    EXPECT_LT(span[order[i - 1]].second, span[order[i]].first)
        << order[i - 1] << "'s mutating calls overlap " << order[i] << "'s";
  }
  EXPECT_EQ(order.front(), first->label) << "the first leader bought the first machines";
  EXPECT_EQ(order.back(), c.label) << "the last leader ended the machines of the scale-down";
  int creates = 0, terminates = 0;
  for (const auto& call : calls)
    (call.method == "create" ? creates : terminates) += 1;

  // 7. The last leader shuts down cleanly on SIGTERM and frees the lease.
  const auto term_at = Steady::now();
  ASSERT_EQ(kill(c.pid, SIGTERM), 0);
  EXPECT_EQ(wait_exit(c.pid, 10s), 0);
  const double exit_after_term = seconds_between(term_at, Steady::now());
  c.exited = true;
  EXPECT_EQ(lease_spec().value("holderIdentity", "x"), "");

  std::cout << "take-over after SIGKILL: " << kill_takeover
            << " s; after SIGSTOP: " << stop_takeover
            << " s; resumed leader exited after: " << exit_after_resume
            << " s; last leader exited after SIGTERM: " << exit_after_term << " s (lease "
            << kLeaseSeconds << " s, renew deadline " << kRenewSeconds << " s, retry "
            << kRetrySeconds << " s); mutating provider calls: " << creates << " create, "
            << terminates << " terminate, in leader order";
  for (const auto& l : order)
    std::cout << " " << l;
  std::cout << "\n";
}

}  // namespace
}  // namespace gpupool
