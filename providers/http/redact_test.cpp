#include "providers/http/redact.h"

#include <gtest/gtest.h>

namespace gpupool::net {
namespace {

TEST(Redact, CredentialHeaders) {
  Headers h = {{"Authorization", "AWS4-HMAC-SHA256 Credential=AKID/..., Signature=abc"},
               {"X-API-KEY", "sekrit-1"},
               {"x-amz-security-token", "sess-2"},
               {"Content-Type", "application/json"},
               {"X-Amz-Date", "20150830T123600Z"}};
  Headers r = redact_headers(h);
  EXPECT_EQ(r[0].second, "REDACTED");
  EXPECT_EQ(r[1].second, "REDACTED");
  EXPECT_EQ(r[2].second, "REDACTED");
  EXPECT_EQ(r[3].second, "application/json");
  EXPECT_EQ(r[4].second, "20150830T123600Z");
}

TEST(Redact, QueryParameters) {
  std::string u = redact_url(
      "https://h/"
      "x?X-Amz-Signature=deadbeef&X-Amz-Credential=AKID%2F2015&api_key=k1&ClientToken=ct&a=1#f");
  EXPECT_EQ(
      u,
      "https://h/"
      "x?X-Amz-Signature=REDACTED&X-Amz-Credential=REDACTED&api_key=REDACTED&ClientToken=ct&a=1#f");
  EXPECT_EQ(redact_url("https://api.runpod.io/graphql?api_key=rp_123"),
            "https://api.runpod.io/graphql?api_key=REDACTED");
  EXPECT_EQ(redact_url("https://h/no-query"), "https://h/no-query");
}

TEST(Redact, FormBodyKeepsHarmlessFieldsAndHidesUserData) {
  std::string b =
      redact_form("Action=RunInstances&UserData=IyEvYmluL3No&ClientToken=abc&Password=x");
  EXPECT_EQ(b, "Action=RunInstances&UserData=REDACTED&ClientToken=abc&Password=REDACTED");
}

TEST(Redact, JsonFieldsAtAnyDepthEvenWhenMalformed) {
  std::string in =
      R"({"name":"vm-1","ssh_key":"ssh-ed25519 AAAA","auth":{"apiKey":"k-9","password":12345},)"
      R"("secrets":{"a":"b"},"token":null,"list":["x"],"client_secret" : "s","onstart":"kubeadm join t0k")";
  std::string out = redact_json(in);
  EXPECT_EQ(out.find("AAAA"), std::string::npos);
  EXPECT_EQ(out.find("k-9"), std::string::npos);
  EXPECT_EQ(out.find("12345"), std::string::npos);
  EXPECT_EQ(out.find("\"b\""), std::string::npos);
  EXPECT_EQ(out.find("\"s\""), std::string::npos);
  EXPECT_EQ(out.find("t0k"), std::string::npos);
  EXPECT_NE(out.find("\"name\":\"vm-1\""), std::string::npos);
  EXPECT_NE(out.find("\"token\":null"), std::string::npos);
  EXPECT_NE(out.find("[\"x\"]"), std::string::npos);
  // Truncated input: no crash, still redacted.
  EXPECT_EQ(redact_json(R"({"api_key":"abc)").find("abc"), std::string::npos);
  EXPECT_EQ(redact_json(R"({"api_key": )"), R"({"api_key": )");
}

// Boot scripts carry join tokens: Verda's startup-script body names the field
// "script", Vultr/others say "cloud_init".
TEST(Redact, BootScriptsInJsonBodies) {
  std::string out = redact_json(
      R"({"name":"boot","script":"kubeadm join --token abc.def","cloud_init":"join xyz"})");
  EXPECT_EQ(out.find("abc.def"), std::string::npos) << out;
  EXPECT_EQ(out.find("xyz"), std::string::npos) << out;
  EXPECT_NE(out.find("\"name\":\"boot\""), std::string::npos) << out;
}

TEST(Redact, ContainerEnvWhateverItsVariablesAreCalled) {
  std::string rp = redact_json(R"({"image":"vllm","env":{"MODEL_PASS":"p1","PLAIN":"p2"}})");
  EXPECT_EQ(rp.find("p1"), std::string::npos) << rp;
  EXPECT_EQ(rp.find("p2"), std::string::npos) << rp;
  EXPECT_NE(rp.find("vllm"), std::string::npos);
  std::string vast = redact_json(R"({"env":"-e A=v1 -p 8000:8000","extra_env":[["A","v2"]]})");
  EXPECT_EQ(vast.find("v1"), std::string::npos) << vast;
  EXPECT_EQ(vast.find("v2"), std::string::npos) << vast;
  EXPECT_FALSE(is_sensitive_json_field("envelope"));
}

TEST(Redact, PlainTextBootScriptsEntirely) {
  std::string script = "#!/bin/sh\nexport HF_TOKEN='hf_x'\n";
  EXPECT_EQ(redact_body(script, "text/plain").find("hf_x"), std::string::npos);
  EXPECT_EQ(redact_body(script, "").find("hf_x"), std::string::npos);
  EXPECT_EQ(redact_body("#cloud-config\nruncmd: [x]", "").find("runcmd"), std::string::npos);
  EXPECT_NE(redact_body("<Response><Code>x</Code></Response>", "text/xml").find("<Code>"),
            std::string::npos);
}

TEST(Redact, BodyByContentTypeAndTruncation) {
  EXPECT_EQ(redact_body("a=1&secret=2", "application/x-www-form-urlencoded"),
            "a=1&secret=REDACTED");
  EXPECT_EQ(redact_body(R"({"token":"t"})", "text/plain"), R"({"token":"REDACTED"})");
  std::string big(100, 'x');
  EXPECT_EQ(redact_body(big, "text/plain", 10), std::string(10, 'x') + "...(90 more bytes)");
}

}  // namespace
}  // namespace gpupool::net
