#include "operator/core/bootstrap_template.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace gpupool::bootstrap {
namespace {

// Values that break naive substitution in shell, YAML or both.
const std::vector<std::string> kHostile = {
    "plain",
    "it's",
    "'; rm -rf / #",
    "a\"b\"c",
    "$(touch /tmp/gpupool-pwned)",
    "`id`",
    "${HOME}",
    "line1\nline2\n",
    "tab\there",
    "# not a comment",
    "key: value",
    "- item",
    "[a, b]",
    "{a: b}",
    "&anchor *alias !tag",
    "| block",
    "> folded",
    "@at %percent",
    "null",
    "true",
    "0x1F",
    "~",
    "back\\slash\\n",
    "\xC3\xA9t\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x9A\x80",  // été 日本 🚀
    "\xE2\x80\xA8sep\xC2\x85nel\xEF\xBB\xBF",                       // U+2028, U+0085, BOM
    "ctrl\x01\x1b[31m\x7f",
    "",
    " leading and trailing ",
    "'\"'\"",
};

Values sample(const std::string& hostile) {
  Values v;
  v.instance_name = hostile;
  v.pool_name = hostile;
  v.pool_namespace = hostile;
  v.labels = {{"team", hostile}};
  v.taints = {hostile};
  v.token = "abcdef.0123456789abcdef";
  return v;
}

// Runs `script` with /bin/sh and returns its standard output.
std::string run_sh(const std::string& script) {
  char path[] = "/tmp/gpupool-bootstrap-test-XXXXXX";
  const int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  close(fd);
  {
    std::ofstream f(path, std::ios::binary);
    f << script;
  }
  std::string out;
  FILE* p = popen(("/bin/sh " + std::string(path)).c_str(), "r");
  EXPECT_NE(p, nullptr);
  std::array<char, 4096> buf{};
  size_t n = 0;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0)
    out.append(buf.data(), n);
  EXPECT_EQ(pclose(p), 0) << script;
  std::remove(path);
  return out;
}

TEST(BootstrapTemplate, ShellWordsReadBackAsTheSameValueInARealShell) {
  for (const auto& h : kHostile) {
    const Values v = sample(h);
    auto r = render(
        "#!/bin/sh\nset -eu\n"
        "printf '%s\\0' {{ instance.name | shell }} {{pool.name|shell}} "
        "{{ pool.namespace | shell }} {{ node.labels | shell }} {{ node.taints | shell }}\n",
        v);
    ASSERT_TRUE(r.ok()) << r.error().describe();
    const std::string out = run_sh(*r);
    const std::string want =
        h + '\0' + h + '\0' + h + '\0' + node_labels(v) + '\0' + node_taints(v) + '\0';
    EXPECT_EQ(out, want) << "value: " << h << "\nscript:\n" << *r;
  }
}

TEST(BootstrapTemplate, YamlScalarsParseBackAsTheSameValue) {
  for (const auto& h : kHostile) {
    const Values v = sample(h);
    auto r = render(
        "#cloud-config\n"
        "hostname: {{ instance.name | yaml }}\n"
        "write_files:\n"
        "  - path: /etc/gpupool/pool\n"
        "    content: {{ pool.name | yaml }}\n"
        "runcmd:\n"
        "  - [kubelet, --node-labels, {{ node.labels | yaml }}, {{ node.taints | yaml }}]\n",
        v);
    ASSERT_TRUE(r.ok()) << r.error().describe();
    YAML::Node doc;
    ASSERT_NO_THROW(doc = YAML::Load(*r)) << *r;
    EXPECT_EQ(doc["hostname"].as<std::string>(), h) << *r;
    EXPECT_EQ(doc["write_files"][0]["content"].as<std::string>(), h) << *r;
    EXPECT_EQ(doc["runcmd"][0][2].as<std::string>(), node_labels(v)) << *r;
    EXPECT_EQ(doc["runcmd"][0][3].as<std::string>(), node_taints(v)) << *r;
    EXPECT_EQ(doc.size(), 3U) << "a value added keys:\n" << *r;
  }
}

TEST(BootstrapTemplate, NodeLabelsAndTaintsUseKubeletFlagForms) {
  Values v;
  v.instance_name = "pool-abc-0";
  v.pool_name = "pool";
  v.labels = {{"team", "ml"}, {"a.example/zone", "x"}};
  v.taints = {"gpu=true:NoSchedule", "dedicated:NoExecute"};
  EXPECT_EQ(node_labels(v),
            "a.example/zone=x,gpupool.io/instance=pool-abc-0,gpupool.io/pool=pool,team=ml");
  EXPECT_EQ(node_taints(v), "gpu=true:NoSchedule,dedicated:NoExecute");
  auto r = render("kubelet --node-labels={{ node.labels | shell }}", v);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r,
            "kubelet "
            "--node-labels='a.example/zone=x,gpupool.io/instance=pool-abc-0,gpupool.io/"
            "pool=pool,team=ml'");
}

TEST(BootstrapTemplate, RawWritesOnlyTheOperatorsOwnCheckedValues) {
  Values v = sample("pool-abc-0");
  auto r = render(
      "kubeadm join --token {{ token | raw }} # {{ token.id | raw }}/{{ token.secret | raw }} "
      "{{ instance.name | raw }}",
      v);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(*r,
            "kubeadm join --token abcdef.0123456789abcdef # abcdef/0123456789abcdef pool-abc-0");

  auto user = render("x\n  {{ pool.name | raw }}", v);
  ASSERT_FALSE(user.ok());
  EXPECT_EQ(user.error().line, 2);
  EXPECT_EQ(user.error().column, 3);
  EXPECT_NE(user.error().message.find("raw is not allowed for pool.name"), std::string::npos);

  // A generated value that is not what it should be is refused, not written.
  v.instance_name = "x$(id)";
  auto bad = render("{{ instance.name | raw }}", v);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("[a-z0-9.-]"), std::string::npos);
}

TEST(BootstrapTemplate, ErrorsNameLineAndColumn) {
  const Values v = sample("p");
  struct Case {
    std::string tmpl;
    int line, column;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"a\nb {{ instance.nmae | shell }}", 2, 3, "unknown variable \"instance.nmae\""},
      {"{{ instance.name | sh }}", 1, 1, "unknown filter \"sh\""},
      {"ok\n\n   {{ instance.name }}", 3, 4, "names no filter"},
      {"{{ instance.name | shell | yaml }}", 1, 1, "exactly one filter"},
      {"x {{ instance.name | shell ", 1, 3, "never closed"},
      {"x {{ instance.name \n| shell }}", 1, 3, "not closed with }} on its line"},
      {"{{ }}", 1, 1, "names no filter"},
  };
  for (const auto& c : cases) {
    auto r = render(c.tmpl, v);
    ASSERT_FALSE(r.ok()) << c.tmpl;
    EXPECT_EQ(r.error().line, c.line) << c.tmpl;
    EXPECT_EQ(r.error().column, c.column) << c.tmpl;
    EXPECT_NE(r.error().message.find(c.says), std::string::npos) << r.error().describe();
    EXPECT_EQ(r.error().describe().rfind("line " + std::to_string(c.line) + ", column ", 0), 0U);
  }
}

TEST(BootstrapTemplate, TextOutsideTagsIsCopiedAndLiteralBracesCanBeWritten) {
  const Values v = sample("p");
  const std::string plain = "#!/bin/sh\necho '}}' \"$HOME\" {not a tag}\n";
  auto r = render(plain, v);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, plain);
  auto lit = render("{{ \"{{\" }} x {{\"}}\"}}", v);
  ASSERT_TRUE(lit.ok()) << lit.error().describe();
  EXPECT_EQ(*lit, "{{ x }}");
}

TEST(BootstrapTemplate, ValuesAShellWordCannotCarryAreErrorsNotWrittenUnescaped) {
  Values v = sample("p");
  v.pool_name = std::string("a\0b", 3);
  auto r = render("{{ pool.name | shell }}", v);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("NUL"), std::string::npos);
  v.pool_name = "\xff\xfe";
  auto y = render("{{ pool.name | yaml }}", v);
  ASSERT_FALSE(y.ok());
  EXPECT_NE(y.error().message.find("UTF-8"), std::string::npos);
}

TEST(BootstrapTemplate, CheckFindsTemplateErrorsWithSampleValues) {
  EXPECT_TRUE(check("#!/bin/sh\nk3s agent --token {{ token | raw }} --node-label "
                    "{{ node.labels | shell }}\n",
                    {{"team", "ml"}}, {"gpu=true:NoSchedule"})
                  .ok());
  auto bad = check("#!/bin/sh\n{{ secret | raw }}", {}, {});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().line, 2);
}

}  // namespace
}  // namespace gpupool::bootstrap
