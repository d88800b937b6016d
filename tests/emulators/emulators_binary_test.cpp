// Runs the gpupool-provider-emulators binary as a child process, steers it
// through the admin endpoints and talks to it with the real adapters.
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "providers/aws/ec2_provider.h"
#include "providers/fluence/fluence_provider.h"
#include "providers/http/curl_transport.h"

extern char** environ;

namespace gpupool {
namespace {

struct Child {
  pid_t pid = -1;
  int out = -1;
};

std::string binary() {
  const char* dir = std::getenv("GPUPOOL_BINARY_DIR");
  return std::string(dir != nullptr ? dir : "build") + "/bin/gpupool-provider-emulators";
}

Child spawn(const std::vector<std::string>& args) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  std::vector<std::string> all = {binary()};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  Child c;
  int rc = posix_spawn(&c.pid, all[0].c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  EXPECT_EQ(rc, 0) << "cannot start " << all[0];
  c.out = fds[0];
  return c;
}

// Reads "name=url" lines until "ready" (or EOF / a 20 s deadline).
std::map<std::string, std::string> read_urls(int fd) {
  std::map<std::string, std::string> urls;
  std::string buf;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 200) <= 0) continue;
    char tmp[512];
    ssize_t n = read(fd, tmp, sizeof(tmp));
    if (n <= 0) break;
    buf.append(tmp, static_cast<size_t>(n));
    size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      std::string line = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      if (line == "ready") return urls;
      auto eq = line.find('=');
      if (eq != std::string::npos) urls[line.substr(0, eq)] = line.substr(eq + 1);
    }
  }
  return urls;
}

int stop(Child& c, int sig = SIGTERM) {
  kill(c.pid, sig);
  int status = 0;
  waitpid(c.pid, &status, 0);
  close(c.out);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

net::Response post(net::CurlTransport& t, const std::string& url, const std::string& body) {
  net::Request r;
  r.method = "POST";
  r.url = url;
  r.headers = {{"Content-Type", "application/json"}};
  r.body = body;
  auto res = t.send(r);
  EXPECT_TRUE(res.ok());
  return res.ok() ? res.value() : net::Response{};
}

TEST(EmulatorsBinary, ServesAdaptersAndObeysAdminEndpoints) {
  Child c = spawn({"--aws=0", "--fluence=0", "--runpod=0", "--vastai=0", "--boot-seconds=0"});
  auto urls = read_urls(c.out);
  ASSERT_EQ(urls.size(), 4u) << "binary did not report four emulators";
  net::CurlTransport transport;
  SystemClock clock;
  net::FakeSleeper sleeper;

  fluence::FluenceConfig fc;
  fc.provider_name = "fluence";
  fc.endpoint = urls["fluence"];
  fc.api_key = "fluence-test-key";
  fc.http.max_attempts = 1;
  fluence::FluenceProvider fl(fc, transport, clock, sleeper);
  OfferQuery q;
  q.gpu_models = {"L40S"};
  auto offers = fl.offers(q);
  ASSERT_TRUE(offers.ok()) << describe(offers.error());
  EXPECT_EQ(offers->size(), 2u);

  EXPECT_EQ(post(transport, urls["fluence"] + "/__emulator/capacity",
                 R"({"id":"fl-l40s-1-usc3","capacity":0})")
                .status,
            200);
  InstanceIntent in;
  in.name = "p-0";
  in.pool_uid = "uid";
  in.offer.id = "fl-l40s-1-usc3";
  in.ssh_public_key = "ssh-ed25519 AAAA";
  auto created = fl.create(in);
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.error().kind, ProviderErrorKind::NoCapacity);

  EXPECT_EQ(post(transport, urls["fluence"] + "/__emulator/faults",
                 R"({"operation":"plans","kind":"ServerError"})")
                .status,
            200);
  EXPECT_EQ(fl.offers(q).error().kind, ProviderErrorKind::Transient);
  EXPECT_TRUE(fl.offers(q).ok());
  EXPECT_EQ(post(transport, urls["fluence"] + "/__emulator/faults", R"({"kind":"Explode"})").status,
            400);
  EXPECT_EQ(
      post(transport, urls["fluence"] + "/__emulator/capacity", R"({"id":"nope","capacity":1})")
          .status,
      400);

  aws::Ec2Config ac;
  ac.provider_name = "aws";
  ac.endpoint = urls["aws"];
  ac.credentials = {"AKIDEMULATOR", "emulator/secret/KEY", ""};
  ac.image_id = "ami-1";
  ac.prices = {{"g6e.xlarge", Money::parse("1.861").value()}};
  aws::Ec2Provider ec2(ac, transport, clock, sleeper);
  auto m = ec2.create([] {
    InstanceIntent i;
    i.name = "a-0";
    i.pool_uid = "uid";
    i.offer.id = "g6e.xlarge";
    return i;
  }());
  ASSERT_TRUE(m.ok()) << describe(m.error());

  net::Request state;
  state.url = urls["runpod"] + "/__emulator/state";
  auto s = transport.send(state);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->status, 200);
  EXPECT_NE(s->body.find("\"alive\":0"), std::string::npos);

  EXPECT_EQ(stop(c), 0);
}

TEST(EmulatorsBinary, BadFlagsExitWithUsage) {
  Child c = spawn({"--nope=1"});
  int status = 0;
  waitpid(c.pid, &status, 0);
  close(c.out);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
  Child d = spawn({});
  waitpid(d.pid, &status, 0);
  close(d.out);
  EXPECT_EQ(WEXITSTATUS(status), 2);
}

}  // namespace
}  // namespace gpupool
