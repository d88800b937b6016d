#include "operator/core/api_validation.h"

#include "operator/core/bootstrap_template.h"
#include "operator/core/schedule.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <optional>
#include <set>
#include <string>
#include <utility>

namespace gpupool::api {

namespace {

constexpr int kMaxGpusPerMachine = 16;
constexpr int kMaxReplicas = 1000;
// List and string bounds shared with the CRD (they keep CEL rule costs bounded).
constexpr size_t kMaxModels = 8;
constexpr size_t kMaxProviders = 32;
constexpr size_t kMaxMetrics = 8;
constexpr size_t kMaxModelName = 64;
constexpr size_t kMaxImage = 1024;
constexpr size_t kMaxQuery = 4096;
constexpr size_t kMaxUrl = 2048;
constexpr size_t kMaxSchedules = 16;
constexpr size_t kMaxCron = 128;

// A cron expression's problem, or nullopt.
std::optional<std::string> schedule_cron_problem(const std::string& cron) {
  auto parsed = schedule::Cron::parse(cron);
  if (!parsed.ok()) return parsed.error();
  return std::nullopt;
}

// An IANA zone name as found under /usr/share/zoneinfo: "UTC",
// "Europe/Berlin", "America/Argentina/Buenos_Aires", "Etc/GMT+5".
bool valid_time_zone_name(const std::string& tz) {
  if (tz.empty() || tz.size() > 64 || tz.front() == '/' || tz.back() == '/') return false;
  if (tz.find("..") != std::string::npos || tz.find("//") != std::string::npos) return false;
  return std::all_of(tz.begin(), tz.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '+' || c == '-' ||
           c == '/';
  });
}

std::string at_most(size_t n, const char* what) {
  return "must have at most " + std::to_string(n) + " " + what;
}
std::string too_long(size_t n) {
  return "must be at most " + std::to_string(n) + " characters";
}
constexpr int64_t kMinPricingRefreshSeconds = 60;

std::string in_quotes(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

class Errors {
 public:
  void add(std::string path, std::string message) {
    out_.push_back(FieldError{std::move(path), std::move(message), -1});
  }
  std::vector<FieldError> take() { return std::move(out_); }

 private:
  std::vector<FieldError> out_;
};

std::string idx(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

bool is_alnum_lower(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

void check_name(Errors& e, const std::string& path, const std::string& name) {
  if (name.empty()) {
    e.add(path, "must not be empty");
  } else if (!is_dns1123_subdomain(name)) {
    e.add(path, "invalid name " + in_quotes(name) +
                    ": must be lower-case alphanumerics, '-' or '.', start and end with an "
                    "alphanumeric, at most 253 characters");
  }
}

void check_meta(Errors& e, const ObjectMeta& m, bool namespaced) {
  check_name(e, "metadata.name", m.name);
  if (!namespaced && !m.namespace_.empty()) {
    e.add("metadata.namespace", "must be empty: the resource is cluster-scoped");
  } else if (!m.namespace_.empty() && !is_dns1123_label(m.namespace_)) {
    e.add("metadata.namespace", "invalid namespace " + in_quotes(m.namespace_));
  }
}

// 0 <= m <= max.
void check_money_range(Errors& e, const std::string& path, const std::optional<Money>& m,
                       Money max) {
  if (!m) return;
  if (*m < Money()) {
    e.add(path, "must not be negative, got " + m->to_string());
  } else if (*m > max) {
    e.add(path, "must be at most " + max.to_string() + ", got " + m->to_string());
  }
}

void check_strings_unique_nonempty(Errors& e, const std::string& path,
                                   const std::vector<std::string>& v) {
  std::set<std::string> seen;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i].empty()) {
      e.add(idx(path, i), "must not be empty");
    } else if (!seen.insert(v[i]).second) {
      e.add(idx(path, i), "duplicate value " + in_quotes(v[i]));
    }
  }
}

void check_billing(Errors& e, const std::string& path, const BillingRule& r) {
  if (r.minimum.count() < 0) e.add(path + ".minimumSeconds", "must be >= 0");
  if (r.increment.count() <= 0) e.add(path + ".incrementSeconds", "must be > 0");
  check_money_range(e, path + ".egressPerGb", r.egress_per_gb, limits::kMaxEgressPerGb);
}

// Settings bounds shared with the CRD.
constexpr size_t kMaxSshKey = 8192;
constexpr size_t kMaxSettingName = 255;
constexpr size_t kMaxSecurityGroups = 16;
constexpr size_t kMaxFakeCapacity = 64;
constexpr int64_t kMaxFakeBootSeconds = 86400;
constexpr int kMinDiskGb = 10;
constexpr int kMaxDiskGb = 2048;

// "<prefix>" followed by 8 to 17 lower-case hex digits (EC2 resource ids).
bool is_ec2_id(std::string_view s, std::string_view prefix) {
  if (s.rfind(prefix, 0) != 0) return false;
  const std::string_view hex = s.substr(prefix.size());
  return hex.size() >= 8 && hex.size() <= 17 && std::all_of(hex.begin(), hex.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// 8-4-4-4-12 lower-case hex.
bool is_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash != (s[i] == '-')) return false;
    if (!dash && !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
  }
  return true;
}

constexpr size_t kMaxDataCenters = 32;
constexpr size_t kMaxSshKeyIds = 16;
constexpr const char* kRunpodCloudTypes[] = {"SECURE", "COMMUNITY", "ALL"};

bool is_upper(char c) {
  return c >= 'A' && c <= 'Z';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// `min`..`max` characters, each accepted by `ok`.
template <typename Pred>
bool run_of(std::string_view s, size_t min, size_t max, Pred ok) {
  return s.size() >= min && s.size() <= max && std::all_of(s.begin(), s.end(), ok);
}

// A Runpod data center id: "US-TX-3", "EUR-IS-1" (CRD pattern
// ^[A-Z]{2,3}-[A-Z]{2,3}-[0-9]{1,2}$).
bool is_runpod_data_center(std::string_view s) {
  const size_t a = s.find('-');
  if (a == std::string_view::npos) return false;
  const size_t b = s.find('-', a + 1);
  if (b == std::string_view::npos) return false;
  return run_of(s.substr(0, a), 2, 3, is_upper) &&
         run_of(s.substr(a + 1, b - a - 1), 2, 3, is_upper) &&
         run_of(s.substr(b + 1), 1, 2, is_digit);
}

// "major.minor", 1 or 2 digits each ("12.4").
bool is_cuda_version(std::string_view s) {
  const size_t dot = s.find('.');
  return dot != std::string_view::npos && run_of(s.substr(0, dot), 1, 2, is_digit) &&
         run_of(s.substr(dot + 1), 1, 2, is_digit);
}

// An image name or id: an alphanumeric, then alphanumerics, '.', '_', '-'
// (CRD pattern ^[A-Za-z0-9][-._A-Za-z0-9]*$); `lower` refuses upper case.
bool is_image_token(std::string_view s, bool lower) {
  auto ok = [lower](char c) {
    return is_digit(c) || (c >= 'a' && c <= 'z') || (!lower && is_upper(c));
  };
  return !s.empty() && ok(s.front()) && std::all_of(s.begin(), s.end(), [&](char c) {
    return ok(c) || c == '.' || c == '_' || c == '-';
  });
}

// A DigitalOcean account key: a numeric id or an MD5 fingerprint
// "3b:16:bf:...:9f" (16 lower-case hex pairs).
bool is_do_ssh_key(std::string_view s) {
  if (run_of(s, 1, 19, is_digit)) return true;
  if (s.size() != 47) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool colon = i % 3 == 2;
    if (colon != (s[i] == ':')) return false;
    if (!colon && !(is_digit(s[i]) || (s[i] >= 'a' && s[i] <= 'f'))) return false;
  }
  return true;
}

// An OpenSSH public key line: "<type> <base64>[ <comment>]", one line.
// Same language as the CRD's pattern for sshPublicKey.value.
bool is_ssh_public_key(std::string_view s) {
  static constexpr std::string_view kTypes[] = {"ssh-ed25519",
                                                "ssh-rsa",
                                                "ecdsa-sha2-nistp256",
                                                "ecdsa-sha2-nistp384",
                                                "ecdsa-sha2-nistp521",
                                                "sk-ssh-ed25519@openssh.com",
                                                "sk-ecdsa-sha2-nistp256@openssh.com"};
  const size_t sp = s.find(' ');
  if (sp == std::string_view::npos) return false;
  if (std::find(std::begin(kTypes), std::end(kTypes), s.substr(0, sp)) == std::end(kTypes)) {
    return false;
  }
  std::string_view rest = s.substr(sp + 1);
  size_t n = 0;
  while (n < rest.size() &&
         (std::isalnum(static_cast<unsigned char>(rest[n])) || rest[n] == '+' || rest[n] == '/')) {
    ++n;
  }
  if (n == 0) return false;
  size_t pad = 0;
  while (n + pad < rest.size() && rest[n + pad] == '=' && pad < 3)
    ++pad;
  rest = rest.substr(n + pad);
  if (rest.empty()) return true;
  return rest.front() == ' ' && rest.find('\n') == std::string_view::npos;
}

// A Secret data key: [-._a-zA-Z0-9]+, at most 253 characters.
bool is_secret_key(std::string_view s) {
  return !s.empty() && s.size() <= 253 && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
  });
}

void check_setting_name(Errors& e, const std::string& path, const std::string& v) {
  if (v.size() > kMaxSettingName) e.add(path, too_long(kMaxSettingName));
}

void check_disk_gb(Errors& e, const std::string& path, const std::optional<int>& gb) {
  if (gb && (*gb < kMinDiskGb || *gb > kMaxDiskGb)) {
    e.add(path, "must be within [" + std::to_string(kMinDiskGb) + ", " +
                    std::to_string(kMaxDiskGb) + "]");
  }
}

// A list of at most `max` unique, non-empty ids, each accepted by `ok`.
template <typename Pred>
void check_id_list(Errors& e, const std::string& path, const std::vector<std::string>& ids,
                   size_t max, const char* what, Pred ok, const char* format) {
  if (ids.size() > max) e.add(path, at_most(max, what));
  check_strings_unique_nonempty(e, path, ids);
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!ids[i].empty() && !ok(ids[i])) e.add(idx(path, i), std::string("must be ") + format);
  }
}

void check_runpod_settings(Errors& e, const RunpodSettings& r) {
  check_setting_name(e, "spec.runpod.image", r.image);
  check_disk_gb(e, "spec.runpod.diskGb", r.disk_gb);
  if (!r.cloud_type.empty() &&
      std::none_of(std::begin(kRunpodCloudTypes), std::end(kRunpodCloudTypes),
                   [&](const char* t) { return r.cloud_type == t; })) {
    e.add("spec.runpod.cloudType", "must be one of \"SECURE\", \"COMMUNITY\", \"ALL\"");
  }
  check_id_list(e, "spec.runpod.dataCenterIds", r.data_center_ids, kMaxDataCenters, "data centers",
                is_runpod_data_center, "a Runpod data center id (\"US-TX-3\")");
  if (!r.min_cuda_version.empty() && !is_cuda_version(r.min_cuda_version)) {
    e.add("spec.runpod.minCudaVersion", "must be a CUDA version \"major.minor\" (\"12.4\")");
  }
}

void check_verda_settings(Errors& e, const VerdaSettings& v) {
  check_setting_name(e, "spec.verda.image", v.image);
  if (!v.image.empty() && v.image.size() <= kMaxSettingName && !is_image_token(v.image, false)) {
    e.add("spec.verda.image",
          "must be an image type or volume id: letters, digits, '.', '_', '-', starting with a "
          "letter or digit");
  }
  check_id_list(e, "spec.verda.sshKeyIds", v.ssh_key_ids, kMaxSshKeyIds, "keys", is_uuid,
                "an SSH key id (lower-case UUID)");
}

void check_digitalocean_settings(Errors& e, const DigitaloceanSettings& d) {
  check_setting_name(e, "spec.digitalocean.image", d.image);
  if (!d.image.empty() && d.image.size() <= kMaxSettingName && !is_image_token(d.image, true)) {
    e.add("spec.digitalocean.image",
          "must be an image slug or numeric id: lower-case letters, digits, '.', '_', '-'");
  }
  check_id_list(e, "spec.digitalocean.sshKeys", d.ssh_keys, kMaxSshKeyIds, "keys", is_do_ssh_key,
                "an SSH key id (digits) or MD5 fingerprint (\"3b:16:...:9f\")");
}

void check_vultr_settings(Errors& e, const VultrSettings& v) {
  if (v.os_id && *v.os_id < 1) e.add("spec.vultr.osId", "must be >= 1");
  if (!v.snapshot_id.empty() && !is_uuid(v.snapshot_id)) {
    e.add("spec.vultr.snapshotId", "must be a snapshot id (lower-case UUID)");
  }
  if (v.os_id && !v.snapshot_id.empty()) e.add("spec.vultr", "at most one of osId and snapshotId");
  check_id_list(e, "spec.vultr.sshKeyIds", v.ssh_key_ids, kMaxSshKeyIds, "keys", is_uuid,
                "an SSH key id (lower-case UUID)");
}

void check_provider_settings(Errors& e, const GpuProviderSpec& s) {
  if (const auto& ssh = s.ssh_public_key) {
    const std::string path = "spec.sshPublicKey";
    if (ssh->value.empty() == !ssh->secret_key_ref) {
      e.add(path, "exactly one of value and secretKeyRef must be set");
    }
    if (ssh->value.size() > kMaxSshKey) {
      e.add(path + ".value", too_long(kMaxSshKey));
    } else if (!ssh->value.empty() && !is_ssh_public_key(ssh->value)) {
      e.add(path + ".value",
            "must be one OpenSSH public key line (\"ssh-ed25519 AAAA... comment\")");
    }
    if (const auto& ref = ssh->secret_key_ref) {
      check_name(e, path + ".secretKeyRef.name", ref->name);
      if (!ref->namespace_.empty() && !is_dns1123_label(ref->namespace_)) {
        e.add(path + ".secretKeyRef.namespace", "invalid namespace " + in_quotes(ref->namespace_));
      }
      if (!is_secret_key(ref->key)) {
        e.add(path + ".secretKeyRef.key",
              "must be a Secret data key: letters, digits, '-', '.', '_'");
      }
    }
  }
  // A block set on a provider of another type would be silently ignored.
  auto only_for = [&](bool set, const char* block) {
    if (set && s.type != block) {
      e.add(std::string("spec.") + block, std::string("is only for type ") + in_quotes(block));
    }
  };
  only_for(s.aws.has_value(), "aws");
  only_for(s.fluence.has_value(), "fluence");
  only_for(s.lambda.has_value(), "lambda");
  only_for(s.scaleway.has_value(), "scaleway");
  only_for(s.vastai.has_value(), "vastai");
  only_for(s.runpod.has_value(), "runpod");
  only_for(s.verda.has_value(), "verda");
  only_for(s.digitalocean.has_value(), "digitalocean");
  only_for(s.vultr.has_value(), "vultr");
  only_for(s.fake.has_value(), "fake");
  if (const auto& aws = s.aws) {
    if (!aws->image_id.empty() && !is_ec2_id(aws->image_id, "ami-")) {
      e.add("spec.aws.imageId", "must be an AMI id (ami- and 8 to 17 hex digits)");
    }
    if (!aws->subnet_id.empty() && !is_ec2_id(aws->subnet_id, "subnet-")) {
      e.add("spec.aws.subnetId", "must be a subnet id (subnet- and 8 to 17 hex digits)");
    }
    if (aws->security_group_ids.size() > kMaxSecurityGroups) {
      e.add("spec.aws.securityGroupIds", at_most(kMaxSecurityGroups, "security groups"));
    }
    check_strings_unique_nonempty(e, "spec.aws.securityGroupIds", aws->security_group_ids);
    for (size_t i = 0; i < aws->security_group_ids.size(); ++i) {
      const auto& sg = aws->security_group_ids[i];
      if (!sg.empty() && !is_ec2_id(sg, "sg-")) {
        e.add(idx("spec.aws.securityGroupIds", i),
              "must be a security group id (sg- and 8 to 17 hex digits)");
      }
    }
    check_setting_name(e, "spec.aws.keyName", aws->key_name);
  }
  if (s.fluence) check_setting_name(e, "spec.fluence.osImage", s.fluence->os_image);
  if (s.lambda) check_setting_name(e, "spec.lambda.sshKeyName", s.lambda->ssh_key_name);
  if (s.scaleway && !s.scaleway->project_id.empty() && !is_uuid(s.scaleway->project_id)) {
    e.add("spec.scaleway.projectId", "must be a project UUID (lower-case 8-4-4-4-12 hex)");
  }
  if (const auto& vast = s.vastai) {
    check_setting_name(e, "spec.vastai.image", vast->image);
    check_disk_gb(e, "spec.vastai.diskGb", vast->disk_gb);
  }
  if (s.runpod) check_runpod_settings(e, *s.runpod);
  if (s.verda) check_verda_settings(e, *s.verda);
  if (s.digitalocean) check_digitalocean_settings(e, *s.digitalocean);
  if (s.vultr) check_vultr_settings(e, *s.vultr);
  if (const auto& fake = s.fake) {
    if (fake->boot_seconds &&
        (*fake->boot_seconds < 0 || *fake->boot_seconds > kMaxFakeBootSeconds)) {
      e.add("spec.fake.bootSeconds",
            "must be within [0, " + std::to_string(kMaxFakeBootSeconds) + "]");
    }
    if (fake->capacity.size() > kMaxFakeCapacity) {
      e.add("spec.fake.capacity", at_most(kMaxFakeCapacity, "entries"));
    }
    std::set<std::pair<std::string, std::string>> seen;
    for (size_t i = 0; i < fake->capacity.size(); ++i) {
      const auto& c = fake->capacity[i];
      const std::string path = idx("spec.fake.capacity", i);
      if (c.offer_id.empty()) e.add(path + ".offerId", "must not be empty");
      if (c.region.empty()) e.add(path + ".region", "must not be empty");
      if (c.count < 0) e.add(path + ".count", "must be >= 0");
      if (!seen.insert({c.offer_id, c.region}).second) {
        e.add(path, "duplicate entry for " + in_quotes(c.offer_id + "/" + c.region));
      }
    }
  }
}

bool known_provider_type(std::string_view t) {
  return std::any_of(std::begin(kProviderTypes), std::end(kProviderTypes),
                     [&](const char* k) { return t == k; });
}

std::string provider_types_list() {
  std::string out;
  for (const char* t : kProviderTypes) {
    if (!out.empty()) out += ", ";
    out += in_quotes(t);
  }
  return out;
}

// "key[=value]:Effect"
bool valid_taint(std::string_view t) {
  auto colon = t.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  std::string_view effect = t.substr(colon + 1);
  if (effect != "NoSchedule" && effect != "PreferNoSchedule" && effect != "NoExecute") {
    return false;
  }
  std::string_view kv = t.substr(0, colon);
  auto eq = kv.find('=');
  std::string_view key = kv.substr(0, eq);
  return !key.empty() && key.find_first_of(" \t") == std::string_view::npos;
}

// Exactly one of value / valueFrom; a valueFrom names a Secret key.
void check_env_source(Errors& e, const std::string& at, const EnvVar& var) {
  if (var.value && var.value_from) {
    e.add(at, "set exactly one of value and valueFrom, not both");
  } else if (!var.value && !var.value_from) {
    e.add(at, "set exactly one of value and valueFrom");
  }
  if (!var.value_from) return;
  const SecretKeyRef& ref = var.value_from->secret_key_ref;
  check_name(e, at + ".valueFrom.secretKeyRef.name", ref.name);
  if (!is_secret_key(ref.key)) {
    e.add(at + ".valueFrom.secretKeyRef.key",
          "must be a Secret data key: letters, digits, '-', '.', '_'");
  }
}

void check_health_check(Errors& e, const std::string& hc, const HealthCheckSpec& h) {
  auto range = [&](const char* field, int64_t v, int64_t lo, int64_t hi) {
    if (v < lo || v > hi) {
      e.add(hc + "." + field, "must be between " + std::to_string(lo) + " and " +
                                  std::to_string(hi) + ", got " + std::to_string(v));
    }
  };
  range("periodSeconds", h.period_seconds, 1, 3600);
  range("timeoutSeconds", h.timeout_seconds, 1, 60);
  range("failureThreshold", h.failure_threshold, 1, 100);
  range("successThreshold", h.success_threshold, 1, 100);
  range("startupTimeoutSeconds", h.startup_timeout_seconds, 60, 86400);
  if (h.unhealthy_timeout_seconds != 0) {
    range("unhealthyTimeoutSeconds", h.unhealthy_timeout_seconds, 60, 86400);
  }
  if (h.timeout_seconds > h.period_seconds && h.period_seconds >= 1) {
    e.add(hc + ".timeoutSeconds",
          "must not exceed periodSeconds (" + std::to_string(h.period_seconds) + ")");
  }
}

void check_usage(Errors& e, const std::string& path, const UsageSpec& u) {
  const std::string node = path + ".node";
  if (u.node.registration_timeout_seconds < 60 || u.node.registration_timeout_seconds > 86400) {
    e.add(node + ".registrationTimeoutSeconds", "must be between 60 and 86400");
  }
  if (u.node.drain_timeout_seconds < 0 || u.node.drain_timeout_seconds > 3600) {
    e.add(node + ".drainTimeoutSeconds", "must be between 0 and 3600");
  }
  for (const auto& [k, v] : u.node.labels) {
    if (k.empty()) e.add(node + ".labels", "label keys must not be empty");
  }
  const SecretKeyRef& ref = u.node.bootstrap_secret_ref;
  const bool ref_set = !ref.name.empty() || !ref.key.empty();
  if (ref_set && !u.node.bootstrap_script.empty()) {
    e.add(node + ".bootstrapSecretRef", "must not be set together with bootstrapScript");
  }
  if (ref_set) {
    check_name(e, node + ".bootstrapSecretRef.name", ref.name);
    if (!is_secret_key(ref.key)) {
      e.add(node + ".bootstrapSecretRef.key",
            "must be a Secret data key: letters, digits, '-', '.', '_'");
    }
  }
  if (!u.node.bootstrap_script.empty()) {
    auto t = bootstrap::check(u.node.bootstrap_script, u.node.labels, u.node.taints);
    if (!t.ok()) e.add(node + ".bootstrapScript", t.error().describe());
  }
  for (size_t i = 0; i < u.node.taints.size(); ++i) {
    if (!valid_taint(u.node.taints[i])) {
      e.add(idx(node + ".taints", i),
            "invalid taint " + in_quotes(u.node.taints[i]) +
                ": must be key[=value]:Effect with Effect NoSchedule, PreferNoSchedule or "
                "NoExecute");
    }
  }
  const std::string ep = path + ".endpoint";
  if (u.mode == UsageMode::Endpoint && u.endpoint.image.empty()) {
    e.add(ep + ".image", "must not be empty when mode is Endpoint");
  }
  if (u.endpoint.image.size() > kMaxImage) e.add(ep + ".image", too_long(kMaxImage));
  if (u.endpoint.port < 1 || u.endpoint.port > 65535) {
    e.add(ep + ".port", "must be between 1 and 65535, got " + std::to_string(u.endpoint.port));
  }
  if (u.endpoint.disk_gb &&
      (*u.endpoint.disk_gb < kMinDiskGb || *u.endpoint.disk_gb > kMaxDiskGb)) {
    e.add(ep + ".diskGb", "must be within [" + std::to_string(kMinDiskGb) + ", " +
                              std::to_string(kMaxDiskGb) + "], got " +
                              std::to_string(*u.endpoint.disk_gb));
  }
  if (!u.endpoint.health_path.empty() && u.endpoint.health_path.front() != '/') {
    e.add(ep + ".healthPath", "must start with '/'");
  }
  if (!u.endpoint.service_name.empty() &&
      (!is_dns1123_label(u.endpoint.service_name) ||
       !std::islower(static_cast<unsigned char>(u.endpoint.service_name.front())))) {
    e.add(ep + ".serviceName",
          "invalid Service name " + in_quotes(u.endpoint.service_name) +
              ": must be lower case letters, digits and '-', start with a letter and end with a "
              "letter or digit, at most 63 characters");
  }
  std::set<std::string> env_names;
  for (size_t i = 0; i < u.endpoint.env.size(); ++i) {
    const auto& var = u.endpoint.env[i];
    const std::string at = idx(ep + ".env", i);
    if (var.name.empty()) {
      e.add(at + ".name", "must not be empty");
    } else if (!env_names.insert(var.name).second) {
      e.add(at + ".name", "duplicate value " + in_quotes(var.name));
    }
    check_env_source(e, at, var);
  }
  check_health_check(e, ep + ".healthCheck", u.endpoint.health_check);
}

}  // namespace

bool is_dns1123_label(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  if (!is_alnum_lower(name.front()) || !is_alnum_lower(name.back())) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return is_alnum_lower(c) || c == '-'; });
}

bool is_dns1123_subdomain(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  if (!is_alnum_lower(name.front()) || !is_alnum_lower(name.back())) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return is_alnum_lower(c) || c == '-' || c == '.'; });
}

int fixed_replicas(const GpuPoolSpec& spec) {
  return spec.replicas.count.value_or(spec.replicas.min);
}

int max_replicas(const GpuPoolSpec& spec) {
  if (spec.replicas.max) return *spec.replicas.max;
  return std::max(spec.replicas.min, fixed_replicas(spec));
}

void apply_defaults(GpuPool& pool) {
  auto& r = pool.spec.replicas;
  if (!r.count) r.count = r.min;
  if (!r.max) r.max = std::max(r.min, *r.count);
}

void apply_defaults(GpuInstance& instance) {
  (void)instance;
}
void apply_defaults(GpuProvider& provider) {
  (void)provider;
}

std::vector<FieldError> validate(const GpuPool& pool) {
  Errors e;
  check_meta(e, pool.metadata, true);
  const GpuPoolSpec& s = pool.spec;

  // gpu
  if (s.gpu.models.empty()) e.add("spec.gpu.models", "must list at least one GPU model");
  if (s.gpu.models.size() > kMaxModels) e.add("spec.gpu.models", at_most(kMaxModels, "models"));
  std::set<std::string> models;
  for (size_t i = 0; i < s.gpu.models.size(); ++i) {
    const auto& m = s.gpu.models[i];
    const std::string p = idx("spec.gpu.models", i);
    if (m.name.empty()) {
      e.add(p + ".name", "must not be empty");
    } else if (m.name.size() > kMaxModelName) {
      e.add(p + ".name", too_long(kMaxModelName));
    } else if (!models.insert(m.name).second) {
      e.add(p + ".name", "duplicate value " + in_quotes(m.name));
    }
    if (!(m.throughput_weight > 0) || !std::isfinite(m.throughput_weight)) {
      e.add(p + ".throughputWeight", "must be > 0");
    }
  }
  if (s.gpu.count < 1 || s.gpu.count > kMaxGpusPerMachine) {
    e.add("spec.gpu.count", "must be between 1 and " + std::to_string(kMaxGpusPerMachine) +
                                ", got " + std::to_string(s.gpu.count));
  }

  // replicas
  const auto& r = s.replicas;
  if (r.min < 0) e.add("spec.replicas.min", "must be >= 0");
  if (r.min > kMaxReplicas)
    e.add("spec.replicas.min", "must be <= " + std::to_string(kMaxReplicas));
  if (r.count && *r.count < 0) e.add("spec.replicas.count", "must be >= 0");
  if (r.count && *r.count > kMaxReplicas) {
    e.add("spec.replicas.count", "must be <= " + std::to_string(kMaxReplicas));
  }
  if (r.max && *r.max < 0) e.add("spec.replicas.max", "must be >= 0");
  if (r.max && *r.max > kMaxReplicas) {
    e.add("spec.replicas.max", "must be <= " + std::to_string(kMaxReplicas));
  }
  if (r.max && *r.max < r.min) {
    e.add("spec.replicas.max", "must be >= spec.replicas.min (" + std::to_string(r.min) + ")");
  }
  if (!s.autoscaling.enabled && r.count) {
    if (*r.count < r.min || (r.max && *r.count > *r.max)) {
      e.add("spec.replicas.count",
            "must be within [spec.replicas.min, spec.replicas.max] when autoscaling is off");
    }
  }

  // providers
  if (s.providers.empty()) e.add("spec.providers", "must list at least one provider");
  if (s.providers.size() > kMaxProviders) {
    e.add("spec.providers", at_most(kMaxProviders, "providers"));
  }
  std::set<std::string> names;
  for (size_t i = 0; i < s.providers.size(); ++i) {
    const auto& p = s.providers[i];
    const std::string path = idx("spec.providers", i);
    if (p.name.empty()) {
      e.add(path + ".name", "must not be empty");
    } else if (!is_dns1123_subdomain(p.name)) {
      check_name(e, path + ".name", p.name);
    } else if (!names.insert(p.name).second) {
      e.add(path + ".name", "duplicate provider " + in_quotes(p.name));
    }
    if (p.max_price_per_gpu_hour && *p.max_price_per_gpu_hour <= Money()) {
      e.add(path + ".maxPricePerGpuHour", "must be > 0");
    } else {
      check_money_range(e, path + ".maxPricePerGpuHour", p.max_price_per_gpu_hour,
                        limits::kMaxPricePerHour);
    }
    check_strings_unique_nonempty(e, path + ".regions", p.regions);
  }

  // budget, egress, planning, lifecycle
  check_money_range(e, "spec.budget.maxUsdPerHour", s.budget.max_usd_per_hour, limits::kMaxBudget);
  check_money_range(e, "spec.budget.maxUsdPerMonth", s.budget.max_usd_per_month,
                    limits::kMaxBudget);
  if (!(s.egress.gb_per_gpu_hour >= 0) || !std::isfinite(s.egress.gb_per_gpu_hour)) {
    e.add("spec.egress.gbPerGpuHour", "must be >= 0");
  } else if (s.egress.gb_per_gpu_hour > limits::kMaxEgressGbPerGpuHour) {
    e.add("spec.egress.gbPerGpuHour", "must be at most 1000000");
  }
  if (s.planning.expected_lifetime_hours && !(*s.planning.expected_lifetime_hours > 0)) {
    e.add("spec.planning.expectedLifetimeHours", "must be > 0");
  }
  if (s.lifecycle.park_margin_seconds < 0)
    e.add("spec.lifecycle.parkMarginSeconds", "must be >= 0");
  if (s.lifecycle.adoption_grace_seconds < 0) {
    e.add("spec.lifecycle.adoptionGraceSeconds", "must be >= 0");
  }
  if (s.lifecycle.min_park_seconds < 0 || s.lifecycle.min_park_seconds > 86400) {
    e.add("spec.lifecycle.minParkSeconds", "must be between 0 and 86400");
  }
  if (s.lifecycle.consolidation_lead_seconds < 0 || s.lifecycle.consolidation_lead_seconds > 3600) {
    e.add("spec.lifecycle.consolidationLeadSeconds", "must be between 0 and 3600");
  }

  // autoscaling
  const auto& as = s.autoscaling;
  if (as.enabled && as.metrics.empty()) {
    e.add("spec.autoscaling.metrics", "must list at least one metric when autoscaling is enabled");
  }
  if (as.metrics.size() > kMaxMetrics) {
    e.add("spec.autoscaling.metrics", at_most(kMaxMetrics, "metrics"));
  }
  for (size_t i = 0; i < as.metrics.size(); ++i) {
    const auto& m = as.metrics[i];
    const std::string path = idx("spec.autoscaling.metrics", i);
    if (!(m.target > 0) || !std::isfinite(m.target)) e.add(path + ".target", "must be > 0");
    if (m.type == MetricType::External && (!m.query || m.query->empty())) {
      e.add(path + ".query", "must not be empty for an External metric");
    } else if (m.query && m.query->empty()) {
      e.add(path + ".query", "must not be empty when set");
    } else if (m.query && m.query->size() > kMaxQuery) {
      e.add(path + ".query", too_long(kMaxQuery));
    }
    if (m.prometheus_url) {
      const std::string& u = *m.prometheus_url;
      if (u.rfind("http://", 0) != 0 && u.rfind("https://", 0) != 0) {
        e.add(path + ".prometheusUrl", "must start with http:// or https://");
      } else if (u.size() > kMaxUrl) {
        e.add(path + ".prometheusUrl", too_long(kMaxUrl));
      }
    }
    if (m.type == MetricType::PendingPods) {
      if (s.usage.mode != UsageMode::Node) {
        e.add(path + ".type",
              "PendingPods needs spec.usage.mode Node (pods run on the pool's Nodes)");
      }
      if (m.query || m.prometheus_url) {
        e.add(path + ".query",
              "PendingPods is counted from the API; query and prometheusUrl do not apply");
      }
    }
  }
  if (as.scale_up_stabilization_seconds < 0) {
    e.add("spec.autoscaling.scaleUpStabilizationSeconds", "must be >= 0");
  }
  if (as.scale_down_stabilization_seconds < 0) {
    e.add("spec.autoscaling.scaleDownStabilizationSeconds", "must be >= 0");
  }
  if (!(as.tolerance >= 0 && as.tolerance <= 1)) {
    e.add("spec.autoscaling.tolerance", "must be between 0 and 1");
  }
  auto check_limit = [&](const std::string& path, const ScalingLimitSpec& l) {
    if (l.pods < 0 || l.pods > kMaxReplicas) {
      e.add(path + ".pods", "must be between 0 and " + std::to_string(kMaxReplicas));
    }
    if (l.percent < 0 || l.percent > 1000) e.add(path + ".percent", "must be between 0 and 1000");
    if (l.pods == 0 && l.percent == 0) e.add(path, "pods or percent must be > 0");
    if (l.period_seconds < 1 || l.period_seconds > 3600) {
      e.add(path + ".periodSeconds", "must be between 1 and 3600");
    }
  };
  check_limit("spec.autoscaling.scaleUp", as.scale_up);
  check_limit("spec.autoscaling.scaleDown", as.scale_down);
  if (as.schedules.size() > kMaxSchedules) {
    e.add("spec.autoscaling.schedules", at_most(kMaxSchedules, "schedules"));
  }
  for (size_t i = 0; i < as.schedules.size(); ++i) {
    const auto& w = as.schedules[i];
    const std::string path = idx("spec.autoscaling.schedules", i);
    for (const auto& [field, cron] : {std::pair{".start", &w.start}, std::pair{".end", &w.end}}) {
      if (cron->empty()) {
        e.add(path + field, "must not be empty");
      } else if (cron->size() > kMaxCron) {
        e.add(path + field, too_long(kMaxCron));
      } else if (auto problem = schedule_cron_problem(*cron)) {
        e.add(path + field, *problem);
      }
    }
    if (!valid_time_zone_name(w.time_zone)) {
      e.add(path + ".timeZone", "must be an IANA time zone name such as \"Europe/Berlin\"");
    }
    if (w.min_replicas < 0 || w.min_replicas > kMaxReplicas) {
      e.add(path + ".minReplicas", "must be between 0 and " + std::to_string(kMaxReplicas));
    }
  }

  check_usage(e, "spec.usage", s.usage);
  return e.take();
}

std::vector<FieldError> validate(const GpuInstance& instance) {
  Errors e;
  check_meta(e, instance.metadata, true);
  const auto& s = instance.spec;
  if (s.pool.empty()) e.add("spec.pool", "must not be empty");
  const auto& o = s.offer;
  if (o.provider.empty()) e.add("spec.offer.provider", "must not be empty");
  if (!known_provider_type(o.provider_type)) {
    e.add("spec.offer.providerType", "Unsupported value: " + in_quotes(o.provider_type) +
                                         ": supported values: " + provider_types_list());
  }
  if (o.offer_id.empty()) e.add("spec.offer.offerId", "must not be empty");
  if (o.gpu_model.empty()) e.add("spec.offer.gpuModel", "must not be empty");
  if (o.gpu_count < 1) e.add("spec.offer.gpuCount", "must be >= 1");
  check_money_range(e, "spec.offer.pricePerHour", o.price_per_hour, limits::kMaxPricePerHour);
  check_billing(e, "spec.offer.billing", o.billing);
  check_usage(e, "spec.usage", s.usage);
  return e.take();
}

std::vector<FieldError> validate(const GpuProvider& provider) {
  Errors e;
  check_meta(e, provider.metadata, false);
  const auto& s = provider.spec;
  if (s.type.empty()) {
    e.add("spec.type", "must not be empty");
  } else if (!known_provider_type(s.type)) {
    e.add("spec.type", "Unsupported value: " + in_quotes(s.type) +
                           ": supported values: " + provider_types_list());
  }
  const auto& sec = s.credentials_secret;
  if (sec.name.empty()) {
    if (s.type != "fake") e.add("spec.credentialsSecret.name", "must not be empty");
  } else if (!is_dns1123_subdomain(sec.name)) {
    check_name(e, "spec.credentialsSecret.name", sec.name);
  }
  if (!sec.namespace_.empty() && !is_dns1123_label(sec.namespace_)) {
    e.add("spec.credentialsSecret.namespace", "invalid namespace " + in_quotes(sec.namespace_));
  }
  for (const auto& [k, v] : sec.keys) {
    if (k.empty() || v.empty()) {
      e.add("spec.credentialsSecret.keys[" + k + "]", "keys and values must not be empty");
    }
  }
  check_provider_settings(e, s);
  check_strings_unique_nonempty(e, "spec.regions", s.regions);
  if (!s.endpoint.empty() && s.endpoint.rfind("https://", 0) != 0 &&
      s.endpoint.rfind("http://", 0) != 0) {
    e.add("spec.endpoint", "must be an http:// or https:// URL");
  }
  if (s.billing) check_billing(e, "spec.billing", *s.billing);
  std::set<std::pair<std::string, std::string>> overrides;
  for (size_t i = 0; i < s.price_overrides.size(); ++i) {
    const auto& po = s.price_overrides[i];
    const std::string path = idx("spec.priceOverrides", i);
    if (po.gpu_model.empty()) e.add(path + ".gpuModel", "must not be empty");
    if (po.region && po.region->empty()) e.add(path + ".region", "must not be empty when set");
    check_money_range(e, path + ".pricePerGpuHour", po.price_per_gpu_hour,
                      limits::kMaxPricePerHour);
    if (!overrides.insert({po.gpu_model, po.region.value_or("")}).second) {
      e.add(path, "duplicate override for " + in_quotes(po.gpu_model) +
                      (po.region ? " in " + in_quotes(*po.region) : std::string()));
    }
  }
  check_money_range(e, "spec.egressUsdPerGb", s.egress_usd_per_gb, limits::kMaxEgressPerGb);
  if (s.quota.max_instances && *s.quota.max_instances < 0) {
    e.add("spec.quota.maxInstances", "must be >= 0");
  }
  if (s.quota.max_gpus && *s.quota.max_gpus < 0) e.add("spec.quota.maxGpus", "must be >= 0");
  if (s.pricing_refresh_seconds < kMinPricingRefreshSeconds) {
    e.add("spec.pricingRefreshSeconds", "must be >= " + std::to_string(kMinPricingRefreshSeconds));
  }
  return e.take();
}

std::vector<FieldError> validate(const ApiObject& object) {
  return std::visit([](const auto& o) { return validate(o); }, object);
}

namespace {

// True if `path` is `prefix` or lies under it ("spec.a" under "spec", "spec.a[0]" under "spec.a").
bool at_or_under(const std::string& path, const std::string& prefix) {
  if (prefix.empty() || path == prefix) return true;
  return path.size() > prefix.size() && path.compare(0, prefix.size(), prefix) == 0 &&
         (path[prefix.size()] == '.' || path[prefix.size()] == '[');
}

}  // namespace

Result<std::vector<ApiObject>, DecodeError> load_objects(std::string_view text) {
  auto docs = yaml_to_json(text);
  if (!docs.ok()) return fail(docs.error());
  std::vector<ApiObject> objects;
  std::vector<FieldError> all;
  DecodeError::Kind kind = DecodeError::Kind::Invalid;
  const bool many = docs->size() > 1;
  for (size_t i = 0; i < docs->size(); ++i) {
    PartialDecode partial = decode_object_partial((*docs)[i], DecodeMode::Strict);
    std::vector<FieldError> errors = std::move(partial.errors);
    if (partial.unknown_kind) kind = DecodeError::Kind::UnknownKind;
    if (partial.object) {
      // Validate what the user wrote (unset fields count as their defaults),
      // so a defaulted field is never blamed; then default.
      const size_t decode_errors = errors.size();
      for (auto& v : validate(*partial.object)) {
        bool shadowed = false;
        for (size_t d = 0; d < decode_errors; ++d) {
          if (at_or_under(v.path, errors[d].path)) shadowed = true;
        }
        if (!shadowed) errors.push_back(std::move(v));
      }
      std::visit([](auto& o) { apply_defaults(o); }, *partial.object);
      if (errors.empty()) objects.push_back(std::move(*partial.object));
    }
    for (auto& e : errors) {
      e.document = many ? static_cast<int>(i) : -1;
      all.push_back(std::move(e));
    }
  }
  if (!all.empty()) {
    DecodeError e;
    e.kind = kind;
    e.message = std::to_string(all.size()) + (all.size() == 1 ? " error" : " errors") +
                ", first: " + all.front().to_string();
    e.fields = std::move(all);
    return fail(std::move(e));
  }
  return objects;
}

std::vector<FieldError> validate_update(const GpuInstance& old, const GpuInstance& updated) {
  std::vector<FieldError> out;
  if (!(old.spec.offer == updated.spec.offer) && !old.status.provider_id.empty()) {
    out.push_back(
        FieldError{"spec.offer", "immutable once a machine exists (status.providerId is set)", -1});
  }
  return out;
}

}  // namespace gpupool::api
