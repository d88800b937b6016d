#include "operator/kube/client/exec_plugin.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <vector>

extern char** environ;  // NOLINT

namespace gpupool::kube {
namespace {

ConfigError exec_err(const ExecConfig& e, std::string m) {
  std::string msg = "exec plugin \"" + e.command + "\": " + std::move(m);
  if (!e.install_hint.empty()) msg += " (" + e.install_hint + ")";
  return ConfigError{ConfigError::Kind::Exec, msg};
}

}  // namespace

Result<ExecOutput, ConfigError> parse_exec_credential(const std::string& text,
                                                      const std::string& api_version) {
  auto bad = [](std::string m) {
    return fail(ConfigError{ConfigError::Kind::Exec, "ExecCredential " + std::move(m)});
  };
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception&) {
    return bad("output is not valid JSON");
  }
  if (!j.is_object()) return bad("output is not a JSON object");
  if (j.value("kind", "") != "ExecCredential") return bad("has kind other than ExecCredential");
  if (!api_version.empty() && j.value("apiVersion", "") != api_version) {
    return bad("has apiVersion \"" + j.value("apiVersion", "") + "\", expected \"" + api_version +
               "\"");
  }
  const auto st = j.find("status");
  if (st == j.end() || !st->is_object()) return bad("has no status");
  ExecOutput out;
  auto field = [&](const char* k) -> std::string {
    auto it = st->find(k);
    return it != st->end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  out.token = field("token");
  out.client_cert_pem = field("clientCertificateData");
  out.client_key_pem = field("clientKeyData");
  if (out.client_cert_pem.empty() != out.client_key_pem.empty()) {
    return bad("status must carry clientCertificateData and clientKeyData together");
  }
  if (out.token.empty() && out.client_cert_pem.empty()) {
    return bad("status has neither a token nor a client certificate");
  }
  const std::string exp = field("expirationTimestamp");
  if (!exp.empty()) {
    Time t;
    if (!parse_rfc3339(exp, t)) return bad("has a malformed expirationTimestamp \"" + exp + "\"");
    out.expiration = t;
  }
  return out;
}

Result<ExecOutput, ConfigError> run_exec_plugin(const ExecConfig& exec,
                                                const std::string& cluster_info_json,
                                                std::chrono::milliseconds timeout) {
  if (exec.interactive_mode == "Always") {
    return fail(exec_err(exec,
                         "needs an interactive terminal (interactiveMode: Always), which "
                         "an operator never has"));
  }
  // Environment: ours, then the plugin's own entries, then the exec info.
  std::vector<std::string> env_strings;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string kv(*e);
    const std::string key = kv.substr(0, kv.find('='));
    bool overridden = key == "KUBERNETES_EXEC_INFO";
    for (const auto& [k, v] : exec.env)
      overridden = overridden || k == key;
    if (!overridden) env_strings.push_back(kv);
  }
  for (const auto& [k, v] : exec.env)
    env_strings.push_back(k + "=" + v);
  std::string info = R"({"kind":"ExecCredential","apiVersion":")" + exec.api_version +
                     R"(","spec":{"interactive":false)";
  if (exec.provide_cluster_info && !cluster_info_json.empty())
    info += ",\"cluster\":" + cluster_info_json;
  info += "}}";
  env_strings.push_back("KUBERNETES_EXEC_INFO=" + info);
  std::vector<char*> envp;
  for (auto& s : env_strings)
    envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_strings{exec.command};
  argv_strings.insert(argv_strings.end(), exec.args.begin(), exec.args.end());
  std::vector<char*> argv;
  for (auto& s : argv_strings)
    argv.push_back(s.data());
  argv.push_back(nullptr);

  int out_pipe[2];
  int err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return fail(exec_err(exec, "cannot create a pipe"));
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(out_pipe[0]);
    close(out_pipe[1]);
    return fail(exec_err(exec, "cannot create a pipe"));
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, exec.command.c_str(), &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (rc != 0) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    return fail(exec_err(exec, std::string("cannot run: ") + std::strerror(rc)));
  }

  std::string out;
  std::string errout;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  bool open[2] = {true, true};
  long long left_ms = timeout.count();
  bool timed_out = false;
  while ((open[0] || open[1]) && !timed_out) {
    fds[0].fd = open[0] ? out_pipe[0] : -1;
    fds[1].fd = open[1] ? err_pipe[0] : -1;
    const int step = 100;
    const int n = poll(fds, 2, step);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (n == 0) {
      left_ms -= step;
      timed_out = left_ms <= 0;
      continue;
    }
    for (int i = 0; i < 2; ++i) {
      if (!open[i] || fds[i].revents == 0) continue;
      char buf[4096];
      const ssize_t r = read(fds[i].fd, buf, sizeof buf);
      if (r <= 0) {
        open[i] = false;
      } else {
        (i == 0 ? out : errout).append(buf, static_cast<size_t>(r));
      }
    }
  }
  close(out_pipe[0]);
  close(err_pipe[0]);
  if (timed_out) kill(pid, SIGKILL);
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) return fail(exec_err(exec, "timed out"));
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
    if (errout.size() > 300) errout = errout.substr(errout.size() - 300);
    while (!errout.empty() && (errout.back() == '\n' || errout.back() == '\r'))
      errout.pop_back();
    std::string how = WIFEXITED(wstatus)
                          ? "exited with status " + std::to_string(WEXITSTATUS(wstatus))
                          : "was killed by a signal";
    if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 127)
      how = "could not be executed (status 127)";
    return fail(exec_err(exec, how + (errout.empty() ? "" : ": " + errout)));
  }
  auto parsed = parse_exec_credential(out, exec.api_version);
  if (!parsed) return fail(exec_err(exec, parsed.error().message));
  return parsed;
}

}  // namespace gpupool::kube
