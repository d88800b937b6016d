#pragma once
// The GpuProvider annotations that carried provider settings before the
// typed fields existed (issue 11). They are read for one more release: an
// annotation fills the typed field it replaces when that field is unset, and
// the provider reconciler reports every one it used in a Warning Event,
// reason DeprecatedAnnotation (once per adapter build). A typed field, when
// set, wins and the annotation is ignored.
//
//   annotation                       typed field               types
//   gpupool.io/ssh-public-key        spec.sshPublicKey.value   any
//   gpupool.io/aws-image-id          spec.aws.imageId          aws
//   gpupool.io/ssh-key-name          spec.lambda.sshKeyName    lambda
//   gpupool.io/scaleway-project-id   spec.scaleway.projectId   scaleway
//   gpupool.io/fake-boot-seconds     spec.fake.bootSeconds     fake
//   gpupool.io/fake-capacity         spec.fake.capacity        fake
//     ("<offerId>/<region>=<n>,..."; n = -1 means unlimited, as before)
//
// An annotation on a provider of another type is ignored, as it always was.
// Pure: no I/O.

#include <string>
#include <vector>

#include "operator/core/api_types.h"

namespace gpupool::controllers {

inline constexpr const char* kFakeBootAnnotation = "gpupool.io/fake-boot-seconds";
inline constexpr const char* kFakeCapacityAnnotation = "gpupool.io/fake-capacity";
inline constexpr const char* kAwsImageAnnotation = "gpupool.io/aws-image-id";
inline constexpr const char* kSshKeyNameAnnotation = "gpupool.io/ssh-key-name";
inline constexpr const char* kScalewayProjectAnnotation = "gpupool.io/scaleway-project-id";
inline constexpr const char* kSshPublicKeyAnnotation = "gpupool.io/ssh-public-key";

// Event reason for a deprecated annotation that was used.
inline constexpr const char* kReasonDeprecatedAnnotation = "DeprecatedAnnotation";

struct DeprecatedAnnotations {
  std::vector<std::string> used;  // annotation keys read into a typed field, sorted
  // The first annotation value that cannot be read ("" when none); its key
  // is in `used`. The provider is then InvalidConfig.
  std::string problem;
};

// Fills each unset typed setting of `provider` from the annotation it
// replaces.
DeprecatedAnnotations apply_deprecated_annotations(api::GpuProvider& provider);

// The typed field that replaces `annotation` ("spec.aws.imageId"), for
// messages; "" for a key that is not a deprecated settings annotation.
std::string replacement_field(const std::string& annotation);

}  // namespace gpupool::controllers
