// Runs the gpupool-test-apiserver binary as a process: flags, --load,
// --kubeconfig-out, serving, the admin fault endpoint and a clean exit on
// SIGTERM.

#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

extern char** environ;

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Json = nlohmann::json;

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

size_t collect(char* p, size_t s, size_t n, void* ud) {
  static_cast<std::string*>(ud)->append(p, s * n);
  return s * n;
}

std::pair<long, std::string> http(const std::string& method, const std::string& url,
                                  const std::string& body = "", const std::string& token = "") {
  std::string out;
  long code = 0;
  CURL* c = curl_easy_init();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
  curl_slist* h = curl_slist_append(nullptr, "Content-Type: application/json");
  std::string auth = "Authorization: Bearer " + token;
  if (!token.empty()) h = curl_slist_append(h, auth.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  if (!body.empty()) curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
  if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  return {code, out};
}

class BinaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* bin = std::getenv("GPUPOOL_BINARY_DIR");
    ASSERT_NE(bin, nullptr) << "GPUPOOL_BINARY_DIR not set";
    binary_ = fs::path(bin) / "bin" / "gpupool-test-apiserver";
    ASSERT_TRUE(fs::exists(binary_)) << binary_;
    char tmpl[] = "/tmp/gpupool-apiserver-bin-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int st;
      ::waitpid(pid_, &st, 0);
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  // Starts the binary; returns its base URL once it says it is listening.
  std::string start(std::vector<std::string> args) {
    args.insert(args.begin(), binary_.string());
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    std::string out = (dir_ / "stdout").string();
    std::string err = (dir_ / "stderr").string();
    posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int rc = posix_spawn(&pid_, binary_.c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return "";
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline) {
      std::string text = read_file(out);
      size_t p = text.find("listening on ");
      if (p != std::string::npos && text.find('\n', p) != std::string::npos) {
        return text.substr(p + 13, text.find('\n', p) - p - 13);
      }
      int st;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        early_exit_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        return "";
      }
      std::this_thread::sleep_for(20ms);
    }
    return "";
  }
  int wait_exit() {
    int st = 0;
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      }
      std::this_thread::sleep_for(20ms);
    }
    return -1;
  }

  fs::path binary_;
  fs::path dir_;
  pid_t pid_ = -1;
  int early_exit_ = -1;  // exit code when the binary stopped before listening
};

TEST_F(BinaryTest, ServesLoadedObjectsWritesKubeconfigAndStopsOnSigterm) {
  std::ofstream(dir_ / "objs.yaml") << "apiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n"
                                       "---\napiVersion: v1\nkind: ConfigMap\n"
                                       "metadata: {name: cfg, namespace: team}\ndata: {k: v}\n";
  std::string url = start({"--token", "t0k", "--kubeconfig-out", (dir_ / "kc").string(),
                           "--namespace", "team", "--load", (dir_ / "objs.yaml").string()});
  ASSERT_FALSE(url.empty()) << read_file(dir_ / "stderr");
  std::string kc = read_file(dir_ / "kc");
  EXPECT_NE(kc.find("server: " + url), std::string::npos) << kc;
  EXPECT_NE(kc.find("token: t0k"), std::string::npos);
  EXPECT_NE(kc.find("namespace: team"), std::string::npos);
  auto [code, body] = http("GET", url + "/api/v1/namespaces/team/configmaps/cfg", "", "t0k");
  EXPECT_EQ(code, 200);
  EXPECT_EQ(Json::parse(body)["data"]["k"], "v");
  EXPECT_EQ(http("GET", url + "/api/v1/namespaces/team/configmaps/cfg").first, 401);
  EXPECT_EQ(http("POST", url + "/_test/faults", R"({"code":503,"count":1})").first, 200);
  EXPECT_EQ(http("GET", url + "/api/v1/namespaces", "", "t0k").first, 503);
  EXPECT_EQ(http("GET", url + "/api/v1/namespaces", "", "t0k").first, 200);
  ASSERT_EQ(::kill(pid_, SIGTERM), 0);
  EXPECT_EQ(wait_exit(), 0);
}

TEST_F(BinaryTest, RejectsBadFlagsAndBadManifests) {
  EXPECT_TRUE(start({"--port", "99999"}).empty());
  EXPECT_EQ(early_exit_, 2);
  EXPECT_NE(read_file(dir_ / "stderr").find("--port"), std::string::npos);
  std::ofstream(dir_ / "bad.yaml") << "apiVersion: v9\nkind: Nope\nmetadata: {name: x}\n";
  EXPECT_TRUE(start({"--load", (dir_ / "bad.yaml").string()}).empty());
  EXPECT_EQ(early_exit_, 1);
  EXPECT_NE(read_file(dir_ / "stderr").find("no resource serves v9, Kind=Nope"), std::string::npos);
  EXPECT_TRUE(start({"--frobnicate"}).empty());
  EXPECT_NE(read_file(dir_ / "stderr").find("unknown flag --frobnicate"), std::string::npos);
}

}  // namespace
