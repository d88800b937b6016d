#include "providers/container/container_start_script.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace gpupool::container {
namespace {

namespace fs = std::filesystem;
using namespace std::string_literals;

// Values a pool author (or an attacker who controls a Secret) could write.
const std::vector<std::string>& hostile() {
  static const std::vector<std::string> v = {
      "it's",
      "say \"hi\"",
      "line1\nline2",
      "$(touch pwned-subst)",
      "`touch pwned-tick`",
      "a b; touch pwned-semi",
      "",
      "--privileged",
      "\\",
      "$HOME",
      "*",
      "'",
      "a'b'c",
      "tab\there",
      "&& touch pwned-and",
      "|| true",
      "${IFS}x",
      "-",
  };
  return v;
}

InstanceIntent endpoint_intent() {
  InstanceIntent i;
  i.name = "pool-a-1";
  i.pool_uid = "uid-1";
  i.container.image = "vllm/vllm-openai:v0.6.3";
  i.container.port = 8000;
  i.container.args = {"--model", "meta-llama/Llama-3.1-8B-Instruct", "--max-model-len", "8192"};
  i.container.env = {{"HF_TOKEN", "hf_secret"}, {"VLLM_LOGGING_LEVEL", "INFO"}};
  return i;
}

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> split_nul(const std::string& s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t end = s.find('\0', pos);
    if (end == std::string::npos) end = s.size();
    out.push_back(s.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

// A scratch directory with a stand-in `docker` on PATH that records what
// the script asked of it: its arguments and its environment, NUL-separated.
class ScriptRun : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "gpupool-start-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    fs::create_directories(dir_ / "bin");
    std::ofstream docker(dir_ / "bin" / "docker");
    docker << "#!/bin/sh\n"
              "case \"$1\" in\n"
              "  info) echo '{\"nvidia\":{\"path\":\"nvidia-container-runtime\"}}' ;;\n"
              "  rm) exit 0 ;;\n"
              "  run) for a in \"$@\"; do printf '%s\\0' \"$a\"; done > \"$OUT/args\"\n"
              "       env -0 > \"$OUT/env\" ;;\n"
              "  *) exit 3 ;;\n"
              "esac\n";
    docker.close();
    ::chmod((dir_ / "bin" / "docker").c_str(), 0755);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs the script with the stand-in docker; the shell's exit status.
  int run(const std::string& script) {
    std::ofstream(dir_ / "start.sh") << script;
    std::string cmd = "cd '" + dir_.string() + "' && PATH='" + (dir_ / "bin").string() +
                      "':/usr/bin:/bin OUT='" + dir_.string() + "' /bin/sh start.sh 2>/dev/null";
    int rc = std::system(cmd.c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  }
  std::vector<std::string> args() const { return split_nul(read_all(dir_ / "args")); }
  std::map<std::string, std::string> env() const {
    std::map<std::string, std::string> out;
    for (const auto& kv : split_nul(read_all(dir_ / "env"))) {
      auto eq = kv.find('=');
      if (eq != std::string::npos) out[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    return out;
  }

  fs::path dir_;
};

TEST(ShellQuote, LeavesPlainWordsAloneAndQuotesEverythingElse) {
  EXPECT_EQ(shell_quote("--max-model-len"), "--max-model-len");
  EXPECT_EQ(shell_quote("vllm/vllm-openai:v0.6.3"), "vllm/vllm-openai:v0.6.3");
  EXPECT_EQ(shell_quote(""), "''");
  EXPECT_EQ(shell_quote("a b"), "'a b'");
  EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");
  EXPECT_EQ(shell_quote("$(x)"), "'$(x)'");
  EXPECT_EQ(shell_words({"--model", "a b", ""}), "--model 'a b' ''");
}

TEST_F(ScriptRun, TheShellReadsEveryHostileValueBackExactlyAndRunsNoneOfThem) {
  ContainerSpec c;
  c.image = "registry.example/team/server:1.0";
  c.port = 8000;
  c.args = hostile();
  int n = 0;
  for (const auto& v : hostile())
    c.env["V" + std::to_string(n++)] = v;
  ASSERT_EQ(run(render_container_start_script(c)), 0);

  std::vector<std::string> expected = {
      "run",    "-d",  "--name", "gpupool-endpoint", "--restart", "unless-stopped",
      "--gpus", "all", "-p",     "8000:8000"};
  for (const auto& [name, value] : c.env) {
    expected.push_back("-e");
    expected.push_back(name);
  }
  expected.push_back(c.image);
  for (const auto& a : hostile())
    expected.push_back(a);
  EXPECT_EQ(args(), expected);
  auto e = env();
  for (const auto& [name, value] : c.env)
    EXPECT_EQ(e[name], value) << name;
  for (const char* f : {"pwned-subst", "pwned-tick", "pwned-semi", "pwned-and"})
    EXPECT_FALSE(fs::exists(dir_ / f)) << f;
}

TEST_F(ScriptRun, EnvValuesNeverAppearOnTheDockerCommandLine) {
  InstanceIntent i = endpoint_intent();
  auto script = vm_user_data(i, "test");
  ASSERT_TRUE(script.ok());
  ASSERT_EQ(run(*script), 0);
  for (const auto& a : args())
    EXPECT_EQ(a.find("hf_secret"), std::string::npos) << a;
  EXPECT_EQ(env()["HF_TOKEN"], "hf_secret");
}

TEST(StartScript, InstallsTheGpuRuntimeOnlyWhenMissingAndRunsWithAllGpus) {
  std::string s = render_container_start_script(endpoint_intent().container);
  EXPECT_TRUE(s.starts_with("#!/bin/sh\n"));
  EXPECT_NE(s.find("if ! command -v docker"), std::string::npos);
  EXPECT_NE(s.find("nvidia-container-toolkit"), std::string::npos);
  EXPECT_NE(s.find("nvidia-ctk runtime configure --runtime=docker"), std::string::npos);
  EXPECT_NE(s.find("--gpus all -p 8000:8000"), std::string::npos);
  EXPECT_TRUE(runs_user_data(UserDataSupport::CloudInit, s));
  EXPECT_TRUE(runs_user_data(UserDataSupport::Script, s));
}

TEST(VmUserData, NodeModeSendsTheBootstrapUnchanged) {
  InstanceIntent i;
  i.user_data = "#!/bin/sh\necho join\n";
  auto ud = vm_user_data(i, "test");
  ASSERT_TRUE(ud.ok());
  EXPECT_EQ(*ud, i.user_data);
}

TEST(CheckContainer, RefusesWhatCannotBeCarriedWithAClearMessage) {
  struct Case {
    const char* what;
    void (*edit)(InstanceIntent&);
    const char* says;
  };
  const Case cases[] = {
      {"both modes", [](InstanceIntent& i) { i.user_data = "#!/bin/sh\n"; }, "one mode"},
      {"NUL in env", [](InstanceIntent& i) { i.container.env["HF_TOKEN"] = "a\0b"s; }, "NUL"},
      {"NUL in arg", [](InstanceIntent& i) { i.container.args.push_back("x\0y"s); }, "NUL"},
      {"NUL in image", [](InstanceIntent& i) { i.container.image = "img\0x"s; }, "control"},
      {"newline in image", [](InstanceIntent& i) { i.container.image = "img\nrm"; }, "control"},
      {"option image", [](InstanceIntent& i) { i.container.image = "--privileged"; }, "'-'"},
      {"port 0", [](InstanceIntent& i) { i.container.port = 0; }, "1..65535"},
      {"port too big", [](InstanceIntent& i) { i.container.port = 70000; }, "1..65535"},
      {"bad env name", [](InstanceIntent& i) { i.container.env["A-B"] = "x"; }, "'A-B'"},
      {"env name $()", [](InstanceIntent& i) { i.container.env["$(id)"] = "x"; }, "variable"},
      {"digit env name", [](InstanceIntent& i) { i.container.env["1A"] = "x"; }, "variable"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    InstanceIntent i = endpoint_intent();
    c.edit(i);
    auto s = check_container(i, "aws: run instances");
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().kind, ProviderErrorKind::InvalidRequest);
    EXPECT_NE(s.error().message.find("aws: run instances: "), std::string::npos);
    EXPECT_NE(s.error().message.find(c.says), std::string::npos) << s.error().message;
    EXPECT_EQ(s.error().message.find("hf_secret"), std::string::npos);
    EXPECT_FALSE(vm_user_data(i, "x").ok());
  }
  EXPECT_TRUE(check_container(endpoint_intent(), "x").ok());
}

TEST(RefuseContainer, NamesTheMissingCapability) {
  auto s = refuse_container(endpoint_intent(), "fluence");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind, ProviderErrorKind::InvalidRequest);
  EXPECT_NE(s.error().message.find("no user data"), std::string::npos);
  InstanceIntent node;
  EXPECT_TRUE(refuse_container(node, "fluence").ok());
}

TEST(ParsePort, TakesOnlyADecimalPortInRange) {
  EXPECT_EQ(parse_port("8000"), 8000);
  EXPECT_EQ(parse_port("65535"), 65535);
  for (const char* bad : {"", "0", "65536", "80x", " 80", "-1", "+80", "99999999999"})
    EXPECT_EQ(parse_port(bad), 0) << bad;
}

TEST(VmPublicPort, IsTheContainerPortOnceTheMachineHasAnAddress) {
  Machine m;
  EXPECT_EQ(vm_public_port(m, 8000), 0);
  m.public_address = "203.0.113.7";
  EXPECT_EQ(vm_public_port(m, 8000), 8000);
  EXPECT_EQ(vm_public_port_from_tags(m), 0);
  m.tags[std::string(kTagContainerPort)] = "8000";
  EXPECT_EQ(vm_public_port_from_tags(m), 8000);
  m.tags[std::string(kTagContainerPort)] = "80x";
  EXPECT_EQ(vm_public_port_from_tags(m), 0);
  m.tags[std::string(kTagContainerPort)] = "8000";
  m.public_address.clear();
  EXPECT_EQ(vm_public_port_from_tags(m), 0);
}

// Scaleway and Vultr tag machines with plain strings: what create writes,
// get() and list() read back (identity, managed-by, the container's port).
TEST(VmStringTags, WhatCreateWritesReadsBackAsTheMachinesIdentity) {
  InstanceIntent i;
  i.name = "pool-s-0";
  i.pool_uid = "uid-1";
  EXPECT_EQ(vm_string_tags(i), (std::vector<std::string>{"gpupool-managed", "gpupool-pool=uid-1",
                                                         "gpupool-instance=pool-s-0"}));
  i.container.image = "vllm/vllm-openai:v0.6.3";
  i.container.port = 8000;
  Machine m;
  m.public_address = "203.0.113.7";
  std::vector<std::string> tags = vm_string_tags(i);
  tags.emplace_back("someone-elses-tag");
  read_vm_string_tags(tags, m);
  EXPECT_EQ(m.name, "pool-s-0");
  EXPECT_EQ(m.pool_uid(), "uid-1");
  EXPECT_EQ(m.tags.at(std::string(kTagInstance)), "pool-s-0");
  EXPECT_EQ(m.tags.at(std::string(kTagManagedBy)), std::string(kTagManagedByValue));
  EXPECT_EQ(m.public_port, 8000);
  Machine stranger;
  read_vm_string_tags({"gpupool-pool=uid-1"}, stranger);  // not marked managed
  EXPECT_EQ(stranger.tags.count(std::string(kTagManagedBy)), 0u);
  EXPECT_EQ(stranger.public_port, 0);
}

}  // namespace
}  // namespace gpupool::container
