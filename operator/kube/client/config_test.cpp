#include "operator/kube/client/config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "operator/kube/client/exec_plugin.h"

namespace gpupool::kube {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "kubecfg-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string write(const std::string& name, const std::string& content, bool exec = false) {
    const std::string p = path_ + "/" + name;
    fs::create_directories(fs::path(p).parent_path());
    std::ofstream(p, std::ios::binary) << content;
    if (exec) chmod(p.c_str(), 0755);
    return p;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

const char kCa[] = "-----BEGIN CERTIFICATE-----\nMIIBfakeCA\n-----END CERTIFICATE-----\n";
const char kCert[] = "-----BEGIN CERTIFICATE-----\nMIIBclient\n-----END CERTIFICATE-----\n";
const char kKey[] = "-----BEGIN EC PRIVATE KEY-----\nSECRETKEY\n-----END EC PRIVATE KEY-----\n";

std::string two_context_config() {
  return "apiVersion: v1\nkind: Config\ncurrent-context: dev\n"
         "clusters:\n"
         "- name: dev-cluster\n  cluster:\n    server: https://127.0.0.1:6443/\n"
         "    certificate-authority-data: " +
         base64_encode(kCa) +
         "\n    tls-server-name: api.dev\n"
         "- name: prod-cluster\n  cluster:\n    server: https://10.0.0.1:443\n"
         "    insecure-skip-tls-verify: true\n"
         "users:\n"
         "- name: dev-user\n  user:\n    token: s3cr3t-token\n"
         "- name: prod-user\n  user:\n    client-certificate-data: " +
         base64_encode(kCert) + "\n    client-key-data: " + base64_encode(kKey) +
         "\n"
         "contexts:\n"
         "- name: dev\n  context:\n    cluster: dev-cluster\n    user: dev-user\n    namespace: "
         "team-a\n"
         "- name: prod\n  context:\n    cluster: prod-cluster\n    user: prod-user\n";
}

FakeClock& clock() {
  static FakeClock c(Time{seconds(1'800'000'000)});
  return c;
}

TEST(Kubeconfig, CurrentContextWithTokenAndCaData) {
  TempDir d;
  auto cfg = load_kubeconfig({{d.write("config", two_context_config())}, ""});
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  EXPECT_EQ(cfg->server, "https://127.0.0.1:6443");
  EXPECT_EQ(cfg->ca_pem, kCa);
  EXPECT_EQ(cfg->tls_server_name, "api.dev");
  EXPECT_FALSE(cfg->insecure_skip_tls_verify);
  EXPECT_EQ(cfg->namespace_, "team-a");
  EXPECT_EQ(cfg->context, "dev");
  ASSERT_TRUE(cfg->credentials);
  auto creds = cfg->credentials->get(clock());
  ASSERT_TRUE(creds.ok());
  EXPECT_EQ(creds->token, "s3cr3t-token");
}

TEST(Kubeconfig, NamedContextWithClientCertificate) {
  TempDir d;
  auto cfg = load_kubeconfig({{d.write("config", two_context_config())}, "prod"});
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  EXPECT_EQ(cfg->server, "https://10.0.0.1:443");
  EXPECT_TRUE(cfg->insecure_skip_tls_verify);
  EXPECT_EQ(cfg->namespace_, "default");
  auto creds = cfg->credentials->get(clock());
  ASSERT_TRUE(creds.ok());
  EXPECT_EQ(creds->client_cert_pem, kCert);
  EXPECT_EQ(creds->client_key_pem, kKey);
  EXPECT_TRUE(creds->token.empty());
}

TEST(Kubeconfig, ToStringRedactsCredentials) {
  TempDir d;
  auto dev = load_kubeconfig({{d.write("config", two_context_config())}, "dev"});
  auto prod = load_kubeconfig({{d.path() + "/config"}, "prod"});
  ASSERT_TRUE(dev.ok() && prod.ok());
  const std::string s = dev->to_string() + prod->to_string();
  EXPECT_EQ(s.find("s3cr3t"), std::string::npos) << s;
  EXPECT_EQ(s.find("SECRETKEY"), std::string::npos) << s;
  EXPECT_NE(s.find("server=https://127.0.0.1:6443"), std::string::npos) << s;
  EXPECT_NE(s.find("redacted"), std::string::npos) << s;
  EXPECT_NE(s.find("client-certificate"), std::string::npos) << s;
}

TEST(Kubeconfig, MissingContextClusterOrUserIsNotFound) {
  TempDir d;
  auto p = d.write("config", two_context_config());
  auto r = load_kubeconfig({{p}, "staging"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ConfigError::Kind::NotFound);
  EXPECT_NE(r.error().message.find("context \"staging\" does not exist"), std::string::npos);

  auto q = d.write(
      "c2", "contexts:\n- name: x\n  context: {cluster: nope, user: u}\ncurrent-context: x\n");
  r = load_kubeconfig({{q}, ""});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("cluster \"nope\""), std::string::npos) << r.error().message;

  auto u =
      d.write("c3",
              "clusters:\n- name: c\n  cluster: {server: 'https://h:1'}\n"
              "contexts:\n- name: x\n  context: {cluster: c, user: ghost}\ncurrent-context: x\n");
  r = load_kubeconfig({{u}, ""});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ConfigError::Kind::NotFound);
  EXPECT_NE(r.error().message.find("user \"ghost\""), std::string::npos) << r.error().message;

  auto none = d.write("c4", "clusters: []\n");
  r = load_kubeconfig({{none}, ""});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("no current-context"), std::string::npos);
}

TEST(Kubeconfig, RelativeFilesResolveAgainstKubeconfigDirectory) {
  TempDir d;
  d.write("sub/pki/ca.crt", kCa);
  d.write("sub/pki/client.crt", kCert);
  d.write("sub/pki/client.key", kKey);
  d.write("sub/token", "file-token\n");
  auto p = d.write("sub/config",
                   "clusters:\n- name: c\n  cluster:\n    server: https://h:6443\n"
                   "    certificate-authority: pki/ca.crt\n"
                   "users:\n- name: u\n  user:\n    client-certificate: pki/client.crt\n"
                   "    client-key: pki/client.key\n    tokenFile: token\n"
                   "contexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n");
  auto cfg = load_kubeconfig({{p}, ""});
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  EXPECT_EQ(cfg->ca_pem, kCa);
  auto creds = cfg->credentials->get(clock());
  ASSERT_TRUE(creds.ok()) << creds.error().message;
  EXPECT_EQ(creds->token, "file-token");
  EXPECT_EQ(creds->client_cert_pem, kCert);
  EXPECT_EQ(creds->client_key_pem, kKey);
}

TEST(Kubeconfig, UnreadableFileIsIoErrorNamingThePath) {
  TempDir d;
  auto p = d.write("config",
                   "clusters:\n- name: c\n  cluster:\n    server: https://h:6443\n"
                   "    certificate-authority: missing-ca.crt\n"
                   "contexts:\n- name: x\n  context: {cluster: c}\ncurrent-context: x\n");
  auto r = load_kubeconfig({{p}, ""});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ConfigError::Kind::Io);
  EXPECT_NE(r.error().message.find(d.path() + "/missing-ca.crt"), std::string::npos)
      << r.error().message;

  auto missing = load_kubeconfig({{d.path() + "/nope"}, ""});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ConfigError::Kind::Io);
}

TEST(Kubeconfig, BadBase64IsInvalidNamingTheField) {
  TempDir d;
  auto p = d.write("config",
                   "clusters:\n- name: c\n  cluster:\n    server: https://h:6443\n"
                   "    certificate-authority-data: 'not*base64!'\n"
                   "contexts:\n- name: x\n  context: {cluster: c}\ncurrent-context: x\n");
  auto r = load_kubeconfig({{p}, ""});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ConfigError::Kind::Invalid);
  EXPECT_NE(r.error().message.find("certificate-authority-data is not valid base64"),
            std::string::npos)
      << r.error().message;
}

TEST(Kubeconfig, InsecureWithCaIsRejected) {
  TempDir d;
  auto p = d.write("config",
                   "clusters:\n- name: c\n  cluster:\n    server: https://h:6443\n"
                   "    insecure-skip-tls-verify: true\n"
                   "    certificate-authority-data: " +
                       base64_encode(kCa) +
                       "\ncontexts:\n- name: x\n  context: {cluster: c}\n"
                       "current-context: x\n");
  auto r = load_kubeconfig({{p}, ""});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("insecure flag is not allowed"), std::string::npos);
}

TEST(Kubeconfig, MalformedYamlAndWrongShapesAreInvalid) {
  TempDir d;
  for (const char* text : {"clusters: [\n", "- just\n- a list\n", "clusters: 5\n",
                           "clusters:\n- cluster: {server: x}\n",
                           "clusters:\n- name: c\n  cluster: {server: 'ftp://x'}\n"
                           "contexts:\n- name: x\n  context: {cluster: c}\ncurrent-context: x\n",
                           "clusters:\n- name: c\n  cluster: {server: [1, 2]}\n"
                           "contexts:\n- name: x\n  context: {cluster: c}\ncurrent-context: x\n"}) {
    auto r = load_kubeconfig({{d.write("config", text)}, ""});
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.error().kind, ConfigError::Kind::Invalid) << text << ": " << r.error().message;
  }
}

TEST(Kubeconfig, MultipleFilesFirstWinsPerKey) {
  TempDir d;
  auto a = d.write("a",
                   "current-context: ctx\n"
                   "clusters:\n- name: c\n  cluster: {server: 'https://first:1'}\n");
  auto b = d.write("b",
                   "current-context: other\n"
                   "clusters:\n- name: c\n  cluster: {server: 'https://second:2'}\n"
                   "users:\n- name: u\n  user: {token: tok-b}\n"
                   "contexts:\n- name: ctx\n  context: {cluster: c, user: u}\n");
  auto cfg = load_kubeconfig({{a, b}, ""});
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  EXPECT_EQ(cfg->server, "https://first:1");
  EXPECT_EQ(cfg->context, "ctx");
  EXPECT_EQ(cfg->credentials->get(clock())->token, "tok-b");
}

TEST(Kubeconfig, DefaultPathsFromKubeconfigEnvOrHome) {
  std::map<std::string, std::string> env{{"KUBECONFIG", "/a/one::/b/two"}, {"HOME", "/home/x"}};
  EnvLookup lookup = [&](const std::string& k) -> std::optional<std::string> {
    auto it = env.find(k);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  EXPECT_EQ(default_kubeconfig_paths(lookup), (std::vector<std::string>{"/a/one", "/b/two"}));
  env.erase("KUBECONFIG");
  EXPECT_EQ(default_kubeconfig_paths(lookup), (std::vector<std::string>{"/home/x/.kube/config"}));
}

TEST(Kubeconfig, TokenFileIsReReadAfterRefresh) {
  TempDir d;
  const auto tok = d.write("token", "one");
  auto src = CredentialSource::token_file(tok, {}, seconds(60));
  FakeClock c(Time{seconds(1'800'000'000)});
  EXPECT_EQ(src->get(c)->token, "one");
  d.write("token", "two");
  c.advance(seconds(30));
  EXPECT_EQ(src->get(c)->token, "one") << "cached within the refresh period";
  c.advance(seconds(31));
  EXPECT_EQ(src->get(c)->token, "two");
  d.write("token", "three");
  src->invalidate();
  EXPECT_EQ(src->get(c)->token, "three");
}

std::string exec_config(const std::string& script, const std::string& extra = "") {
  return "clusters:\n- name: c\n  cluster: {server: 'https://h:6443'}\n"
         "users:\n- name: u\n  user:\n    exec:\n      apiVersion: "
         "client.authentication.k8s.io/v1\n      command: ./" +
         script +
         "\n      args: [one, two]\n      env:\n      - {name: PLUGIN_GREETING, value: hello}\n"
         "      interactiveMode: Never\n" +
         extra + "contexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n";
}

TEST(ExecPlugin, RunsCommandWithArgsAndEnvAndCachesUntilExpiry) {
  TempDir d;
  // Counts its runs in a file, and builds the token from args, env and the
  // exec info so the test sees all three arrived.
  d.write("plugin.sh",
          "#!/bin/sh\n"
          "echo run >> \"$(dirname \"$0\")/runs\"\n"
          "n=$(wc -l < \"$(dirname \"$0\")/runs\" | tr -d ' ')\n"
          "case \"$KUBERNETES_EXEC_INFO\" in *'\"server\":\"https://h:6443\"'*) c=cluster;; *) "
          "c=nocluster;; esac\n"
          "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
          "\"status\":{\"token\":\"%s-%s-%s-%s-%s\",\"expirationTimestamp\":\"2027-01-15T08:00:"
          "00Z\"}}' \"$PLUGIN_GREETING\" \"$1\" \"$2\" \"$c\" \"$n\"\n",
          true);
  auto cfg = load_kubeconfig(
      {{d.write("config", exec_config("plugin.sh", "      provideClusterInfo: true\n"))}, ""});
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  EXPECT_NE(cfg->to_string().find("exec "), std::string::npos);
  FakeClock c(Time{seconds(1'800'000'000)});  // 2027-01-15T08:00:00Z
  c.advance(seconds(-3600));
  auto creds = cfg->credentials->get(c);
  ASSERT_TRUE(creds.ok()) << creds.error().message;
  EXPECT_EQ(creds->token, "hello-one-two-cluster-1");
  EXPECT_EQ(cfg->credentials->get(c)->token, "hello-one-two-cluster-1") << "cached";
  c.advance(seconds(3600));
  EXPECT_EQ(cfg->credentials->get(c)->token, "hello-one-two-cluster-2") << "expired: re-run";
  cfg->credentials->invalidate();
  EXPECT_EQ(cfg->credentials->get(c)->token, "hello-one-two-cluster-3") << "401: re-run";
}

TEST(ExecPlugin, FailureGivesStatusAndStderrButNotStdout) {
  TempDir d;
  d.write("bad.sh", "#!/bin/sh\necho leaked-secret\necho 'login required' >&2\nexit 3\n", true);
  auto cfg = load_kubeconfig(
      {{d.write("config", exec_config("bad.sh", "      installHint: install foo\n"))}, ""});
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  auto creds = cfg->credentials->get(clock());
  ASSERT_FALSE(creds.ok());
  EXPECT_EQ(creds.error().kind, ConfigError::Kind::Exec);
  EXPECT_NE(creds.error().message.find("exited with status 3: login required"), std::string::npos)
      << creds.error().message;
  EXPECT_NE(creds.error().message.find("install foo"), std::string::npos);
  EXPECT_EQ(creds.error().message.find("leaked-secret"), std::string::npos);

  d.write("ok.sh", "#!/bin/sh\necho should-not-run >> \"$(dirname \"$0\")/ran\"\n", true);
  std::string interactive = exec_config("ok.sh");
  interactive.replace(interactive.find("interactiveMode: Never"), 22, "interactiveMode: Always");
  auto always = load_kubeconfig({{d.write("config3", interactive)}, ""});
  ASSERT_TRUE(always.ok()) << always.error().message;
  auto ia = always->credentials->get(clock());
  ASSERT_FALSE(ia.ok());
  EXPECT_NE(ia.error().message.find("interactive"), std::string::npos);
  EXPECT_FALSE(fs::exists(d.path() + "/ran"));

  auto missing = load_kubeconfig({{d.write("config2", exec_config("does-not-exist.sh"))}, ""});
  ASSERT_TRUE(missing.ok());
  auto r = missing->credentials->get(clock());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ConfigError::Kind::Exec);
}

TEST(ExecPlugin, ParsesAndRejectsExecCredentials) {
  const std::string v1 = "client.authentication.k8s.io/v1";
  auto ok = parse_exec_credential(
      R"({"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1",
          "status":{"clientCertificateData":"C","clientKeyData":"K"}})",
      v1);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->client_cert_pem, "C");
  EXPECT_FALSE(ok->expiration.has_value());
  for (
      const char* bad :
      {"not json", "[]", R"({"kind":"Other","apiVersion":"client.authentication.k8s.io/v1"})",
       R"({"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","status":{"token":"t"}})",
       R"({"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1"})",
       R"({"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","status":{}})",
       R"({"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","status":{"token":"t","expirationTimestamp":"soon"}})",
       R"({"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","status":{"clientKeyData":"K"}})"}) {
    auto r = parse_exec_credential(bad, v1);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.error().kind, ConfigError::Kind::Exec);
    }
  }
}

TEST(InCluster, NeedsServiceEnvironment) {
  EnvLookup empty = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  auto r = load_in_cluster(empty);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ConfigError::Kind::NotInCluster);
}

TEST(InCluster, ReadsServiceAccountDirectoryAndRotatesToken) {
  TempDir d;
  d.write("sa/token", "sa-token-1\n");
  d.write("sa/ca.crt", kCa);
  d.write("sa/namespace", "gpu-system\n");
  std::map<std::string, std::string> env{{"KUBERNETES_SERVICE_HOST", "fd00::1"},
                                         {"KUBERNETES_SERVICE_PORT", "443"}};
  EnvLookup lookup = [&](const std::string& k) -> std::optional<std::string> {
    auto it = env.find(k);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  auto cfg = load_in_cluster(lookup, {d.path() + "/sa", seconds(60)});
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  EXPECT_EQ(cfg->server, "https://[fd00::1]:443");
  EXPECT_EQ(cfg->ca_pem, kCa);
  EXPECT_EQ(cfg->namespace_, "gpu-system");
  FakeClock c(Time{seconds(1'800'000'000)});
  EXPECT_EQ(cfg->credentials->get(c)->token, "sa-token-1");
  d.write("sa/token", "sa-token-2\n");
  c.advance(seconds(61));
  EXPECT_EQ(cfg->credentials->get(c)->token, "sa-token-2");
  EXPECT_EQ(cfg->to_string().find("sa-token"), std::string::npos);

  env["POD_NAMESPACE"] = "override";
  EXPECT_EQ(load_in_cluster(lookup, {d.path() + "/sa", seconds(60)})->namespace_, "override");

  fs::remove(d.path() + "/sa/ca.crt");
  auto r = load_in_cluster(lookup, {d.path() + "/sa", seconds(60)});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ConfigError::Kind::Io);
  EXPECT_NE(r.error().message.find("ca.crt"), std::string::npos);
}

TEST(LoadDefault, ExplicitPathThenKubeconfigEnvThenInClusterThenHome) {
  TempDir d;
  auto mk = [&](const std::string& file, const std::string& server) {
    return d.write(file, "clusters:\n- name: c\n  cluster: {server: '" + server +
                             "'}\ncontexts:\n- name: x\n  context: {cluster: c}\n"
                             "current-context: x\n");
  };
  const auto explicit_path = mk("explicit", "https://explicit:1");
  mk("env", "https://env:1");
  mk("home/.kube/config", "https://home:1");
  d.write("sa/token", "t");
  d.write("sa/ca.crt", kCa);
  std::map<std::string, std::string> env{{"KUBECONFIG", d.path() + "/env"},
                                         {"HOME", d.path() + "/home"},
                                         {"KUBERNETES_SERVICE_HOST", "10.0.0.1"},
                                         {"KUBERNETES_SERVICE_PORT", "443"}};
  EnvLookup lookup = [&](const std::string& k) -> std::optional<std::string> {
    auto it = env.find(k);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  const InClusterOptions ic{d.path() + "/sa", seconds(60)};
  EXPECT_EQ(load_default(lookup, explicit_path, "", ic)->server, "https://explicit:1");
  EXPECT_EQ(load_default(lookup, "", "", ic)->server, "https://env:1");
  env.erase("KUBECONFIG");
  EXPECT_EQ(load_default(lookup, "", "", ic)->server, "https://10.0.0.1:443");
  env.erase("KUBERNETES_SERVICE_HOST");
  EXPECT_EQ(load_default(lookup, "", "", ic)->server, "https://home:1");
  env.erase("HOME");
  auto none = load_default(lookup, "", "", ic);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().kind, ConfigError::Kind::NotFound);
}

TEST(Base64, RoundTripsAndRejectsGarbage) {
  for (const std::string& s : std::vector<std::string>{"", "f", "fo", "foo", "foob", "fooba",
                                                       "foobar", std::string("\0\xff\x10", 3)}) {
    auto d = base64_decode(base64_encode(s));
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(*d, s);
  }
  EXPECT_EQ(*base64_decode("Zm9v\nYmFy"), "foobar");
  EXPECT_EQ(*base64_decode("Zm8"), "fo");
  EXPECT_FALSE(base64_decode("Zm9v!").ok());
  EXPECT_FALSE(base64_decode("Z").ok());
  EXPECT_FALSE(base64_decode("Zm==9v").ok());
  EXPECT_FALSE(base64_decode("Zm9v===").ok());
}

}  // namespace
}  // namespace gpupool::kube
