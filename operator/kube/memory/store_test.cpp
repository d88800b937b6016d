#include "operator/kube/memory/store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace gpupool::kube {
namespace {

using namespace std::chrono_literals;

const Resource kWidgets{"example.com", "v1", "widgets", "Widget", true};
const Resource& kCrds = resources::kCustomResourceDefinitions;

Json widget_crd() {
  return Json::parse(R"J({
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
      "group": "example.com", "scope": "Namespaced",
      "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
      "versions": [{
        "name": "v1", "served": true, "storage": true,
        "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas",
                                                  "statusReplicasPath": ".status.replicas"}},
        "additionalPrinterColumns": [{"name": "Size", "type": "integer", "jsonPath": ".spec.size"}],
        "selectableFields": [{"jsonPath": ".spec.model"}],
        "schema": {"openAPIV3Schema": {
          "type": "object",
          "properties": {
            "spec": {"type": "object", "required": ["size"], "properties": {
              "size": {"type": "integer", "minimum": 0, "maximum": 64},
              "model": {"type": "string", "enum": ["h100", "a100"]},
              "replicas": {"type": "integer", "default": 1}}},
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}]}})J");
}

Json widget(const std::string& name, int size) {
  return Json{{"apiVersion", "example.com/v1"},
              {"kind", "Widget"},
              {"metadata", {{"name", name}, {"namespace", "default"}}},
              {"spec", {{"size", size}, {"model", "h100"}}}};
}

Json configmap(const std::string& name, Json labels = Json::object()) {
  return Json{{"apiVersion", "v1"},
              {"kind", "ConfigMap"},
              {"metadata", {{"name", name}, {"namespace", "default"}, {"labels", labels}}},
              {"data", {{"k", "v"}}}};
}

std::string rv_of(const Json& o) {
  return o["metadata"]["resourceVersion"].get<std::string>();
}
int64_t gen_of(const Json& o) {
  return o["metadata"].value("generation", int64_t{0});
}

class StoreTest : public ::testing::Test {
 protected:
  StoreTest() : clock_(Time(std::chrono::seconds(1'700'000'000))) {}
  void SetUp() override { store_ = std::make_unique<MemoryStore>(clock_, options_); }
  void install_crd() {
    auto r = store_->create(kCrds, "", widget_crd());
    ASSERT_TRUE(r.ok()) << r.error().message;
  }
  Json must_create(const Resource& res, const Json& obj) {
    auto r = store_->create(res, "default", obj);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? r.value() : Json();
  }
  // Next event, failing the test on timeout.
  WatchEvent next_event(WatchStream& s) {
    auto n = s.next(5s);
    EXPECT_EQ(n.state, WatchStream::State::Event);
    return n.event;
  }
  FakeClock clock_;
  MemoryStoreOptions options_;
  std::unique_ptr<MemoryStore> store_;
};

TEST_F(StoreTest, CreateFillsServerFieldsAndGenerateName) {
  install_crd();
  Json w = widget("", 4);
  w["metadata"].erase("name");
  w["metadata"]["generateName"] = "pool-";
  w["status"] = {{"replicas", 9}};
  auto r = store_->create(kWidgets, "default", w);
  ASSERT_TRUE(r.ok()) << r.error().message;
  const Json& o = r.value();
  std::string name = o["metadata"]["name"];
  EXPECT_EQ(name.size(), 10u);
  EXPECT_EQ(name.substr(0, 5), "pool-");
  EXPECT_EQ(o["metadata"]["uid"].get<std::string>().size(), 36u);
  EXPECT_EQ(o["metadata"]["creationTimestamp"], "2023-11-14T22:13:20Z");
  EXPECT_EQ(gen_of(o), 1);
  EXPECT_EQ(rv_of(o), std::to_string(store_->resource_version()));
  EXPECT_FALSE(o.contains("status"));   // status subresource: dropped on create
  EXPECT_EQ(o["spec"]["replicas"], 1);  // schema default applied
  auto cm = store_->create(resources::kConfigMaps, "default", configmap("c"));
  ASSERT_TRUE(cm.ok());
  EXPECT_FALSE(cm.value()["metadata"].contains("generation"));  // core kinds: no generation
  EXPECT_GT(std::stoll(rv_of(cm.value())), std::stoll(rv_of(o)));
}

TEST_F(StoreTest, CreateErrorsMatchTheServer) {
  must_create(resources::kConfigMaps, configmap("a"));
  auto dup = store_->create(resources::kConfigMaps, "default", configmap("a"));
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().kind, ErrorKind::AlreadyExists);
  EXPECT_EQ(dup.error().message, "configmaps \"a\" already exists");

  Json in_nope = configmap("b");
  in_nope["metadata"]["namespace"] = "nope";
  auto no_ns = store_->create(resources::kConfigMaps, "nope", in_nope);
  ASSERT_FALSE(no_ns.ok());
  EXPECT_EQ(no_ns.error().kind, ErrorKind::NotFound);
  EXPECT_EQ(no_ns.error().message, "namespaces \"nope\" not found");

  auto mismatch = store_->create(resources::kConfigMaps, "kube-system", configmap("b"));
  ASSERT_FALSE(mismatch.ok());
  EXPECT_EQ(mismatch.error().kind, ErrorKind::BadRequest);

  Json noname = configmap("x");
  noname["metadata"].erase("name");
  auto nn = store_->create(resources::kConfigMaps, "default", noname);
  ASSERT_FALSE(nn.ok());
  EXPECT_EQ(nn.error().kind, ErrorKind::Invalid);
  EXPECT_EQ(nn.error().causes.at(0).field, "metadata.name");

  auto upper = store_->create(resources::kConfigMaps, "default", configmap("Bad_Name"));
  ASSERT_FALSE(upper.ok());
  EXPECT_EQ(upper.error().kind, ErrorKind::Invalid);

  Json bad_labels = configmap("y");
  bad_labels["metadata"]["labels"] = "not-a-map";
  auto bl = store_->create(resources::kConfigMaps, "default", bad_labels);
  ASSERT_FALSE(bl.ok());
  EXPECT_EQ(bl.error().kind, ErrorKind::Invalid);

  auto unknown = store_->get(kWidgets, "default", "x");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().kind, ErrorKind::NotFound);
  EXPECT_EQ(unknown.error().message, "the server could not find the requested resource");
}

TEST_F(StoreTest, SecretStringDataIsFoldedIntoDataLikeTheServer) {
  Json secret = {{"apiVersion", "v1"},
                 {"kind", "Secret"},
                 {"metadata", {{"name", "s"}, {"namespace", "default"}}},
                 {"data", {{"kept", "YQ=="}, {"both", "b2xk"}}},
                 {"stringData", {{"both", "new"}, {"plain", "hello"}}}};
  auto made = store_->create(resources::kSecrets, "default", secret);
  ASSERT_TRUE(made.ok()) << made.error().message;
  EXPECT_FALSE(made.value().contains("stringData"));
  EXPECT_EQ(made.value()["data"],
            (Json{{"kept", "YQ=="}, {"both", "bmV3"}, {"plain", "aGVsbG8="}}));
  Json changed = made.value();
  changed["stringData"] = {{"plain", "bye"}};
  auto updated = store_->update(resources::kSecrets, changed);
  ASSERT_TRUE(updated.ok()) << updated.error().message;
  EXPECT_FALSE(updated.value().contains("stringData"));
  EXPECT_EQ(updated.value()["data"]["plain"], "Ynll");
  EXPECT_EQ(store_->get(resources::kSecrets, "default", "s").value()["data"]["plain"], "Ynll");
}

TEST_F(StoreTest, UpdateChecksResourceVersion) {
  install_crd();
  Json w = must_create(kWidgets, widget("a", 4));
  Json stale = w;
  w["spec"]["size"] = 5;
  auto ok = store_->update(kWidgets, w);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  stale["spec"]["size"] = 6;
  auto conflict = store_->update(kWidgets, stale);
  ASSERT_FALSE(conflict.ok());
  EXPECT_EQ(conflict.error().kind, ErrorKind::Conflict);
  EXPECT_EQ(conflict.error().message,
            "Operation cannot be fulfilled on widgets.example.com \"a\": the object has been "
            "modified; please apply your changes to the latest version and try again");
  Json no_rv = ok.value();
  no_rv["metadata"].erase("resourceVersion");
  auto inv = store_->update(kWidgets, no_rv);
  ASSERT_FALSE(inv.ok());
  EXPECT_EQ(inv.error().kind, ErrorKind::Invalid);
  EXPECT_EQ(inv.error().message,
            "widgets.example.com \"a\" is invalid: metadata.resourceVersion: Invalid value: 0x0: "
            "must be specified for an update");
  // Core kinds allow unconditional updates.
  Json cm = must_create(resources::kConfigMaps, configmap("c"));
  cm["metadata"].erase("resourceVersion");
  cm["data"]["k"] = "v2";
  auto cmu = store_->update(resources::kConfigMaps, cm);
  ASSERT_TRUE(cmu.ok());
  EXPECT_EQ(cmu.value()["data"]["k"], "v2");
  // CRs: no create on update.
  auto missing = store_->update(kWidgets, widget("zzz", 1));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorKind::NotFound);
}

TEST_F(StoreTest, GenerationAndStatusSubresourceRules) {
  install_crd();
  Json w = must_create(kWidgets, widget("a", 4));
  EXPECT_EQ(gen_of(w), 1);
  // metadata-only change: no bump
  w["metadata"]["labels"] = {{"x", "y"}};
  w = store_->update(kWidgets, w).value();
  EXPECT_EQ(gen_of(w), 1);
  // spec change: bump
  w["spec"]["size"] = 8;
  w = store_->update(kWidgets, w).value();
  EXPECT_EQ(gen_of(w), 2);
  // main write ignores status
  w["status"] = {{"phase", "Ready"}};
  w = store_->update(kWidgets, w).value();
  EXPECT_FALSE(w.contains("status"));
  EXPECT_EQ(gen_of(w), 2);
  // status write ignores spec and labels, keeps generation
  Json s = w;
  s["status"] = {{"phase", "Ready"}};
  s["spec"]["size"] = 60;
  s["metadata"]["labels"] = {{"x", "changed"}};
  UpdateOptions so;
  so.subresource = "status";
  auto st = store_->update(kWidgets, s, so);
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(st.value()["status"]["phase"], "Ready");
  EXPECT_EQ(st.value()["spec"]["size"], 8);
  EXPECT_EQ(st.value()["metadata"]["labels"]["x"], "y");
  EXPECT_EQ(gen_of(st.value()), 2);
  // status patch
  PatchOptions po;
  po.subresource = "status";
  auto sp = store_->patch(kWidgets, "default", "a", PatchType::Merge,
                          Json{{"status", {{"phase", "Busy"}}}, {"spec", {{"size", 1}}}}, po);
  ASSERT_TRUE(sp.ok()) << sp.error().message;
  EXPECT_EQ(sp.value()["status"]["phase"], "Busy");
  EXPECT_EQ(sp.value()["spec"]["size"], 8);
  EXPECT_EQ(gen_of(sp.value()), 2);
}

TEST_F(StoreTest, NoOpUpdateKeepsVersionAndEmitsNothing) {
  install_crd();
  Json w = must_create(kWidgets, widget("a", 4));
  auto stream = store_->watch(kWidgets, "default", WatchOptions{rv_of(w)});
  ASSERT_TRUE(stream.ok());
  int64_t before = store_->resource_version();
  auto same = store_->update(kWidgets, w);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(rv_of(same.value()), rv_of(w));
  auto p = store_->patch(kWidgets, "default", "a", PatchType::Merge, Json{{"spec", {{"size", 4}}}});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(rv_of(p.value()), rv_of(w));
  EXPECT_EQ(store_->resource_version(), before);
  EXPECT_EQ(stream.value()->next(10ms).state, WatchStream::State::Timeout);
}

TEST_F(StoreTest, PatchTypes) {
  install_crd();
  must_create(kWidgets, widget("a", 4));
  auto jp = store_->patch(kWidgets, "default", "a", PatchType::JsonPatch,
                          Json::parse(R"([{"op":"replace","path":"/spec/size","value":7}])"));
  ASSERT_TRUE(jp.ok()) << jp.error().message;
  EXPECT_EQ(jp.value()["spec"]["size"], 7);
  auto failed_test = store_->patch(kWidgets, "default", "a", PatchType::JsonPatch,
                                   Json::parse(R"([{"op":"test","path":"/spec/size","value":1}])"));
  ASSERT_FALSE(failed_test.ok());
  EXPECT_EQ(failed_test.error().kind, ErrorKind::Invalid);
  auto not_array = store_->patch(kWidgets, "default", "a", PatchType::JsonPatch, Json::object());
  ASSERT_FALSE(not_array.ok());
  EXPECT_EQ(not_array.error().kind, ErrorKind::BadRequest);
  auto smp = store_->patch(kWidgets, "default", "a", PatchType::StrategicMerge,
                           Json{{"spec", {{"size", 1}}}});
  ASSERT_FALSE(smp.ok());
  EXPECT_EQ(smp.error().kind, ErrorKind::UnsupportedMediaType);
  EXPECT_EQ(smp.error().code, 415);
  // Stale resourceVersion inside a merge patch is a precondition.
  auto stale = store_->patch(kWidgets, "default", "a", PatchType::Merge,
                             Json{{"metadata", {{"resourceVersion", "1"}}}});
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().kind, ErrorKind::Conflict);
  // Events accept strategic merge patch.
  Json ev = {{"apiVersion", "v1"},
             {"kind", "Event"},
             {"metadata", {{"name", "a.1"}, {"namespace", "default"}}},
             {"involvedObject", {{"kind", "Widget"}, {"name", "a"}}},
             {"reason", "Scaled"},
             {"count", 1}};
  must_create(resources::kEvents, ev);
  auto evp = store_->patch(resources::kEvents, "default", "a.1", PatchType::StrategicMerge,
                           Json{{"count", 2}, {"$setElementOrder/x", Json::array()}});
  ASSERT_TRUE(evp.ok()) << evp.error().message;
  EXPECT_EQ(evp.value()["count"], 2);
  EXPECT_FALSE(evp.value().contains("$setElementOrder/x"));
  // Apply requires a field manager and creates.
  auto apply_nofm = store_->patch(kWidgets, "default", "b", PatchType::Apply, widget("b", 2));
  ASSERT_FALSE(apply_nofm.ok());
  EXPECT_EQ(apply_nofm.error().kind, ErrorKind::Invalid);
  PatchOptions ao;
  ao.field_manager = "test";
  auto apply = store_->patch(kWidgets, "default", "b", PatchType::Apply, widget("b", 2), ao);
  ASSERT_TRUE(apply.ok()) << apply.error().message;
  EXPECT_EQ(apply.value()["spec"]["size"], 2);
}

// The managedFields entry of `manager` with `operation`, or null.
Json managed_entry(const Json& obj, const std::string& manager, const std::string& operation) {
  for (const auto& e : obj["metadata"].value("managedFields", Json::array())) {
    if (e["manager"] == manager && e["operation"] == operation) return e;
  }
  return Json();
}

TEST_F(StoreTest, ServerSideApplyRecordsOwnersAndRefusesToOverwriteAnotherAppliersField) {
  install_crd();
  PatchOptions a;
  a.field_manager = "a";
  Json config = widget("w", 4);
  config["spec"]["replicas"] = 2;
  auto created = store_->patch(kWidgets, "default", "w", PatchType::Apply, config, a);
  ASSERT_TRUE(created.ok()) << created.error().message;
  const Json entry = managed_entry(*created, "a", "Apply");
  ASSERT_TRUE(entry.is_object()) << created->dump();
  EXPECT_EQ(entry["apiVersion"], "example.com/v1");
  EXPECT_EQ(entry["fieldsType"], "FieldsV1");
  EXPECT_EQ(entry["time"], "2023-11-14T22:13:20Z");
  EXPECT_EQ(entry["fieldsV1"],
            Json::parse(R"({"f:spec":{"f:model":{},"f:replicas":{},"f:size":{}}})"));

  // Manager b applies a different replicas: 409 with the real body.
  PatchOptions b;
  b.field_manager = "b";
  Json b_config = {{"apiVersion", "example.com/v1"},
                   {"kind", "Widget"},
                   {"metadata", {{"name", "w"}, {"namespace", "default"}}},
                   {"spec", {{"replicas", 5}}}};
  auto clash = store_->patch(kWidgets, "default", "w", PatchType::Apply, b_config, b);
  ASSERT_FALSE(clash.ok());
  EXPECT_EQ(clash.error().code, 409);
  const Json status = to_status_json(clash.error());
  EXPECT_EQ(status["reason"], "Conflict");
  EXPECT_EQ(status["message"], "Apply failed with 1 conflict: conflict with \"a\": .spec.replicas");
  EXPECT_EQ(status["details"]["causes"],
            Json::parse(R"([{"reason":"FieldManagerConflict","message":"conflict with \"a\"",
                             "field":".spec.replicas"}])"));
  EXPECT_EQ(store_->get(kWidgets, "default", "w")->at("spec")["replicas"], 2);

  // Forced, b takes the field; a keeps the rest.
  b.force = true;
  auto forced = store_->patch(kWidgets, "default", "w", PatchType::Apply, b_config, b);
  ASSERT_TRUE(forced.ok()) << forced.error().message;
  EXPECT_EQ(forced->at("spec")["replicas"], 5);
  EXPECT_EQ(managed_entry(*forced, "b", "Apply")["fieldsV1"],
            Json::parse(R"({"f:spec":{"f:replicas":{}}})"));
  EXPECT_EQ(managed_entry(*forced, "a", "Apply")["fieldsV1"],
            Json::parse(R"({"f:spec":{"f:model":{},"f:size":{}}})"));
  // Now a conflicts with b.
  auto back = store_->patch(kWidgets, "default", "w", PatchType::Apply, config, a);
  ASSERT_FALSE(back.ok());
  EXPECT_EQ(back.error().message,
            "Apply failed with 1 conflict: conflict with \"b\": .spec.replicas");
  // Re-applying the same configuration changes nothing, not even the version.
  const std::string rv = rv_of(*forced);
  clock_.advance(std::chrono::seconds(60));
  auto same = store_->patch(kWidgets, "default", "w", PatchType::Apply, b_config, b);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(rv_of(*same), rv);
  // The applied configuration may not carry managedFields.
  Json with_mf = b_config;
  with_mf["metadata"]["managedFields"] = Json::array({Json::object()});
  EXPECT_EQ(store_->patch(kWidgets, "default", "w", PatchType::Apply, with_mf, b).error().code,
            400);
}

TEST_F(StoreTest, AnApplyToTheStatusSubresourceOwnsOnlyStatus) {
  install_crd();
  must_create(kWidgets, widget("w", 4));
  PatchOptions st;
  st.field_manager = "controller";
  st.subresource = "status";
  Json cfg = widget("w", 99);
  cfg["status"] = {{"replicas", 3}};
  auto r = store_->patch(kWidgets, "default", "w", PatchType::Apply, cfg, st);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->at("spec")["size"], 4);  // a status apply ignores the rest
  EXPECT_EQ(r->at("status")["replicas"], 3);
  const Json e = managed_entry(*r, "controller", "Apply");
  EXPECT_EQ(e["subresource"], "status");
  EXPECT_EQ(e["fieldsV1"], Json::parse(R"({"f:status":{"f:replicas":{}}})"));
  // A main-resource apply ignores .status, so it cannot conflict there.
  PatchOptions main;
  main.field_manager = "user";
  Json user = widget("w", 5);
  user["status"] = {{"replicas", 7}};
  auto m = store_->patch(kWidgets, "default", "w", PatchType::Apply, user, main);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->at("spec")["size"], 5);
  EXPECT_EQ(m->at("status")["replicas"], 3);
  EXPECT_FALSE(managed_entry(*m, "user", "Apply")["fieldsV1"].contains("f:status"));
}

TEST_F(StoreTest, UpdatesRecordTheFieldsTheyChangeUnderTheirManager) {
  install_crd();
  CreateOptions co;
  co.field_manager = "kubectl-create";
  auto created = store_->create(kWidgets, "default", widget("w", 4), co);
  ASSERT_TRUE(created.ok());
  // Schema defaults (spec.replicas) belong to the creator too.
  EXPECT_EQ(managed_entry(*created, "kubectl-create", "Update")["fieldsV1"],
            Json::parse(R"({"f:spec":{"f:model":{},"f:replicas":{},"f:size":{}}})"));
  // A merge patch by another manager takes spec.size.
  PatchOptions po;
  po.field_manager = "kubectl-patch";
  auto patched =
      store_->patch(kWidgets, "default", "w", PatchType::Merge, Json{{"spec", {{"size", 8}}}}, po);
  ASSERT_TRUE(patched.ok());
  EXPECT_EQ(managed_entry(*patched, "kubectl-create", "Update")["fieldsV1"],
            Json::parse(R"({"f:spec":{"f:model":{},"f:replicas":{}}})"));
  EXPECT_EQ(managed_entry(*patched, "kubectl-patch", "Update")["fieldsV1"],
            Json::parse(R"({"f:spec":{"f:size":{}}})"));
  // A /status write is recorded with its subresource.
  Json st = *patched;
  st["status"] = {{"replicas", 1}};
  UpdateOptions uo;
  uo.subresource = "status";
  uo.field_manager = "operator";
  auto status = store_->update(kWidgets, st, uo);
  ASSERT_TRUE(status.ok()) << status.error().message;
  const Json e = managed_entry(*status, "operator", "Update");
  EXPECT_EQ(e["subresource"], "status");
  EXPECT_EQ(e["fieldsV1"], Json::parse(R"({"f:status":{"f:replicas":{}}})"));
  // An applier of spec.size now conflicts with the patcher, named with its apiVersion.
  PatchOptions ao;
  ao.field_manager = "helm";
  Json config = widget("w", 16);
  config["spec"].erase("model");
  auto clash = store_->patch(kWidgets, "default", "w", PatchType::Apply, config, ao);
  ASSERT_FALSE(clash.ok());
  EXPECT_EQ(clash.error().message,
            "Apply failed with 1 conflict: conflict with \"kubectl-patch\" using example.com/v1: "
            ".spec.size");
  // Writes without a manager (the operator in process) keep the entries as they are.
  auto quiet =
      store_->patch(kWidgets, "default", "w", PatchType::Merge, Json{{"spec", {{"size", 9}}}});
  ASSERT_TRUE(quiet.ok());
  EXPECT_EQ(quiet->at("metadata")["managedFields"], status->at("metadata")["managedFields"]);
}

TEST_F(StoreTest, FinalizersDelayDeletion) {
  install_crd();
  Json w = widget("a", 4);
  w["metadata"]["finalizers"] = {"example.com/cleanup"};
  w = must_create(kWidgets, w);
  auto del = store_->remove(kWidgets, "default", "a");
  ASSERT_TRUE(del.ok());
  EXPECT_FALSE(del.value().deleted);
  Json marked = store_->get(kWidgets, "default", "a").value();
  EXPECT_EQ(marked["metadata"]["deletionTimestamp"], "2023-11-14T22:13:20Z");
  EXPECT_EQ(gen_of(marked), 2);
  // Deleting again changes nothing.
  auto again = store_->remove(kWidgets, "default", "a");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(rv_of(again.value().object), rv_of(marked));
  // No new finalizers while deleting.
  auto add = store_->patch(kWidgets, "default", "a", PatchType::Merge,
                           Json{{"metadata", {{"finalizers", {"example.com/cleanup", "x/y"}}}}});
  ASSERT_FALSE(add.ok());
  EXPECT_EQ(add.error().kind, ErrorKind::Invalid);
  EXPECT_EQ(add.error().causes.at(0).message,
            "Forbidden: no new finalizers can be added if the object is being deleted, found new "
            "finalizers []string{\"x/y\"}");
  auto stream = store_->watch(kWidgets, "default", WatchOptions{rv_of(marked)});
  ASSERT_TRUE(stream.ok());
  auto rm = store_->patch(kWidgets, "default", "a", PatchType::JsonPatch,
                          Json::parse(R"([{"op":"remove","path":"/metadata/finalizers"}])"));
  ASSERT_TRUE(rm.ok()) << rm.error().message;
  EXPECT_EQ(store_->get(kWidgets, "default", "a").error().kind, ErrorKind::NotFound);
  EXPECT_EQ(next_event(*stream.value()).type, WatchEventType::Deleted);
}

TEST_F(StoreTest, DeletePreconditions) {
  Json cm = must_create(resources::kConfigMaps, configmap("c"));
  DeleteOptions bad_uid;
  bad_uid.precondition_uid = "nope";
  auto r1 = store_->remove(resources::kConfigMaps, "default", "c", bad_uid);
  ASSERT_FALSE(r1.ok());
  EXPECT_EQ(r1.error().kind, ErrorKind::Conflict);
  DeleteOptions bad_rv;
  bad_rv.precondition_resource_version = "1";
  auto r2 = store_->remove(resources::kConfigMaps, "default", "c", bad_rv);
  ASSERT_FALSE(r2.ok());
  EXPECT_NE(r2.error().message.find("the ResourceVersion in the precondition (1) does not match"),
            std::string::npos);
  DeleteOptions good;
  good.precondition_uid = cm["metadata"]["uid"].get<std::string>();
  good.precondition_resource_version = rv_of(cm);
  auto r3 = store_->remove(resources::kConfigMaps, "default", "c", good);
  ASSERT_TRUE(r3.ok());
  EXPECT_TRUE(r3.value().deleted);
  auto r4 = store_->remove(resources::kConfigMaps, "default", "c");
  ASSERT_FALSE(r4.ok());
  EXPECT_EQ(r4.error().kind, ErrorKind::NotFound);
}

Json owned_by(Json obj, const Json& owner) {
  obj["metadata"]["ownerReferences"] = {{{"apiVersion", owner["apiVersion"]},
                                         {"kind", owner["kind"]},
                                         {"name", owner["metadata"]["name"]},
                                         {"uid", owner["metadata"]["uid"]},
                                         {"blockOwnerDeletion", true}}};
  return obj;
}

TEST_F(StoreTest, GarbageCollectsDependentsInBackground) {
  install_crd();
  Json owner = must_create(kWidgets, widget("owner", 1));
  must_create(resources::kConfigMaps, owned_by(configmap("dep1"), owner));
  Json dep2 = owned_by(configmap("dep2"), owner);
  dep2["metadata"]["finalizers"] = {"x/hold"};
  must_create(resources::kConfigMaps, dep2);
  must_create(resources::kConfigMaps, configmap("unrelated"));
  auto del = store_->remove(kWidgets, "default", "owner");
  ASSERT_TRUE(del.ok());
  EXPECT_TRUE(del.value().deleted);
  EXPECT_EQ(store_->get(resources::kConfigMaps, "default", "dep1").error().kind,
            ErrorKind::NotFound);
  auto held = store_->get(resources::kConfigMaps, "default", "dep2");
  ASSERT_TRUE(held.ok());
  EXPECT_TRUE(held.value()["metadata"].contains("deletionTimestamp"));
  EXPECT_TRUE(store_->get(resources::kConfigMaps, "default", "unrelated").ok());
}

// A controller acting on a stale cache may create a dependent after its
// owner is gone; the collector deletes it (the real one moments later, this
// store at once). Watchers see it come and go.
TEST_F(StoreTest, GarbageCollectsADependentCreatedAfterItsOwnerWasDeleted) {
  install_crd();
  Json owner = must_create(kWidgets, widget("owner", 1));
  Json other = must_create(kWidgets, widget("other", 1));
  ASSERT_TRUE(store_->remove(kWidgets, "default", "owner").ok());
  auto w = store_->watch(resources::kConfigMaps, "default",
                         WatchOptions{std::to_string(store_->resource_version())});
  ASSERT_TRUE(w.ok());
  auto late = store_->create(resources::kConfigMaps, "default", owned_by(configmap("late"), owner));
  ASSERT_TRUE(late.ok()) << late.error().message;
  EXPECT_EQ(store_->get(resources::kConfigMaps, "default", "late").error().kind,
            ErrorKind::NotFound);
  EXPECT_EQ(next_event(*w.value()).type, WatchEventType::Added);
  EXPECT_EQ(next_event(*w.value()).type, WatchEventType::Deleted);
  // One live owner keeps it; so does an owner this store never held.
  Json both = owned_by(configmap("both"), owner);
  both["metadata"]["ownerReferences"].push_back(
      owned_by(configmap("x"), other)["metadata"]["ownerReferences"][0]);
  must_create(resources::kConfigMaps, both);
  EXPECT_TRUE(store_->get(resources::kConfigMaps, "default", "both").ok());
  Json stranger = configmap("stranger");
  stranger["metadata"]["ownerReferences"] = {
      {{"apiVersion", "apps/v1"}, {"kind", "ReplicaSet"}, {"name", "rs"}, {"uid", "never-stored"}}};
  must_create(resources::kConfigMaps, stranger);
  EXPECT_TRUE(store_->get(resources::kConfigMaps, "default", "stranger").ok());
}

TEST_F(StoreTest, ForegroundDeletionWaitsForDependents) {
  install_crd();
  Json owner = must_create(kWidgets, widget("owner", 1));
  Json dep = owned_by(configmap("dep"), owner);
  dep["metadata"]["finalizers"] = {"x/hold"};
  must_create(resources::kConfigMaps, dep);
  DeleteOptions fg;
  fg.propagation_policy = PropagationPolicy::Foreground;
  auto del = store_->remove(kWidgets, "default", "owner", fg);
  ASSERT_TRUE(del.ok());
  EXPECT_FALSE(del.value().deleted);
  Json o = store_->get(kWidgets, "default", "owner").value();
  EXPECT_EQ(o["metadata"]["finalizers"], Json::array({"foregroundDeletion"}));
  // Releasing the dependent's finalizer lets both go.
  auto rel = store_->patch(resources::kConfigMaps, "default", "dep", PatchType::Merge,
                           Json{{"metadata", {{"finalizers", nullptr}}}});
  ASSERT_TRUE(rel.ok()) << rel.error().message;
  EXPECT_EQ(store_->get(resources::kConfigMaps, "default", "dep").error().kind,
            ErrorKind::NotFound);
  EXPECT_EQ(store_->get(kWidgets, "default", "owner").error().kind, ErrorKind::NotFound);
}

TEST_F(StoreTest, OrphanKeepsDependentsWithoutOwnerReference) {
  install_crd();
  Json owner = must_create(kWidgets, widget("owner", 1));
  must_create(resources::kConfigMaps, owned_by(configmap("dep"), owner));
  DeleteOptions orphan;
  orphan.propagation_policy = PropagationPolicy::Orphan;
  ASSERT_TRUE(store_->remove(kWidgets, "default", "owner", orphan).ok());
  auto dep = store_->get(resources::kConfigMaps, "default", "dep");
  ASSERT_TRUE(dep.ok());
  EXPECT_FALSE(dep.value()["metadata"].contains("ownerReferences"));
}

TEST_F(StoreTest, NamespaceDeletionRemovesContents) {
  Json ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "team"}}}};
  auto created = store_->create(resources::kNamespaces, "", ns);
  ASSERT_TRUE(created.ok());
  EXPECT_EQ(created.value()["status"]["phase"], "Active");
  Json cm = configmap("c");
  cm["metadata"]["namespace"] = "team";
  ASSERT_TRUE(store_->create(resources::kConfigMaps, "team", cm).ok());
  auto del = store_->remove(resources::kNamespaces, "", "team");
  ASSERT_TRUE(del.ok());
  EXPECT_TRUE(del.value().deleted);
  EXPECT_EQ(store_->get(resources::kConfigMaps, "team", "c").error().kind, ErrorKind::NotFound);
  EXPECT_EQ(store_->get(resources::kNamespaces, "", "team").error().kind, ErrorKind::NotFound);
}

TEST_F(StoreTest, ListSelectorsAndPagination) {
  install_crd();
  for (int i = 0; i < 5; ++i) {
    Json w = widget("w" + std::to_string(i), i);
    w["metadata"]["labels"] = {{"team", i % 2 ? "ml" : "web"}};
    if (i == 4) w["spec"]["model"] = "a100";
    must_create(kWidgets, w);
  }
  auto ml = store_->list(kWidgets, "default", ListOptions{"team in (ml)"});
  ASSERT_TRUE(ml.ok());
  EXPECT_EQ(ml.value().items.size(), 2u);
  ListOptions by_name;
  by_name.field_selector = "metadata.name=w3";
  auto one = store_->list(kWidgets, "", by_name);
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one.value().items.size(), 1u);
  EXPECT_EQ(one.value().items[0]["apiVersion"], "example.com/v1");
  ListOptions by_model;
  by_model.field_selector = "spec.model=a100";  // CRD selectableFields
  EXPECT_EQ(store_->list(kWidgets, "", by_model).value().items.size(), 1u);
  ListOptions bad;
  bad.field_selector = "spec.size=4";
  auto b = store_->list(kWidgets, "default", bad);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().kind, ErrorKind::BadRequest);
  EXPECT_NE(b.error().message.find("field label not supported: spec.size"), std::string::npos);
  ListOptions bad_label;
  bad_label.label_selector = "team in (";
  EXPECT_EQ(store_->list(kWidgets, "", bad_label).error().kind, ErrorKind::BadRequest);

  std::vector<std::string> names;
  ListOptions page;
  page.limit = 2;
  std::string first_rv;
  for (int guard = 0; guard < 10; ++guard) {
    auto r = store_->list(kWidgets, "default", page);
    ASSERT_TRUE(r.ok()) << r.error().message;
    if (first_rv.empty()) first_rv = r.value().resource_version;
    EXPECT_EQ(r.value().resource_version, first_rv);
    for (const auto& it : r.value().items)
      names.push_back(it["metadata"]["name"]);
    if (r.value().continue_token.empty()) break;
    page.continue_token = r.value().continue_token;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"w0", "w1", "w2", "w3", "w4"}));
  // A continue token from before a compaction is Gone.
  page.continue_token.clear();
  auto p1 = store_->list(kWidgets, "default", page);
  must_create(resources::kConfigMaps, configmap("bump"));
  store_->compact();
  page.continue_token = p1.value().continue_token;
  auto gone = store_->list(kWidgets, "default", page);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().kind, ErrorKind::Gone);
  EXPECT_EQ(gone.error().code, 410);
  ListOptions future;
  future.resource_version = "999999";
  EXPECT_EQ(store_->list(kWidgets, "", future).error().kind, ErrorKind::Timeout);
}

// Names and spec.size of every page of a paged list, following its tokens.
struct Paged {
  std::vector<std::string> names;
  std::vector<int> sizes;
  std::vector<std::string> rvs;  // the list's resourceVersion, per page
};

TEST_F(StoreTest, APagedListShowsEveryPageAsOfTheFirstPagesRevision) {
  install_crd();
  for (int i = 0; i < 6; ++i)
    must_create(kWidgets, widget("w" + std::to_string(i), i));
  ListOptions page;
  page.limit = 2;
  auto first = store_->list(kWidgets, "default", page);
  ASSERT_TRUE(first.ok());
  Paged got;
  auto take = [&](const ObjectList& l) {
    got.rvs.push_back(l.resource_version);
    for (const auto& o : l.items) {
      got.names.push_back(o["metadata"]["name"]);
      got.sizes.push_back(o["spec"]["size"]);
    }
  };
  take(*first);
  const Json w5_then = store_->get(kWidgets, "default", "w5").value();
  // Between pages: a creation ahead of the cursor, a change, a change made
  // twice, a deletion, and a creation behind the cursor.
  must_create(kWidgets, widget("w35", 35));
  ASSERT_TRUE(
      store_->patch(kWidgets, "default", "w3", PatchType::Merge, Json{{"spec", {{"size", 33}}}})
          .ok());
  for (int size : {50, 51}) {
    ASSERT_TRUE(
        store_->patch(kWidgets, "default", "w5", PatchType::Merge, Json{{"spec", {{"size", size}}}})
            .ok());
  }
  ASSERT_TRUE(store_->remove(kWidgets, "default", "w4").ok());
  must_create(kWidgets, widget("w00", 7));
  page.continue_token = first->continue_token;
  std::optional<Json> w5_seen;
  for (int guard = 0; guard < 10 && !page.continue_token.empty(); ++guard) {
    auto r = store_->list(kWidgets, "default", page);
    ASSERT_TRUE(r.ok()) << r.error().message;
    take(*r);
    for (const auto& o : r->items) {
      if (o["metadata"]["name"] == "w5") w5_seen = o;
    }
    page.continue_token = r->continue_token;
  }
  EXPECT_EQ(got.names, (std::vector<std::string>{"w0", "w1", "w2", "w3", "w4", "w5"}));
  EXPECT_EQ(got.sizes, (std::vector<int>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(got.rvs, std::vector<std::string>(3, first->resource_version));
  ASSERT_TRUE(w5_seen.has_value());
  EXPECT_EQ(*w5_seen, w5_then);  // resourceVersion included
  // A new list sees the present.
  auto now = store_->list(kWidgets, "default");
  ASSERT_TRUE(now.ok());
  std::vector<std::string> names;
  for (const auto& o : now->items)
    names.push_back(o["metadata"]["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"w0", "w00", "w1", "w2", "w3", "w35", "w5"}));
  EXPECT_EQ(now->resource_version, std::to_string(store_->resource_version()));
}

TEST_F(StoreTest, AContinueTokenOlderThanTheKeptHistoryIsExpiredAndOffersAnInconsistentResume) {
  options_.history_size = 4;
  SetUp();
  install_crd();
  for (int i = 0; i < 4; ++i)
    must_create(kWidgets, widget("w" + std::to_string(i), i));
  ListOptions page;
  page.limit = 2;
  auto first = store_->list(kWidgets, "default", page);
  ASSERT_TRUE(first.ok());
  // Three changes still fit in the history: the snapshot holds.
  for (int i = 0; i < 3; ++i)
    must_create(resources::kConfigMaps, configmap("cm" + std::to_string(i)));
  page.continue_token = first->continue_token;
  ASSERT_TRUE(store_->list(kWidgets, "default", page).ok());
  // Two more push the first page's revision out of it.
  must_create(kWidgets, widget("w9", 9));
  must_create(resources::kConfigMaps, configmap("cm9"));
  auto gone = store_->list(kWidgets, "default", page);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, 410);
  EXPECT_EQ(gone.error().reason, "Expired");
  EXPECT_EQ(gone.error().message.rfind("The provided continue parameter is too old to display a "
                                       "consistent list result.",
                                       0),
            0u);
  const Json status = to_status_json(gone.error());
  ASSERT_TRUE(status["metadata"].contains("continue"));
  // That token resumes after the same key, at the latest revision.
  page.continue_token = status["metadata"]["continue"];
  auto rest = store_->list(kWidgets, "default", page);
  ASSERT_TRUE(rest.ok()) << rest.error().message;
  std::vector<std::string> names;
  for (const auto& o : rest->items)
    names.push_back(o["metadata"]["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"w2", "w3"}));
  EXPECT_EQ(rest->resource_version, std::to_string(store_->resource_version()));
  EXPECT_FALSE(rest->continue_token.empty());  // w9 is next
}

TEST_F(StoreTest, AGarbledContinueTokenIsABadRequest) {
  install_crd();
  for (const char* token : {"%%%not-base64", "bm90IGpzb24",  // "not json"
                            "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MCwic3RhcnQiOiJ4In0",     // rv 0
                            "eyJ2IjoibWV0YS5rOHMuaW8vdjIiLCJydiI6Mywic3RhcnQiOiJ4In0"}) {  // v2
    ListOptions o;
    o.continue_token = token;
    auto r = store_->list(kWidgets, "default", o);
    ASSERT_FALSE(r.ok()) << token;
    EXPECT_EQ(r.error().code, 400) << token;
    EXPECT_EQ(r.error().message.rfind("invalid continue token: continue key is not valid: ", 0), 0u)
        << r.error().message;
  }
  ListOptions both;
  both.continue_token = "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6Mywic3RhcnQiOiJ4In0";
  both.resource_version = "3";
  EXPECT_EQ(store_->list(kWidgets, "default", both).error().kind, ErrorKind::BadRequest);
}

TEST_F(StoreTest, WatchFromZeroReplaysThenStreams) {
  install_crd();
  must_create(kWidgets, widget("a", 1));
  auto s = store_->watch(kWidgets, "default", WatchOptions{"0"});
  ASSERT_TRUE(s.ok());
  WatchEvent e = next_event(*s.value());
  EXPECT_EQ(e.type, WatchEventType::Added);
  EXPECT_EQ(e.object["metadata"]["name"], "a");
  EXPECT_EQ(e.object["kind"], "Widget");
  must_create(kWidgets, widget("b", 2));
  EXPECT_EQ(next_event(*s.value()).type, WatchEventType::Added);
  ASSERT_TRUE(
      store_->patch(kWidgets, "default", "a", PatchType::Merge, Json{{"spec", {{"size", 3}}}})
          .ok());
  WatchEvent m = next_event(*s.value());
  EXPECT_EQ(m.type, WatchEventType::Modified);
  EXPECT_EQ(m.object["spec"]["size"], 3);
  ASSERT_TRUE(store_->remove(kWidgets, "default", "b").ok());
  WatchEvent d = next_event(*s.value());
  EXPECT_EQ(d.type, WatchEventType::Deleted);
  EXPECT_EQ(rv_of(d.object), std::to_string(store_->resource_version()));
  EXPECT_EQ(s.value()->next(1ms).state, WatchStream::State::Timeout);
}

// update() reads the stored object in place (no copy) and moves it into the
// history: a refused update must leave it untouched, and watchers must still
// see the right previous version (a selector stops matching: DELETED).
TEST_F(StoreTest, UpdateKeepsTheStoredObjectWhenRefusedAndReportsThePreviousVersion) {
  options_.schema_validator = [](const Json&, Json& obj, const Json*) {
    SchemaCheck c;
    if (obj["spec"].value("size", 0) > 64) {
      c.causes.push_back({"FieldValueInvalid", "Invalid value: too big", "spec.size"});
    }
    return c;
  };
  SetUp();
  install_crd();
  Json a = widget("a", 1);
  a["metadata"]["labels"] = {{"team", "ml"}};
  a = must_create(kWidgets, a);
  auto s = store_->watch(kWidgets, "", WatchOptions{rv_of(a), "team=ml"});
  ASSERT_TRUE(s.ok());
  Json big = a;
  big["spec"]["size"] = 65;
  auto refused = store_->update(kWidgets, big);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind, ErrorKind::Invalid);
  auto kept = store_->get(kWidgets, "default", "a");
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept.value(), a);
  Json moved = a;
  moved["metadata"]["labels"]["team"] = "web";
  moved["spec"]["size"] = 2;
  auto updated = store_->update(kWidgets, moved);
  ASSERT_TRUE(updated.ok());
  EXPECT_EQ(updated.value()["spec"]["size"], 2);
  WatchEvent e = next_event(*s.value());
  EXPECT_EQ(e.type, WatchEventType::Deleted);
  EXPECT_EQ(e.object["spec"]["size"], 2);
  auto now = store_->get(kWidgets, "default", "a");
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(now.value(), updated.value());
}

TEST_F(StoreTest, WatchResumesFromVersionAndFollowsSelectors) {
  install_crd();
  Json a = must_create(kWidgets, widget("a", 1));
  std::string from = rv_of(a);
  Json b = widget("b", 1);
  b["metadata"]["labels"] = {{"team", "ml"}};
  must_create(kWidgets, b);
  ASSERT_TRUE(store_
                  ->patch(kWidgets, "default", "a", PatchType::Merge,
                          Json{{"metadata", {{"labels", {{"team", "ml"}}}}}})
                  .ok());
  WatchOptions o{from, "team=ml"};
  auto s = store_->watch(kWidgets, "", o);
  ASSERT_TRUE(s.ok());
  WatchEvent e1 = next_event(*s.value());
  EXPECT_EQ(e1.type, WatchEventType::Added);
  EXPECT_EQ(e1.object["metadata"]["name"], "b");
  WatchEvent e2 = next_event(*s.value());  // a starts matching: ADDED
  EXPECT_EQ(e2.type, WatchEventType::Added);
  EXPECT_EQ(e2.object["metadata"]["name"], "a");
  ASSERT_TRUE(store_
                  ->patch(kWidgets, "default", "a", PatchType::Merge,
                          Json{{"metadata", {{"labels", {{"team", "web"}}}}}})
                  .ok());
  WatchEvent e3 = next_event(*s.value());  // a stops matching: DELETED
  EXPECT_EQ(e3.type, WatchEventType::Deleted);
  EXPECT_EQ(e3.object["metadata"]["name"], "a");
  // Other namespaces / kinds do not leak in.
  must_create(resources::kConfigMaps, configmap("cm", {{"team", "ml"}}));
  EXPECT_EQ(s.value()->next(1ms).state, WatchStream::State::Timeout);
  auto bad = store_->watch(kWidgets, "", WatchOptions{"", "", "spec.size=1"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind, ErrorKind::BadRequest);
}

TEST_F(StoreTest, WatchFromCompactedVersionGetsExpiredEvent) {
  must_create(resources::kConfigMaps, configmap("a"));
  std::string old = std::to_string(store_->resource_version() - 1);
  must_create(resources::kConfigMaps, configmap("b"));
  store_->compact();
  auto s = store_->watch(resources::kConfigMaps, "default", WatchOptions{old});
  ASSERT_TRUE(s.ok());
  WatchEvent e = next_event(*s.value());
  EXPECT_EQ(e.type, WatchEventType::Error);
  ASSERT_TRUE(e.error.has_value());
  EXPECT_EQ(e.error->kind, ErrorKind::Gone);
  EXPECT_EQ(e.object["code"], 410);
  EXPECT_EQ(e.object["reason"], "Expired");
  EXPECT_EQ(e.object["message"], "too old resource version: " + old + " (" +
                                     std::to_string(store_->resource_version()) + ")");
  EXPECT_EQ(s.value()->next(1s).state, WatchStream::State::Closed);
}

TEST_F(StoreTest, HistoryWindowIsBounded) {
  options_.history_size = 3;
  SetUp();
  std::string start = std::to_string(store_->resource_version());
  for (int i = 0; i < 5; ++i)
    must_create(resources::kConfigMaps, configmap("c" + std::to_string(i)));
  auto s = store_->watch(resources::kConfigMaps, "", WatchOptions{start});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(next_event(*s.value()).type, WatchEventType::Error);
  // Within the window it replays.
  auto ok = store_->watch(resources::kConfigMaps, "",
                          WatchOptions{std::to_string(store_->resource_version() - 2)});
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(next_event(*ok.value()).object["metadata"]["name"], "c3");
  EXPECT_EQ(next_event(*ok.value()).object["metadata"]["name"], "c4");
}

TEST_F(StoreTest, BookmarksDropsAndSlowWatchers) {
  options_.watcher_queue_limit = 2;
  SetUp();
  auto with = store_->watch(resources::kConfigMaps, "", WatchOptions{"", "", "", true});
  auto without = store_->watch(resources::kConfigMaps, "", WatchOptions{"", "", "", false});
  ASSERT_TRUE(with.ok());
  ASSERT_TRUE(without.ok());
  EXPECT_EQ(store_->watcher_count(), 2u);
  store_->send_bookmarks();
  WatchEvent b = next_event(*with.value());
  EXPECT_EQ(b.type, WatchEventType::Bookmark);
  EXPECT_EQ(b.object["metadata"]["resourceVersion"], std::to_string(store_->resource_version()));
  EXPECT_EQ(b.object["kind"], "ConfigMap");
  EXPECT_EQ(without.value()->next(1ms).state, WatchStream::State::Timeout);
  // The slow watcher overflows (limit 2) and is dropped after draining.
  for (int i = 0; i < 3; ++i)
    must_create(resources::kConfigMaps, configmap("c" + std::to_string(i)));
  EXPECT_EQ(next_event(*without.value()).type, WatchEventType::Added);
  EXPECT_EQ(next_event(*without.value()).type, WatchEventType::Added);
  EXPECT_EQ(without.value()->next(1s).state, WatchStream::State::Closed);
  // drop_watches ends the rest.
  store_->drop_watches();
  EXPECT_EQ(with.value()->next(1s).state, WatchStream::State::Closed);
  EXPECT_EQ(store_->watcher_count(), 0u);
}

TEST_F(StoreTest, WatchTimeoutAndCancel) {
  auto s = store_->watch(resources::kConfigMaps, "", WatchOptions{"", "", "", false, 30s});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s.value()->next(1ms).state, WatchStream::State::Timeout);
  clock_.advance(31s);
  EXPECT_EQ(s.value()->next(1s).state, WatchStream::State::Closed);
  auto c = store_->watch(resources::kConfigMaps, "", WatchOptions{});
  ASSERT_TRUE(c.ok());
  c.value()->cancel();
  EXPECT_EQ(c.value()->next(1s).state, WatchStream::State::Closed);
}

TEST_F(StoreTest, DryRunPersistsNothing) {
  install_crd();
  int64_t before = store_->resource_version();
  CreateOptions dc;
  dc.dry_run = true;
  auto c = store_->create(kWidgets, "default", widget("a", 1), dc);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(store_->get(kWidgets, "default", "a").error().kind, ErrorKind::NotFound);
  Json w = must_create(kWidgets, widget("a", 1));
  before = store_->resource_version();
  PatchOptions dp;
  dp.dry_run = true;
  auto p =
      store_->patch(kWidgets, "default", "a", PatchType::Merge, Json{{"spec", {{"size", 9}}}}, dp);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p.value()["spec"]["size"], 9);
  DeleteOptions dd;
  dd.dry_run = true;
  auto d = store_->remove(kWidgets, "default", "a", dd);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d.value().deleted);
  EXPECT_EQ(store_->resource_version(), before);
  EXPECT_EQ(store_->get(kWidgets, "default", "a").value()["spec"]["size"], 1);
}

TEST_F(StoreTest, CrdRegistrationAndConditions) {
  EXPECT_FALSE(store_->find_type("example.com", "v1", "widgets").has_value());
  install_crd();
  Json crd = store_->get(kCrds, "", "widgets.example.com").value();
  EXPECT_EQ(gen_of(crd), 1);
  ASSERT_TRUE(crd["status"]["conditions"].is_array());
  std::map<std::string, std::string> conds;
  for (const auto& c : crd["status"]["conditions"])
    conds[c["type"]] = c["status"];
  EXPECT_EQ(conds["Established"], "True");
  EXPECT_EQ(conds["NamesAccepted"], "True");
  EXPECT_EQ(crd["status"]["acceptedNames"]["listKind"], "WidgetList");
  auto t = store_->find_type("example.com", "v1", "widgets");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->singular, "widget");
  EXPECT_EQ(t->short_names, std::vector<std::string>{"wd"});
  EXPECT_TRUE(t->status_subresource);
  ASSERT_TRUE(t->scale.has_value());
  ASSERT_EQ(t->printer_columns.size(), 1u);
  EXPECT_EQ(t->printer_columns[0].json_path, ".spec.size");
  EXPECT_EQ(store_->find_type_by_kind("example.com/v1", "Widget")->resource.resource, "widgets");
  // Re-applying the same CRD is a no-op.
  auto same = store_->update(kCrds, crd);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(rv_of(same.value()), rv_of(crd));
  // Deleting the CRD removes its objects and the resource.
  must_create(kWidgets, widget("a", 1));
  ASSERT_TRUE(store_->remove(kCrds, "", "widgets.example.com").ok());
  EXPECT_FALSE(store_->find_type("example.com", "v1", "widgets").has_value());
  EXPECT_EQ(store_->get(kWidgets, "default", "a").error().kind, ErrorKind::NotFound);
}

TEST_F(StoreTest, InvalidCrdIsRejectedWithCauses) {
  Json crd = widget_crd();
  crd["metadata"]["name"] = "wrong.example.com";
  crd["spec"]["versions"][0]["storage"] = false;
  auto r = store_->create(kCrds, "", crd);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Invalid);
  std::vector<std::string> fields;
  for (const auto& c : r.error().causes)
    fields.push_back(c.field);
  EXPECT_NE(std::find(fields.begin(), fields.end(), "metadata.name"), fields.end());
  EXPECT_NE(std::find(fields.begin(), fields.end(), "spec.versions"), fields.end());
}

TEST_F(StoreTest, SchemaValidationThroughHook) {
  // A hook standing in for the schema library: one unknown field, one cause.
  options_.schema_validator = [](const Json&, Json& obj, const Json*) {
    SchemaCheck c;
    if (obj["spec"].contains("extra")) {
      c.unknown_fields.push_back("spec.extra");
      obj["spec"].erase("extra");
    }
    if (obj["spec"].value("size", 0) > 64) {
      c.causes.push_back({"FieldValueInvalid",
                          "Invalid value: 65: spec.size in body should be less than or equal to 64",
                          "spec.size"});
    }
    return c;
  };
  SetUp();
  install_crd();
  auto big = store_->create(kWidgets, "default", widget("a", 65));
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().kind, ErrorKind::Invalid);
  EXPECT_EQ(big.error().message,
            "Widget.example.com \"a\" is invalid: spec.size: Invalid value: 65: spec.size in body "
            "should be less than or equal to 64");
  Json extra = widget("a", 1);
  extra["spec"]["extra"] = true;
  auto strict = store_->create(kWidgets, "default", extra);
  ASSERT_FALSE(strict.ok());
  EXPECT_EQ(strict.error().kind, ErrorKind::BadRequest);
  EXPECT_EQ(strict.error().message,
            "Widget in version \"v1\" cannot be handled as a Widget: strict decoding error: "
            "unknown field \"spec.extra\"");
  std::vector<std::string> warnings;
  CreateOptions warn;
  warn.field_validation = FieldValidation::Warn;
  warn.on_warning = [&](const std::string& w) { warnings.push_back(w); };
  auto warned = store_->create(kWidgets, "default", extra, warn);
  ASSERT_TRUE(warned.ok());
  EXPECT_EQ(warnings, std::vector<std::string>{"unknown field \"spec.extra\""});
  EXPECT_FALSE(warned.value()["spec"].contains("extra"));  // pruned
}

#ifdef GPUPOOL_HAVE_SCHEMA
TEST_F(StoreTest, CelRulesIncludingTransitionRules) {
  Json crd = widget_crd();
  Json& spec_schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
  spec_schema["x-kubernetes-validations"] = Json::parse(R"J([
    {"rule": "self.size >= self.replicas", "message": "size must be >= replicas"},
    {"rule": "self.model == oldSelf.model", "message": "model is immutable"}])J");
  ASSERT_TRUE(store_->create(kCrds, "", crd).ok());
  Json w = widget("a", 1);
  w["spec"]["replicas"] = 2;
  auto bad = store_->create(kWidgets, "default", w);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind, ErrorKind::Invalid);
  EXPECT_EQ(bad.error().causes.at(0).field, "spec");
  EXPECT_NE(bad.error().causes.at(0).message.find("size must be >= replicas"), std::string::npos);
  ASSERT_TRUE(store_->create(kWidgets, "default", widget("a", 4)).ok());  // create: no oldSelf
  auto change = store_->patch(kWidgets, "default", "a", PatchType::Merge,
                              Json{{"spec", {{"model", "a100"}}}});
  ASSERT_FALSE(change.ok());
  EXPECT_NE(change.error().message.find("model is immutable"), std::string::npos);
  // A CRD whose rule cannot compile is refused.
  Json broken = widget_crd();
  broken["metadata"]["name"] = "gadgets.example.com";
  broken["spec"]["names"] = {{"plural", "gadgets"}, {"kind", "Gadget"}};
  broken["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["x-kubernetes-validations"] =
      Json::parse(R"([{"rule": "self.spec.size ++ 1"}])");
  auto refused = store_->create(kCrds, "", broken);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind, ErrorKind::Invalid);
  ASSERT_EQ(refused.error().causes.size(), 1u) << refused.error().message;
  EXPECT_EQ(refused.error().causes[0].field, "spec.versions[0].schema.openAPIV3Schema");
}

TEST_F(StoreTest, DefaultSchemaValidationUsesCrdSchema) {
  install_crd();
  Json w = widget("a", 65);
  w["spec"]["model"] = "v100";
  auto r = store_->create(kWidgets, "default", w);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Invalid);
  ASSERT_EQ(r.error().causes.size(), 2u);
  Json missing = widget("b", 1);
  missing["spec"].erase("size");
  auto m = store_->create(kWidgets, "default", missing);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().causes.at(0).field, "spec.size");
  EXPECT_EQ(m.error().causes.at(0).message, "Required value");
}
#endif

TEST_F(StoreTest, ScaleSubresource) {
  install_crd();
  Json w = widget("a", 1);
  w["spec"]["replicas"] = 2;
  must_create(kWidgets, w);
  auto sc = store_->get(kWidgets, "default", "a", GetOptions{"scale"});
  ASSERT_TRUE(sc.ok()) << sc.error().message;
  EXPECT_EQ(sc.value()["kind"], "Scale");
  EXPECT_EQ(sc.value()["apiVersion"], "autoscaling/v1");
  EXPECT_EQ(sc.value()["spec"]["replicas"], 2);
  EXPECT_EQ(sc.value()["status"]["replicas"], 0);
  PatchOptions po;
  po.subresource = "scale";
  auto p = store_->patch(kWidgets, "default", "a", PatchType::Merge,
                         Json{{"spec", {{"replicas", 5}}}}, po);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p.value()["spec"]["replicas"], 5);
  Json obj = store_->get(kWidgets, "default", "a").value();
  EXPECT_EQ(obj["spec"]["replicas"], 5);
  EXPECT_EQ(gen_of(obj), 2);
  Json scale = p.value();
  scale["spec"]["replicas"] = -1;
  UpdateOptions uo;
  uo.subresource = "scale";
  auto neg = store_->update(kWidgets, scale, uo);
  ASSERT_FALSE(neg.ok());
  EXPECT_EQ(neg.error().kind, ErrorKind::Invalid);
  auto cm = store_->get(resources::kConfigMaps, "default", "x", GetOptions{"scale"});
  EXPECT_FALSE(cm.ok());
}

TEST_F(StoreTest, LeasesAndEventsCreateOnUpdate) {
  Json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                {"kind", "Lease"},
                {"metadata", {{"name", "lock"}, {"namespace", "default"}}},
                {"spec", {{"holderIdentity", "a"}}}};
  auto c = store_->update(resources::kLeases, lease);
  ASSERT_TRUE(c.ok()) << c.error().message;
  lease["spec"]["holderIdentity"] = "b";
  auto no_rv = store_->update(resources::kLeases, lease);
  ASSERT_FALSE(no_rv.ok());
  EXPECT_EQ(no_rv.error().kind, ErrorKind::Invalid);
  lease["metadata"]["resourceVersion"] = rv_of(c.value());
  ASSERT_TRUE(store_->update(resources::kLeases, lease).ok());
  auto stale = store_->update(resources::kLeases, lease);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().kind, ErrorKind::Conflict);
}

TEST_F(StoreTest, FaultInjection) {
  FaultRule rule;
  rule.verb = "create";
  rule.resource = "configmaps";
  rule.count = 2;
  rule.error = make_error(ErrorKind::TooManyRequests, "slow down");
  store_->inject_fault(rule);
  EXPECT_TRUE(store_->list(resources::kConfigMaps, "").ok());  // other verbs unaffected
  for (int i = 0; i < 2; ++i) {
    auto r = store_->create(resources::kConfigMaps, "default", configmap("a"));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind, ErrorKind::TooManyRequests);
  }
  EXPECT_TRUE(store_->create(resources::kConfigMaps, "default", configmap("a")).ok());
  store_->inject_fault({"", "", 1, make_error(ErrorKind::Internal, "boom")});
  EXPECT_EQ(store_->get(resources::kConfigMaps, "default", "a").error().code, 500);
  EXPECT_TRUE(store_->get(resources::kConfigMaps, "default", "a").ok());
}

TEST_F(StoreTest, ConcurrentWritersAndWatchersStayConsistent) {
  constexpr int kWriters = 4;
  constexpr int kOps = 150;
  auto watch = store_->watch(resources::kConfigMaps, "default", WatchOptions{"0"});
  ASSERT_TRUE(watch.ok());
  std::atomic<bool> writers_done{false};
  std::map<std::string, Json> seen;  // name -> last object seen through the watch
  std::atomic<bool> ordered{true};
  std::thread reader([&] {
    int64_t last = 0;
    for (;;) {
      auto n = watch.value()->next(20ms);
      if (n.state == WatchStream::State::Closed) return;
      if (n.state == WatchStream::State::Timeout) {
        if (writers_done.load()) return;
        continue;
      }
      int64_t rv = std::stoll(rv_of(n.event.object));
      if (rv <= last) ordered = false;
      last = rv;
      std::string name = n.event.object["metadata"]["name"];
      if (n.event.type == WatchEventType::Deleted) {
        seen.erase(name);
      } else {
        seen[name] = n.event.object;
      }
    }
  });
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < kOps; ++i) {
        std::string name = "c" + std::to_string(w) + "-" + std::to_string(i % 10);
        switch (i % 3) {
          case 0:
            (void)store_->create(resources::kConfigMaps, "default", configmap(name));
            break;
          case 1:
            (void)store_->patch(resources::kConfigMaps, "default", name, PatchType::Merge,
                                Json{{"data", {{"i", std::to_string(i)}}}});
            break;
          case 2:
            if (i % 2 == 0) (void)store_->remove(resources::kConfigMaps, "default", name);
            break;
        }
        (void)store_->list(resources::kConfigMaps, "", ListOptions{"", "", 3});
      }
    });
  }
  for (auto& t : writers)
    t.join();
  writers_done = true;
  reader.join();
  EXPECT_TRUE(ordered.load());
  auto final_list = store_->list(resources::kConfigMaps, "default");
  ASSERT_TRUE(final_list.ok());
  std::map<std::string, Json> expected;
  for (const auto& o : final_list.value().items)
    expected[o["metadata"]["name"]] = o;
  ASSERT_EQ(seen.size(), expected.size());
  for (const auto& [name, obj] : expected) {
    ASSERT_TRUE(seen.count(name)) << name;
    EXPECT_EQ(rv_of(seen[name]), rv_of(obj)) << name;
  }
}

}  // namespace
}  // namespace gpupool::kube
