#include "operator/kube/client/config.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "operator/kube/client/exec_plugin.h"
#include "operator/yaml/safe_load.h"

namespace gpupool::kube {
namespace {

ConfigError err(ConfigError::Kind k, std::string m) {
  return ConfigError{k, std::move(m)};
}

std::string dir_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string resolve(const std::string& dir, const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  return dir + "/" + path;
}

Result<std::string, ConfigError> read_file(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return fail(err(ConfigError::Kind::Io, "cannot read " + what + " file \"" + path + "\""));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad())
    return fail(err(ConfigError::Kind::Io, "error reading " + what + " \"" + path + "\""));
  return ss.str();
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

// One named entry of a kubeconfig plus the directory of the file it came from.
struct Entry {
  YAML::Node node;
  std::string dir;
  std::string file;
};

struct Merged {
  std::map<std::string, Entry> clusters, users, contexts;
  std::string current_context;
};

Status<ConfigError> merge_file(const std::string& path, Merged& out) {
  auto text = read_file(path, "kubeconfig");
  if (!text) return fail(text.error());
  YAML::Node root;
  try {
    root = yaml::load(*text);
  } catch (const YAML::Exception& e) {
    return fail(err(ConfigError::Kind::Invalid,
                    "kubeconfig \"" + path + "\" is not valid YAML: " + e.what()));
  }
  if (root.IsNull()) return {};  // empty file: contributes nothing
  if (!root.IsMap()) {
    return fail(err(ConfigError::Kind::Invalid, "kubeconfig \"" + path + "\" is not a YAML map"));
  }
  const std::string dir = dir_of(path);
  try {
    auto take = [&](const char* list, const char* field,
                    std::map<std::string, Entry>& into) -> Status<ConfigError> {
      const YAML::Node items = root[list];
      if (!items || items.IsNull()) return {};
      if (!items.IsSequence()) {
        return fail(err(ConfigError::Kind::Invalid,
                        "kubeconfig \"" + path + "\": " + list + " must be a list"));
      }
      for (const auto& item : items) {
        if (!item.IsMap() || !item["name"] || !item["name"].IsScalar()) {
          return fail(err(ConfigError::Kind::Invalid,
                          "kubeconfig \"" + path + "\": an entry of " + list + " has no name"));
        }
        const std::string name = item["name"].as<std::string>();
        YAML::Node body = item[field];
        if (body && !body.IsNull() && !body.IsMap()) {
          std::string message = "kubeconfig \"" + path + "\": ";
          message += list;
          message += " \"" + name + "\": ";
          message += field;
          message += " must be a map";
          return fail(err(ConfigError::Kind::Invalid, message));
        }
        into.emplace(name, Entry{body, dir, path});  // first file wins
      }
      return {};
    };
    if (auto s = take("clusters", "cluster", out.clusters); !s) return s;
    if (auto s = take("users", "user", out.users); !s) return s;
    if (auto s = take("contexts", "context", out.contexts); !s) return s;
    if (out.current_context.empty() && root["current-context"] &&
        root["current-context"].IsScalar()) {
      out.current_context = root["current-context"].as<std::string>();
    }
  } catch (const YAML::Exception& e) {
    return fail(err(ConfigError::Kind::Invalid,
                    "kubeconfig \"" + path + "\" has an unexpected shape: " + e.what()));
  }
  return {};
}

// Scalar string field or "" when absent. Throws YAML::Exception on non-scalars
// (caught by the caller).
std::string str(const YAML::Node& n, const char* key) {
  if (!n || !n.IsMap()) return "";
  const YAML::Node v = n[key];
  if (!v || v.IsNull()) return "";
  return v.as<std::string>();
}

bool boolean(const YAML::Node& n, const char* key) {
  if (!n || !n.IsMap()) return false;
  const YAML::Node v = n[key];
  if (!v || v.IsNull()) return false;
  return v.as<bool>();
}

// Data field (base64) or file field; returns "" when neither is set.
Result<std::string, ConfigError> data_or_file(const Entry& e, const char* data_key,
                                              const char* file_key, const std::string& owner) {
  const std::string data = str(e.node, data_key);
  if (!data.empty()) {
    auto decoded = base64_decode(data);
    if (!decoded) {
      return fail(
          err(ConfigError::Kind::Invalid,
              owner + ": " + data_key + " is not valid base64: " + decoded.error().message));
    }
    return std::move(decoded).value();
  }
  const std::string file = str(e.node, file_key);
  if (file.empty()) return std::string();
  auto content = read_file(resolve(e.dir, file), std::string(owner + " " + file_key));
  if (!content) return fail(content.error());
  return std::move(content).value();
}

Result<ClientConfig, ConfigError> build(const Merged& m, const std::string& wanted_context) {
  const std::string ctx_name = wanted_context.empty() ? m.current_context : wanted_context;
  if (ctx_name.empty()) {
    return fail(err(ConfigError::Kind::NotFound,
                    "kubeconfig has no current-context and no context was requested"));
  }
  auto ctx_it = m.contexts.find(ctx_name);
  if (ctx_it == m.contexts.end()) {
    return fail(err(ConfigError::Kind::NotFound,
                    "context \"" + ctx_name + "\" does not exist in the kubeconfig"));
  }
  const Entry& ctx = ctx_it->second;
  ClientConfig cfg;
  cfg.context = ctx_name;
  const std::string cluster_name = str(ctx.node, "cluster");
  const std::string user_name = str(ctx.node, "user");
  const std::string ns = str(ctx.node, "namespace");
  if (!ns.empty()) cfg.namespace_ = ns;

  auto cl_it = m.clusters.find(cluster_name);
  if (cluster_name.empty() || cl_it == m.clusters.end()) {
    return fail(err(ConfigError::Kind::NotFound, "context \"" + ctx_name + "\" names cluster \"" +
                                                     cluster_name + "\", which does not exist"));
  }
  const Entry& cl = cl_it->second;
  const std::string cl_owner = "cluster \"" + cluster_name + "\"";
  cfg.server = str(cl.node, "server");
  if (cfg.server.empty()) {
    return fail(err(ConfigError::Kind::Invalid, cl_owner + " has no server"));
  }
  if (cfg.server.rfind("https://", 0) != 0 && cfg.server.rfind("http://", 0) != 0) {
    return fail(err(ConfigError::Kind::Invalid, cl_owner + ": server \"" + cfg.server +
                                                    "\" must start with https:// or http://"));
  }
  while (cfg.server.size() > 8 && cfg.server.back() == '/')
    cfg.server.pop_back();
  cfg.insecure_skip_tls_verify = boolean(cl.node, "insecure-skip-tls-verify");
  cfg.tls_server_name = str(cl.node, "tls-server-name");
  auto ca = data_or_file(cl, "certificate-authority-data", "certificate-authority", cl_owner);
  if (!ca) return fail(ca.error());
  cfg.ca_pem = std::move(ca).value();
  if (cfg.insecure_skip_tls_verify && !cfg.ca_pem.empty()) {
    return fail(err(ConfigError::Kind::Invalid,
                    cl_owner + ": specifying a root certificates file with the insecure flag is "
                               "not allowed"));
  }

  if (user_name.empty()) return cfg;  // anonymous
  auto us_it = m.users.find(user_name);
  if (us_it == m.users.end()) {
    return fail(err(ConfigError::Kind::NotFound, "context \"" + ctx_name + "\" names user \"" +
                                                     user_name + "\", which does not exist"));
  }
  const Entry& us = us_it->second;
  const std::string us_owner = "user \"" + user_name + "\"";
  Credentials base;
  base.token = str(us.node, "token");
  auto cert = data_or_file(us, "client-certificate-data", "client-certificate", us_owner);
  if (!cert) return fail(cert.error());
  auto key = data_or_file(us, "client-key-data", "client-key", us_owner);
  if (!key) return fail(key.error());
  base.client_cert_pem = std::move(cert).value();
  base.client_key_pem = std::move(key).value();
  if (base.client_cert_pem.empty() != base.client_key_pem.empty()) {
    return fail(err(ConfigError::Kind::Invalid,
                    us_owner + ": client certificate and client key must be given together"));
  }
  const std::string token_file = str(us.node, "tokenFile");
  const YAML::Node exec = us.node ? us.node["exec"] : YAML::Node();
  if (exec && !exec.IsNull()) {
    if (!exec.IsMap())
      return fail(err(ConfigError::Kind::Invalid, us_owner + ": exec must be a map"));
    ExecConfig ec;
    ec.command = str(exec, "command");
    if (ec.command.empty()) {
      return fail(err(ConfigError::Kind::Invalid, us_owner + ": exec.command is required"));
    }
    // client-go: a command containing a path separator is relative to the
    // kubeconfig; a bare name is looked up on PATH.
    if (ec.command.find('/') != std::string::npos) ec.command = resolve(us.dir, ec.command);
    ec.api_version = str(exec, "apiVersion");
    if (ec.api_version.empty()) {
      return fail(err(ConfigError::Kind::Invalid, us_owner + ": exec.apiVersion is required"));
    }
    if (const YAML::Node args = exec["args"]; args && args.IsSequence()) {
      for (const auto& a : args)
        ec.args.push_back(a.as<std::string>());
    }
    if (const YAML::Node env = exec["env"]; env && env.IsSequence()) {
      for (const auto& e : env)
        ec.env.emplace_back(str(e, "name"), str(e, "value"));
    }
    ec.provide_cluster_info = boolean(exec, "provideClusterInfo");
    ec.install_hint = str(exec, "installHint");
    ec.interactive_mode = str(exec, "interactiveMode");
    std::string info;
    if (ec.provide_cluster_info) {
      info = "{\"server\":\"" + cfg.server + "\",\"certificate-authority-data\":\"" +
             base64_encode(cfg.ca_pem) + "\",\"insecure-skip-tls-verify\":" +
             (cfg.insecure_skip_tls_verify ? "true" : "false") + "}";
    }
    cfg.credentials = CredentialSource::exec(std::move(ec), std::move(base), std::move(info));
  } else if (!token_file.empty() && base.token.empty()) {
    cfg.credentials = CredentialSource::token_file(resolve(us.dir, token_file), std::move(base));
  } else if (!base.token.empty() || !base.client_cert_pem.empty()) {
    cfg.credentials = CredentialSource::fixed(std::move(base));
  }
  return cfg;
}

}  // namespace

EnvLookup process_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe)
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

std::vector<std::string> default_kubeconfig_paths(const EnvLookup& env) {
  std::vector<std::string> out;
  if (auto kc = env("KUBECONFIG"); kc && !kc->empty()) {
    std::stringstream ss(*kc);
    std::string item;
    while (std::getline(ss, item, ':')) {
      if (!item.empty()) out.push_back(item);
    }
    if (!out.empty()) return out;
  }
  if (auto home = env("HOME"); home && !home->empty()) out.push_back(*home + "/.kube/config");
  return out;
}

Result<ClientConfig, ConfigError> load_kubeconfig(const KubeconfigOptions& options) {
  if (options.paths.empty()) {
    return fail(err(ConfigError::Kind::NotFound, "no kubeconfig file given"));
  }
  Merged merged;
  for (const auto& p : options.paths) {
    if (auto s = merge_file(p, merged); !s) return fail(s.error());
  }
  try {
    return build(merged, options.context);
  } catch (const YAML::Exception& e) {
    return fail(err(ConfigError::Kind::Invalid,
                    std::string("kubeconfig has a field of the wrong type: ") + e.what()));
  }
}

Result<ClientConfig, ConfigError> load_in_cluster(const EnvLookup& env,
                                                  const InClusterOptions& options) {
  const auto host = env("KUBERNETES_SERVICE_HOST");
  const auto port = env("KUBERNETES_SERVICE_PORT");
  if (!host || host->empty() || !port || port->empty()) {
    return fail(err(ConfigError::Kind::NotInCluster,
                    "unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and "
                    "KUBERNETES_SERVICE_PORT must be defined"));
  }
  ClientConfig cfg;
  const bool ipv6 = host->find(':') != std::string::npos;
  cfg.server = "https://" + (ipv6 ? "[" + *host + "]" : *host) + ":" + *port;
  const std::string dir = options.service_account_dir;
  auto ca = read_file(dir + "/ca.crt", "service account CA");
  if (!ca) return fail(ca.error());
  cfg.ca_pem = std::move(ca).value();
  // Fail early when the token is unreadable; the source re-reads it later.
  auto token = read_file(dir + "/token", "service account token");
  if (!token) return fail(token.error());
  if (auto ns = env("POD_NAMESPACE"); ns && !ns->empty()) {
    cfg.namespace_ = *ns;
  } else if (auto nsf = read_file(dir + "/namespace", "service account namespace"); nsf) {
    const std::string t = trim(*nsf);
    if (!t.empty()) cfg.namespace_ = t;
  }
  cfg.credentials = CredentialSource::token_file(dir + "/token", {}, options.token_refresh);
  return cfg;
}

Result<ClientConfig, ConfigError> load_default(const EnvLookup& env,
                                               const std::string& kubeconfig_path,
                                               const std::string& context,
                                               const InClusterOptions& in_cluster) {
  if (!kubeconfig_path.empty()) return load_kubeconfig({{kubeconfig_path}, context});
  if (auto kc = env("KUBECONFIG"); kc && !kc->empty()) {
    return load_kubeconfig({default_kubeconfig_paths(env), context});
  }
  if (auto host = env("KUBERNETES_SERVICE_HOST"); host && !host->empty()) {
    return load_in_cluster(env, in_cluster);
  }
  auto paths = default_kubeconfig_paths(env);
  if (paths.empty()) {
    return fail(err(ConfigError::Kind::NotFound,
                    "no kubeconfig: set KUBECONFIG or HOME, or run in a cluster"));
  }
  return load_kubeconfig({paths, context});
}

std::string ClientConfig::to_string() const {
  std::string s = "server=" + server + " context=" + (context.empty() ? "<none>" : context) +
                  " namespace=" + namespace_;
  s += insecure_skip_tls_verify ? " tls=insecure-skip-verify"
                                : (ca_pem.empty() ? " tls=system-ca" : " tls=custom-ca");
  if (!tls_server_name.empty()) s += " tls-server-name=" + tls_server_name;
  s += " auth=" + (credentials ? credentials->describe() : std::string("none"));
  return s;
}

// ---------------------------------------------------------------------------
// CredentialSource

std::shared_ptr<CredentialSource> CredentialSource::fixed(Credentials c) {
  return std::shared_ptr<CredentialSource>(new CredentialSource(Mode::Fixed, std::move(c)));
}

std::shared_ptr<CredentialSource> CredentialSource::token_file(std::string path, Credentials base,
                                                               Duration refresh) {
  auto s =
      std::shared_ptr<CredentialSource>(new CredentialSource(Mode::TokenFile, std::move(base)));
  s->token_path_ = std::move(path);
  s->refresh_ = refresh;
  return s;
}

std::shared_ptr<CredentialSource> CredentialSource::exec(ExecConfig exec, Credentials base,
                                                         std::string cluster_info_json) {
  auto s = std::shared_ptr<CredentialSource>(new CredentialSource(Mode::Exec, std::move(base)));
  s->exec_ = std::move(exec);
  s->cluster_info_ = std::move(cluster_info_json);
  return s;
}

Result<Credentials, ConfigError> CredentialSource::get(const Clock& clock) {
  MutexLock lock(mu_);
  if (mode_ == Mode::Fixed) return base_;
  const Time now = clock.now();
  if (cached_ && (!expires_ || now < *expires_)) return *cached_;
  if (mode_ == Mode::TokenFile) {
    auto text = read_file(token_path_, "token");
    if (!text) {
      if (cached_) return *cached_;  // keep the last good token on a transient failure
      return fail(text.error());
    }
    Credentials c = base_;
    c.token = trim(*text);
    if (c.token.empty()) {
      return fail(err(ConfigError::Kind::Invalid, "token file \"" + token_path_ + "\" is empty"));
    }
    cached_ = c;
    expires_ = now + refresh_;
    return c;
  }
  auto out = run_exec_plugin(exec_, cluster_info_);
  if (!out) return fail(out.error());
  Credentials c = base_;
  if (!out->token.empty()) c.token = out->token;
  if (!out->client_cert_pem.empty()) {
    c.client_cert_pem = out->client_cert_pem;
    c.client_key_pem = out->client_key_pem;
  }
  cached_ = c;
  expires_ = out->expiration;
  return c;
}

void CredentialSource::invalidate() {
  MutexLock lock(mu_);
  if (mode_ != Mode::Fixed) cached_.reset();
}

std::string CredentialSource::describe() const {
  std::string what;
  switch (mode_) {
    case Mode::Fixed:
      what = base_.token.empty() ? "" : "token(redacted)";
      break;
    case Mode::TokenFile:
      what = "token-file " + token_path_;
      break;
    case Mode::Exec:
      what = "exec " + exec_.command;
      break;
  }
  if (!base_.client_cert_pem.empty()) {
    what += what.empty() ? "client-certificate" : "+client-certificate";
  }
  return what.empty() ? "none" : what;
}

// ---------------------------------------------------------------------------
// base64

namespace {
constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}
}  // namespace

Result<std::string, ConfigError> base64_decode(std::string_view in) {
  std::string out;
  out.reserve(in.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  size_t pad = 0;
  size_t symbols = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    if (c == '=') {
      ++pad;
      continue;
    }
    const int v = b64_value(c);
    if (v < 0 || pad > 0) {
      return fail(err(ConfigError::Kind::Invalid,
                      "illegal base64 data at input byte " + std::to_string(i)));
    }
    ++symbols;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFFu));
    }
  }
  if (symbols % 4 == 1 || pad > 2 || (pad > 0 && (symbols + pad) % 4 != 0)) {
    return fail(err(ConfigError::Kind::Invalid, "base64 data has a truncated final group"));
  }
  return out;
}

std::string base64_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = (static_cast<uint32_t>(static_cast<uint8_t>(in[i])) << 16) |
                       (static_cast<uint32_t>(static_cast<uint8_t>(in[i + 1])) << 8) |
                       static_cast<uint32_t>(static_cast<uint8_t>(in[i + 2]));
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += kB64[v & 63];
  }
  if (i < in.size()) {
    uint32_t v = static_cast<uint32_t>(static_cast<uint8_t>(in[i])) << 16;
    if (i + 1 < in.size()) v |= static_cast<uint32_t>(static_cast<uint8_t>(in[i + 1])) << 8;
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += i + 1 < in.size() ? kB64[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

}  // namespace gpupool::kube
