#include "providers/aws/xml.h"

#include <gtest/gtest.h>

namespace gpupool::aws {
namespace {

TEST(Xml, ParsesEc2Response) {
  auto r = parse_xml(R"(<?xml version="1.0" encoding="UTF-8"?>
<RunInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>59dbff89</requestId>
  <!-- a comment -->
  <instancesSet>
    <item><instanceId>i-1</instanceId><instanceState><code>0</code><name>pending</name></instanceState>
      <tagSet><item><key>a&amp;b</key><value>&lt;x&gt; &#65;&#x42;</value></item></tagSet></item>
    <item><instanceId>i-2</instanceId><groupSet/></item>
  </instancesSet>
  <note><![CDATA[<raw>]]></note>
</RunInstancesResponse>)");
  ASSERT_TRUE(r.ok()) << r.error().message;
  const XmlNode& root = *r;
  EXPECT_EQ(root.name, "RunInstancesResponse");
  EXPECT_EQ(root.attributes.at("xmlns"), "http://ec2.amazonaws.com/doc/2016-11-15/");
  EXPECT_EQ(root.child_text("requestId"), "59dbff89");
  auto items = root.child("instancesSet")->children_named("item");
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0]->find_text({"instanceState", "name"}), "pending");
  EXPECT_EQ(items[0]->find_text({"tagSet", "item", "key"}), "a&b");
  EXPECT_EQ(items[0]->find_text({"tagSet", "item", "value"}), "<x> AB");
  EXPECT_EQ(items[1]->find({"instanceState"}), nullptr);
  EXPECT_EQ(items[1]->find_text({"missing", "x"}), "");
  EXPECT_EQ(root.child_text("note"), "<raw>");
}

TEST(Xml, PrefixesAreStripped) {
  auto r = parse_xml("<ec2:Response xmlns:ec2='x'><ec2:Code>A</ec2:Code></ec2:Response>");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->name, "Response");
  EXPECT_EQ(r->child_text("Code"), "A");
}

// Found by fuzz/provider_responses (provider_aws): a tag key with a stray
// byte became a machine tag that could not be encoded as JSON.
TEST(Xml, ADocumentThatIsNotUtf8IsAnError) {
  auto r = parse_xml("<a><key>gpupo\xC8ol.io/instance</key></a>");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "not UTF-8 at byte 13");
  // A character reference to a surrogate is no character either.
  EXPECT_FALSE(parse_xml("<a>&#xD800;</a>").ok());
  // Real UTF-8 passes through.
  auto ok = parse_xml("<a>Zürich \xE2\x82\xAC &#x20AC;</a>");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->text, "Zürich \xE2\x82\xAC \xE2\x82\xAC");
}

TEST(Xml, MalformedInputIsAnErrorNotACrash) {
  for (std::string_view bad :
       {"", "   ", "not xml", "<a>", "<a></b>", "<a><b></a>", "<a>&bogus;</a>", "<a>&#0;</a>",
        "<a>&#xZZ;</a>", "<a b=c></a>", "<a b='x></a>", "<a></a><b></b>", "<a></a>junk",
        "<!DOCTYPE a><a/>", "<a><!-- x </a>", "<a><![CDATA[x</a>", "<", "<a",
        "<Response><Errors><Error><Code>RequestLimitEx"}) {
    auto r = parse_xml(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_FALSE(r.error().message.empty());
    }
  }
  std::string deep;
  for (int i = 0; i < 200; ++i)
    deep += "<a>";
  for (int i = 0; i < 200; ++i)
    deep += "</a>";
  auto r = parse_xml(deep);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("too deep"), std::string::npos);
}

TEST(Xml, EscapeRoundTrips) {
  std::string s = "a<b>&\"c'";
  auto r = parse_xml("<x>" + xml_escape(s) + "</x>");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->text, s);
}

}  // namespace
}  // namespace gpupool::aws
