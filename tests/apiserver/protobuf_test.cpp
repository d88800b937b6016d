#include "tests/apiserver/protobuf.h"

#include <gtest/gtest.h>

namespace gpupool::apiserver {
namespace {

// Minimal protobuf writer for building test inputs.
std::string varint(uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
  return out;
}
std::string field(uint32_t f, const std::string& bytes) {
  return varint((uint64_t{f} << 3) | 2) + varint(bytes.size()) + bytes;
}
std::string field_varint(uint32_t f, uint64_t v) {
  return varint(uint64_t{f} << 3) + varint(v);
}
std::string entry(const std::string& k, const std::string& v) {
  return field(1, k) + field(2, v);
}
std::string envelope(const std::string& kind, const std::string& raw) {
  return std::string("k8s\0", 4) + field(1, field(1, "v1") + field(2, kind)) + field(2, raw) +
         field(4, "application/vnd.kubernetes.protobuf");
}

TEST(ProtobufTest, DecodesSecretWithBinaryData) {
  std::string meta =
      field(1, "creds") + field(3, "default") + field(11, entry("app", "x")) + field_varint(7, 3);
  std::string raw = field(1, meta) + field(2, entry("token", std::string("\x01\x02\xff", 3))) +
                    field(3, "Opaque") + field(4, entry("plain", "text"));
  std::string err;
  auto obj = decode_protobuf_object(envelope("Secret", raw), err);
  ASSERT_TRUE(obj.has_value()) << err;
  EXPECT_EQ((*obj)["kind"], "Secret");
  EXPECT_EQ((*obj)["metadata"]["name"], "creds");
  EXPECT_EQ((*obj)["metadata"]["namespace"], "default");
  EXPECT_EQ((*obj)["metadata"]["labels"]["app"], "x");
  EXPECT_EQ((*obj)["metadata"]["generation"], 3);
  EXPECT_EQ((*obj)["data"]["token"], "AQL/");
  EXPECT_EQ((*obj)["stringData"]["plain"], "text");
  EXPECT_EQ((*obj)["type"], "Opaque");
}

TEST(ProtobufTest, DecodesNamespaceAndConfigMap) {
  std::string err;
  auto ns = decode_protobuf_object(
      envelope("Namespace", field(1, field(1, "team")) + field(2, field(1, "kubernetes"))), err);
  ASSERT_TRUE(ns.has_value()) << err;
  EXPECT_EQ((*ns)["metadata"]["name"], "team");
  EXPECT_EQ((*ns)["spec"]["finalizers"][0], "kubernetes");
  auto cm = decode_protobuf_object(
      envelope("ConfigMap",
               field(1, field(1, "c")) + field(2, entry("a", "b")) + field_varint(4, 1)),
      err);
  ASSERT_TRUE(cm.has_value()) << err;
  EXPECT_EQ((*cm)["data"]["a"], "b");
  EXPECT_EQ((*cm)["immutable"], true);
}

TEST(ProtobufTest, RejectsUnknownKindsAndGarbage) {
  std::string err;
  EXPECT_FALSE(decode_protobuf_object(envelope("Pod", field(1, field(1, "p"))), err));
  EXPECT_NE(err.find("Kind=Pod"), std::string::npos);
  EXPECT_FALSE(decode_protobuf_object("{\"json\":true}", err));
  EXPECT_FALSE(decode_protobuf_object(std::string("k8s\0\x0a\xff\xff", 7), err));
  std::string truncated = envelope("Secret", field(1, field(1, "creds")));
  truncated.resize(truncated.size() - 3);
  EXPECT_FALSE(decode_protobuf_object(truncated, err));
}

}  // namespace
}  // namespace gpupool::apiserver
