#pragma once
// Endpoint mode on machines that are not containers. A GpuPool with
// spec.usage.mode Endpoint asks every machine to serve one container
// (InstanceIntent::container). Container providers (Runpod pods, Vast.ai)
// launch it natively; a VM provider gets a start script as its user data
// instead. This is that script, written once for every VM adapter, and the
// checks every adapter makes before sending a container anywhere.
//
// What callers do:
//   - a VM adapter whose provider runs user data calls vm_user_data(intent)
//     and sends what it returns (the intent's bootstrap in Node mode, the
//     start script in Endpoint mode), and sets Machine::public_port with
//     vm_public_port() wherever it builds a Machine;
//   - an adapter whose provider runs no user data calls
//     refuse_container(intent, ...) first;
//   - container providers call check_container(intent) before they build
//     their own request, and shell_words() for an args string.
// Every error is InvalidRequest (the request can never work as it is), with a
// message that names the field and never echoes an env value (env values are
// resolved Secrets).
//
// Pure functions: no I/O, thread-safe.

#include <string>
#include <string_view>
#include <vector>

#include "providers/provider.h"

namespace gpupool::container {

// `s` as one POSIX shell word that reads back as exactly `s`: unchanged when
// it holds only characters no shell treats specially ([A-Za-z0-9_@%+=:,./-],
// non-empty), else single-quoted with each ' written as '\''. (Python's
// shlex.quote.) REQUIRES: no NUL in `s` (no shell word can hold one; the
// checks below refuse such values before anything is quoted).
std::string shell_quote(std::string_view s);

// The words joined by spaces, each shell_quote()d: an args string a shell
// (or a shell-like splitter) reads back as exactly `words`.
std::string shell_words(const std::vector<std::string>& words);

// The rules every adapter holds a container to, in order:
//   - no container (empty image): success, nothing else is looked at;
//   - intent.user_data set as well: a pool is either Node mode (bootstrap)
//     or Endpoint mode (container), never both;
//   - image: no NUL, no control character, not starting with '-' (docker
//     would read it as an option), no whitespace;
//   - port: 1..65535;
//   - env names: [A-Za-z_][A-Za-z0-9_]* (what a shell can export);
//   - env values and args: no NUL (nothing carries one to a process).
// `who` starts the message ("runpod: create pod").
ProviderStatus check_container(const InstanceIntent& intent, std::string_view who);

// The start script for `c` (REQUIRES: check_container passed for it): a
// "#!/bin/sh" script, run as root at first boot (cloud-init runs it as is),
// that installs Docker if missing and the NVIDIA container toolkit if Docker
// has no nvidia runtime, then (re)starts container "gpupool-endpoint" with
// all GPUs, restart unless-stopped, container port c.port published on the
// same host port, the env, and the args after the image. Env values reach
// docker through the script's environment (`export NAME=value`, then
// `-e NAME`), so they never appear on a command line. Every substituted
// value is shell_quote()d.
std::string render_container_start_script(const ContainerSpec& c);

// What a VM adapter sends as user data: intent.user_data when there is no
// container, else the start script; InvalidRequest when check_container
// fails (both set, bad port, ...).
ProviderResult<std::string> vm_user_data(const InstanceIntent& intent, std::string_view who);

// For adapters whose provider runs no user data (user_data_support() None):
// InvalidRequest naming the missing capability when the intent carries a
// container; success otherwise.
ProviderStatus refuse_container(const InstanceIntent& intent, std::string_view provider_type);

// A VM machine serves the container on the same port it publishes:
// `container_port` once the machine has a public address, else 0.
int vm_public_port(const Machine& m, int container_port);

// "8000" -> 8000; 0 unless `s` is exactly a decimal port in 1..65535.
int parse_port(std::string_view s);

// The tag VM adapters with tags write so get() and list() know the port
// ("gpupool.io/container-port" = "8000"); the port it carries when
// the machine has an address and the tag is a valid port, else 0.
inline constexpr std::string_view kTagContainerPort = "gpupool.io/container-port";
int vm_public_port_from_tags(const Machine& m);

// VM providers whose tags are plain strings (Scaleway, Vultr): the operator
// tags a machine "gpupool-managed", "gpupool-pool=<pool uid>",
// "gpupool-instance=<name>" and, in Endpoint mode, "gpupool-port=<port>".
inline constexpr std::string_view kVmTagManaged = "gpupool-managed";
inline constexpr std::string_view kVmTagPoolPrefix = "gpupool-pool=";
std::vector<std::string> vm_string_tags(const InstanceIntent& intent);
// Reads those tags back into `m`: the pool uid, instance and managed-by
// tags, the name, the container port tag and public_port.
void read_vm_string_tags(const std::vector<std::string>& tags, Machine& m);

}  // namespace gpupool::container
