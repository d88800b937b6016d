#include "providers/container/container_start_script.h"

#include <charconv>

namespace gpupool::container {
namespace {

bool safe_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("_@%+=:,./-").find(c) != std::string_view::npos;
}

bool env_name_ok(std::string_view n) {
  if (n.empty() || (n[0] >= '0' && n[0] <= '9')) return false;
  for (char c : n) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
      return false;
  }
  return true;
}

bool has_nul(std::string_view s) {
  return s.find('\0') != std::string_view::npos;
}

ProviderError invalid(std::string_view who, const std::string& what) {
  return provider_error(ProviderErrorKind::InvalidRequest, std::string(who) + ": " + what);
}

ProviderStatus check_image(std::string_view who, std::string_view image) {
  for (char c : image) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || c == ' ') {
      return fail(invalid(who, "container image holds a control character or whitespace"));
    }
  }
  if (image.front() == '-')
    return fail(invalid(who, "container image must not start with '-' (docker reads an option)"));
  return ProviderStatus::success();
}

// The part of the script that makes `docker run --gpus all` work on a fresh
// VM image: Docker from get.docker.com, the NVIDIA container toolkit from
// NVIDIA's apt or dnf/yum repository, docker's nvidia runtime configured.
constexpr std::string_view kRuntimeSetup = R"(log() { echo "gpupool-start: $*" >&2; }
if ! command -v docker >/dev/null 2>&1; then
  log "installing Docker"
  curl -fsSL https://get.docker.com | sh
fi
if ! docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q nvidia; then
  log "installing the NVIDIA container toolkit"
  if command -v apt-get >/dev/null 2>&1; then
    curl -fsSL https://nvidia.github.io/libnvidia-container/gpgkey |
      gpg --dearmor --yes -o /usr/share/keyrings/nvidia-container-toolkit-keyring.gpg
    curl -fsSL https://nvidia.github.io/libnvidia-container/stable/deb/nvidia-container-toolkit.list |
      sed 's#deb https://#deb [signed-by=/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg] https://#g' \
        >/etc/apt/sources.list.d/nvidia-container-toolkit.list
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y nvidia-container-toolkit
  else
    curl -fsSL https://nvidia.github.io/libnvidia-container/stable/rpm/nvidia-container-toolkit.repo \
      >/etc/yum.repos.d/nvidia-container-toolkit.repo
    if command -v dnf >/dev/null 2>&1; then dnf install -y nvidia-container-toolkit
    else yum install -y nvidia-container-toolkit; fi
  fi
  nvidia-ctk runtime configure --runtime=docker
  systemctl restart docker
fi
)";

}  // namespace

std::string shell_quote(std::string_view s) {
  bool plain = !s.empty();
  for (char c : s)
    plain = plain && safe_char(c);
  if (plain) return std::string(s);
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out.push_back(c);
    }
  }
  out.push_back('\'');
  return out;
}

std::string shell_words(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) {
    if (!out.empty()) out.push_back(' ');
    out += shell_quote(w);
  }
  return out;
}

ProviderStatus check_container(const InstanceIntent& intent, std::string_view who) {
  const ContainerSpec& c = intent.container;
  if (c.image.empty()) return ProviderStatus::success();
  if (!intent.user_data.empty()) {
    return fail(invalid(who,
                        "the intent carries both a bootstrap (user_data, Node mode) and a "
                        "container (Endpoint mode); a pool is one mode"));
  }
  if (auto s = check_image(who, c.image); !s.ok()) return s;
  if (c.port < 1 || c.port > 65535) {
    return fail(invalid(who, "container port " + std::to_string(c.port) + " is not in 1..65535"));
  }
  for (const auto& [name, value] : c.env) {
    if (!env_name_ok(name)) {
      std::string shown = has_nul(name) ? std::string("(holds NUL)") : "'" + name + "'";
      return fail(invalid(
          who, "container env name " + shown + " is not a variable name ([A-Za-z_][A-Za-z0-9_]*)"));
    }
    if (has_nul(value)) {
      return fail(invalid(who, "container env " + name +
                                   " holds a NUL character, which no process environment carries"));
    }
  }
  for (size_t i = 0; i < c.args.size(); ++i) {
    if (has_nul(c.args[i])) {
      return fail(invalid(who, "container arg " + std::to_string(i) +
                                   " holds a NUL character, which no command line carries"));
    }
  }
  return ProviderStatus::success();
}

std::string render_container_start_script(const ContainerSpec& c) {
  std::string s =
      "#!/bin/sh\n"
      "# gpupool-operator Endpoint mode: runs the pool's container on this machine.\n"
      "set -eu\n";
  s += kRuntimeSetup;
  for (const auto& [name, value] : c.env)
    s += "export " + name + "=" + shell_quote(value) + "\n";
  const std::string port = std::to_string(c.port);
  s += "docker rm -f gpupool-endpoint >/dev/null 2>&1 || true\n";
  s += "log \"starting the container\"\n";
  s += "exec docker run -d --name gpupool-endpoint --restart unless-stopped --gpus all";
  s += " -p " + port + ":" + port;
  for (const auto& [name, value] : c.env)
    s += " -e " + name;
  s += " " + shell_quote(c.image);
  if (!c.args.empty()) s += " " + shell_words(c.args);
  s += "\n";
  return s;
}

ProviderResult<std::string> vm_user_data(const InstanceIntent& intent, std::string_view who) {
  if (intent.container.image.empty()) return intent.user_data;
  if (auto s = check_container(intent, who); !s.ok()) return fail(s.error());
  return render_container_start_script(intent.container);
}

ProviderStatus refuse_container(const InstanceIntent& intent, std::string_view provider_type) {
  if (intent.container.image.empty()) return ProviderStatus::success();
  return fail(provider_error(
      ProviderErrorKind::InvalidRequest,
      std::string(provider_type) +
          ": cannot run an Endpoint container: the provider takes no user data (startup "
          "script), which is how a container is started on a VM"));
}

int vm_public_port(const Machine& m, int container_port) {
  return m.public_address.empty() ? 0 : container_port;
}

int parse_port(std::string_view s) {
  int port = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), port);
  if (ec != std::errc() || p != s.data() + s.size() || port < 1 || port > 65535) return 0;
  return port;
}

int vm_public_port_from_tags(const Machine& m) {
  auto it = m.tags.find(std::string(kTagContainerPort));
  if (it == m.tags.end() || m.public_address.empty()) return 0;
  return parse_port(it->second);
}

namespace {
constexpr std::string_view kVmTagNamePrefix = "gpupool-instance=";
constexpr std::string_view kVmTagPortPrefix = "gpupool-port=";
}  // namespace

std::vector<std::string> vm_string_tags(const InstanceIntent& intent) {
  std::vector<std::string> tags = {std::string(kVmTagManaged),
                                   std::string(kVmTagPoolPrefix) + intent.pool_uid,
                                   std::string(kVmTagNamePrefix) + intent.name};
  if (!intent.container.image.empty())
    tags.push_back(std::string(kVmTagPortPrefix) + std::to_string(intent.container.port));
  return tags;
}

void read_vm_string_tags(const std::vector<std::string>& tags, Machine& m) {
  bool managed = false;
  for (const std::string& tag : tags) {
    if (tag == kVmTagManaged) managed = true;
    if (tag.starts_with(kVmTagPoolPrefix))
      m.tags[std::string(kTagPoolUid)] = tag.substr(kVmTagPoolPrefix.size());
    if (tag.starts_with(kVmTagNamePrefix)) {
      m.tags[std::string(kTagInstance)] = tag.substr(kVmTagNamePrefix.size());
      m.name = tag.substr(kVmTagNamePrefix.size());
    }
    if (tag.starts_with(kVmTagPortPrefix))
      m.tags[std::string(kTagContainerPort)] = tag.substr(kVmTagPortPrefix.size());
  }
  if (managed) m.tags[std::string(kTagManagedBy)] = std::string(kTagManagedByValue);
  m.public_port = vm_public_port_from_tags(m);
}

}  // namespace gpupool::container
