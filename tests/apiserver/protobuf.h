#pragma once
// Private to tests/apiserver: decoding of the protobuf bodies
// (application/vnd.kubernetes.protobuf) that kubectl's typed commands send.

#include <optional>
#include <string>

#include "operator/kube/api/api.h"

namespace gpupool::apiserver {

using kube::Json;

// Decodes a "k8s\0"-enveloped v1 Namespace, ConfigMap or Secret (the fields
// kubectl create writes: metadata name/namespace/labels/annotations/
// ownerReferences/finalizers, data, stringData, binaryData, type, immutable).
// nullopt with `error` set for anything else or malformed input.
std::optional<Json> decode_protobuf_object(const std::string& body, std::string& error);

}  // namespace gpupool::apiserver
