#include "tests/apiserver/presentation.h"

#include <gtest/gtest.h>

namespace gpupool::apiserver {
namespace {

using namespace std::chrono_literals;

TEST(JsonPathTest, Subset) {
  Json obj = Json::parse(R"J({"spec":{"size":8,"list":[{"n":"a"},{"n":"b"}]},
    "status":{"conditions":[{"type":"Ready","status":"True"},{"type":"Degraded","status":"False"}]}})J");
  EXPECT_EQ(jsonpath(obj, ".spec.size"), std::vector<Json>{8});
  EXPECT_EQ(jsonpath(obj, "{.spec.size}"), std::vector<Json>{8});
  EXPECT_EQ(jsonpath(obj, ".spec.list[1].n"), std::vector<Json>{"b"});
  EXPECT_EQ(jsonpath(obj, ".spec.list[-1].n"), std::vector<Json>{"b"});
  EXPECT_EQ(jsonpath(obj, ".spec.list[*].n"), (std::vector<Json>{"a", "b"}));
  EXPECT_EQ(jsonpath(obj, ".spec['size']"), std::vector<Json>{8});
  EXPECT_EQ(jsonpath(obj, ".status.conditions[?(@.type==\"Ready\")].status"),
            std::vector<Json>{"True"});
  EXPECT_EQ(jsonpath(obj, ".status.conditions[?(@.type=='Degraded')].status"),
            std::vector<Json>{"False"});
  EXPECT_EQ(jsonpath(obj, ".status.conditions[?(@.type!=\"Ready\")].type"),
            std::vector<Json>{"Degraded"});
  EXPECT_TRUE(jsonpath(obj, ".missing.x").empty());
  EXPECT_TRUE(jsonpath(obj, "spec..x").empty());
  EXPECT_TRUE(jsonpath(obj, ".spec.list[").empty());
  EXPECT_TRUE(jsonpath(obj, ".spec.list[?(bad)]").empty());
}

TEST(HumanDurationTest, MatchesKubectl) {
  EXPECT_EQ(human_duration(-5s), "<invalid>");
  EXPECT_EQ(human_duration(-1s), "0s");
  EXPECT_EQ(human_duration(5s), "5s");
  EXPECT_EQ(human_duration(119s), "119s");
  EXPECT_EQ(human_duration(200s), "3m20s");
  EXPECT_EQ(human_duration(240s), "4m");
  EXPECT_EQ(human_duration(std::chrono::minutes(90)), "90m");
  EXPECT_EQ(human_duration(std::chrono::hours(5) + std::chrono::minutes(3)), "5h3m");
  EXPECT_EQ(human_duration(std::chrono::hours(30)), "30h");
  EXPECT_EQ(human_duration(std::chrono::hours(50)), "2d2h");
  EXPECT_EQ(human_duration(std::chrono::hours(24 * 30)), "30d");
  EXPECT_EQ(human_duration(std::chrono::hours(24 * 800)), "2y70d");
  EXPECT_EQ(human_duration(std::chrono::hours(24 * 365 * 9)), "9y");
}

kube::TypeInfo widget_type() {
  kube::TypeInfo t;
  t.resource = {"example.com", "v1", "widgets", "Widget", true};
  t.custom = true;
  t.singular = "widget";
  t.short_names = {"wd"};
  t.status_subresource = true;
  t.scale = kube::ScaleSpec{".spec.replicas", ".status.replicas", ""};
  kube::PrinterColumn size;
  size.name = "Size";
  size.type = "integer";
  size.json_path = ".spec.size";
  kube::PrinterColumn ready;
  ready.name = "Ready";
  ready.type = "string";
  ready.json_path = ".status.conditions[?(@.type==\"Ready\")].status";
  ready.priority = 1;
  kube::PrinterColumn age;
  age.name = "Age";
  age.type = "date";
  age.json_path = ".metadata.creationTimestamp";
  t.printer_columns = {size, ready, age};
  return t;
}

TEST(TableTest, UsesPrinterColumns) {
  Time now;
  ASSERT_TRUE(parse_rfc3339("2026-01-01T00:01:00Z", now));
  Json obj = Json::parse(R"J({"apiVersion":"example.com/v1","kind":"Widget",
    "metadata":{"name":"a","creationTimestamp":"2026-01-01T00:00:00Z"},"spec":{"size":"oops"}})J");
  Json t = to_table(widget_type(), {obj}, now, IncludeObject::Metadata, true);
  EXPECT_EQ(t["kind"], "Table");
  ASSERT_EQ(t["columnDefinitions"].size(), 4u);
  EXPECT_EQ(t["columnDefinitions"][0]["name"], "Name");
  EXPECT_EQ(t["columnDefinitions"][0]["format"], "name");
  EXPECT_EQ(t["columnDefinitions"][2]["priority"], 1);
  EXPECT_EQ(t["rows"][0]["cells"], Json::parse(R"(["a",null,null,"60s"])"));
  EXPECT_EQ(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
  obj["spec"]["size"] = 8;
  obj["status"] = {{"conditions", {{{"type", "Ready"}, {"status", "True"}}}}};
  Json t2 = to_table(widget_type(), {obj}, now, IncludeObject::Object, false);
  EXPECT_EQ(t2["rows"][0]["cells"], Json::parse(R"(["a",8,"True","60s"])"));
  EXPECT_EQ(t2["rows"][0]["object"]["kind"], "Widget");
  EXPECT_TRUE(t2["columnDefinitions"].empty());
  kube::TypeInfo plain = widget_type();
  plain.printer_columns.clear();
  Json t3 = to_table(plain, {obj}, now, IncludeObject::None, true);
  ASSERT_EQ(t3["columnDefinitions"].size(), 2u);
  EXPECT_EQ(t3["columnDefinitions"][1]["name"], "Age");
  EXPECT_FALSE(t3["rows"][0].contains("object"));
}

TEST(TableTest, EventsPutNameLastAndDescribeTheObject) {
  kube::TypeInfo ev;
  ev.resource = {"", "v1", "events", "Event", true};
  Time now;
  ASSERT_TRUE(parse_rfc3339("2026-01-01T00:10:00Z", now));
  Json e = Json::parse(R"J({"metadata":{"name":"p.1"},"type":"Normal","reason":"Scaled",
    "message":"m","lastTimestamp":"2026-01-01T00:00:00Z",
    "involvedObject":{"kind":"GpuPool","name":"p"}})J");
  Json t = to_table(ev, {e}, now, IncludeObject::None, true);
  EXPECT_EQ(t["columnDefinitions"][0]["name"], "Last Seen");
  EXPECT_EQ(t["columnDefinitions"].back()["name"], "Name");
  EXPECT_EQ(t["columnDefinitions"].back()["priority"], 1);
  EXPECT_EQ(t["rows"][0]["cells"],
            Json::parse(R"(["10m","Normal","Scaled","gpupool/p","m","p.1"])"));
}

TEST(TableTest, EndpointSlicesShowAddressTypePortsAndEndpoints) {
  kube::TypeInfo es;
  es.resource = {"discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", true};
  Time now;
  ASSERT_TRUE(parse_rfc3339("2026-01-01T00:10:00Z", now));
  Json s = Json::parse(R"J({"metadata":{"name":"chat-ipv4-8000-0",
    "creationTimestamp":"2026-01-01T00:00:00Z"},"addressType":"IPv4",
    "ports":[{"name":"http","port":8000,"protocol":"TCP"}],
    "endpoints":[{"addresses":["10.0.0.1"]},{"addresses":["10.0.0.2"]},
                 {"addresses":["10.0.0.3"]},{"addresses":["10.0.0.4"]},
                 {"addresses":["10.0.0.5"]}]})J");
  Json t = to_table(es, {s}, now, IncludeObject::None, true);
  EXPECT_EQ(t["rows"][0]["cells"], Json::parse(R"(["chat-ipv4-8000-0","IPv4","8000",
              "10.0.0.1,10.0.0.2,10.0.0.3 + 2 more...","10m"])"));
  Json empty = Json::parse(R"({"metadata":{"name":"e"},"addressType":"FQDN"})");
  t = to_table(es, {empty}, now, IncludeObject::None, true);
  EXPECT_EQ(t["rows"][0]["cells"][2], "<unset>");
  EXPECT_EQ(t["rows"][0]["cells"][3], "<none>");
}

TEST(DiscoveryTest, ResourceListsAndOpenApi) {
  std::vector<kube::TypeInfo> types = {widget_type()};
  kube::TypeInfo ns;
  ns.resource = {"", "v1", "namespaces", "Namespace", false};
  ns.singular = "namespace";
  types.push_back(ns);
  auto l = api_resource_list(types, "example.com", "v1");
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ((*l)["groupVersion"], "example.com/v1");
  ASSERT_EQ((*l)["resources"].size(), 3u);
  EXPECT_EQ((*l)["resources"][0]["singularName"], "widget");
  EXPECT_EQ((*l)["resources"][0]["shortNames"], Json::array({"wd"}));
  EXPECT_EQ((*l)["resources"][1]["name"], "widgets/status");
  EXPECT_EQ((*l)["resources"][2]["kind"], "Scale");
  EXPECT_FALSE(api_resource_list(types, "example.com", "v2").has_value());
  Json groups = api_group_list(types);
  ASSERT_EQ(groups["groups"].size(), 1u);
  EXPECT_EQ(groups["groups"][0]["preferredVersion"]["groupVersion"], "example.com/v1");
  Json index = openapi_index(types);
  std::string url = index["paths"]["apis/example.com/v1"]["serverRelativeURL"];
  EXPECT_EQ(url.rfind("/openapi/v3/apis/example.com/v1?hash=", 0), 0u);
  EXPECT_TRUE(index["paths"].contains("api/v1"));
  auto doc = openapi_document(types, "apis/example.com/v1");
  ASSERT_TRUE(doc.has_value());
  const Json& op =
      (*doc)["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"]["patch"];
  EXPECT_EQ(op["x-kubernetes-group-version-kind"]["kind"], "Widget");
  EXPECT_FALSE(op["requestBody"]["content"].contains("application/strategic-merge-patch+json"));
  EXPECT_TRUE((*doc)["paths"].contains("/apis/example.com/v1/namespaces/{namespace}/widgets"));
  EXPECT_TRUE(openapi_document(types, "api/v1").has_value());
  EXPECT_FALSE(openapi_document(types, "apis/nope/v1").has_value());
  EXPECT_EQ(version_info()["minor"], "32");
}

}  // namespace
}  // namespace gpupool::apiserver
