#include "operator/controllers/pending_pods.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace gpupool::controllers {
namespace {

using kube::Json;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

// The Node of pool "train": labelled, tainted for GPUs only.
NodeShape train_node() {
  return NodeShape{
      {{"gpupool.io/pool", "train"}, {"nvidia.com/gpu.product", "L40S"}, {"gpus", "4"}},
      {"nvidia.com/gpu=present:NoSchedule", "dedicated:NoExecute", "soft=1:PreferNoSchedule"}};
}

// A pod the scheduler could not place, asking for `gpus` GPUs, tolerating the
// train node's hard taints.
Json pod(const std::string& name, Json gpus = "1") {
  return Json{
      {"metadata", {{"name", name}, {"namespace", "ml"}}},
      {"spec",
       {{"containers",
         Json::array({{{"name", "main"},
                       {"resources", {{"limits", {{"nvidia.com/gpu", gpus}, {"cpu", "8"}}}}}}})},
        {"tolerations",
         Json::array({{{"key", "nvidia.com/gpu"}, {"operator", "Exists"}, {"effect", "NoSchedule"}},
                      {{"key", "dedicated"}, {"operator", "Exists"}}})}}},
      {"status",
       {{"phase", "Pending"},
        {"conditions",
         Json::array(
             {{{"type", "PodScheduled"}, {"status", "False"}, {"reason", "Unschedulable"}}})}}}};
}

PendingGpuDemand demand(const std::vector<Json>& pods, const NodeShape& node = train_node()) {
  return pending_gpu_demand(pods, node);
}
// Whether this one pod is counted.
bool counted(const Json& p, const NodeShape& node = train_node()) {
  const PendingGpuDemand d = demand({p}, node);
  EXPECT_EQ(d.pods == 1, d.gpus > 0);
  return d.pods == 1;
}

TEST(PendingGpuDemand, CountsTheGpusOfUnschedulablePodsThatFitThePool) {
  const PendingGpuDemand d = demand({pod("a", "1"), pod("b", "2")});
  EXPECT_EQ(d.gpus, 3);
  EXPECT_EQ(d.pods, 2);
  EXPECT_THAT(d.skipped, IsEmpty());
  EXPECT_EQ(demand({}).gpus, 0);
}

TEST(PendingGpuDemand, OnlyPodsWaitingForANodeCount) {
  ASSERT_TRUE(counted(pod("base")));
  Json scheduled = pod("scheduled");
  scheduled["spec"]["nodeName"] = "node-1";  // already bound, still Pending (pulling)
  EXPECT_FALSE(counted(scheduled));
  Json running = pod("running");
  running["status"]["phase"] = "Running";
  EXPECT_FALSE(counted(running));
  Json deleting = pod("deleting");
  deleting["metadata"]["deletionTimestamp"] = "2026-06-01T00:00:00Z";
  EXPECT_FALSE(counted(deleting));
  Json untried = pod("untried");
  untried["status"].erase("conditions");
  EXPECT_FALSE(counted(untried));
  Json gated = pod("gated");
  gated["status"]["conditions"][0]["reason"] = "SchedulingGated";
  EXPECT_FALSE(counted(gated));
  Json placed = pod("placed");
  placed["status"]["conditions"][0]["status"] = "True";
  EXPECT_FALSE(counted(placed));
  // None of these is a reason for people: they are not demand.
  EXPECT_THAT(demand({scheduled, running, deleting, untried, gated, placed}).skipped, IsEmpty());
}

TEST(PendingGpuDemand, APodsGpusAreLimitsElseRequestsSummedOverContainersAndMaxedOverInits) {
  Json p = pod("p");
  auto& c = p["spec"]["containers"][0]["resources"];
  c["limits"]["nvidia.com/gpu"] = "2";
  c["requests"] = {{"nvidia.com/gpu", "1"}};
  EXPECT_EQ(demand({p}).gpus, 2);  // limits win
  c.erase("limits");
  EXPECT_EQ(demand({p}).gpus, 1);       // requests alone
  c["requests"]["nvidia.com/gpu"] = 3;  // a JSON number
  EXPECT_EQ(demand({p}).gpus, 3);
  p["spec"]["containers"].push_back(
      {{"name", "second"}, {"resources", {{"limits", {{"nvidia.com/gpu", "2"}}}}}});
  EXPECT_EQ(demand({p}).gpus, 5);  // Σ containers
  p["spec"]["initContainers"] =
      Json::array({{{"name", "warm"}, {"resources", {{"limits", {{"nvidia.com/gpu", "8"}}}}}}});
  EXPECT_EQ(demand({p}).gpus, 8);  // an init container needing more
  p["spec"]["initContainers"][0]["resources"]["limits"]["nvidia.com/gpu"] = "4";
  EXPECT_EQ(demand({p}).gpus, 5);  // ... or less
  // A sidecar (restartPolicy Always) runs beside the containers and the
  // init containers after it.
  p["spec"]["initContainers"] =
      Json::array({{{"name", "sidecar"},
                    {"restartPolicy", "Always"},
                    {"resources", {{"limits", {{"nvidia.com/gpu", "1"}}}}}},
                   {{"name", "warm"}, {"resources", {{"limits", {{"nvidia.com/gpu", "6"}}}}}}});
  EXPECT_EQ(demand({p}).gpus, 7);  // max(5 + 1, 6 + 1)
  p["spec"]["initContainers"][1]["resources"]["limits"]["nvidia.com/gpu"] = "2";
  EXPECT_EQ(demand({p}).gpus, 6);  // max(5 + 1, 2 + 1)
  // A pod asking for no GPUs is not GPU demand.
  Json cpu = pod("cpu");
  cpu["spec"]["containers"][0]["resources"]["limits"].erase("nvidia.com/gpu");
  const PendingGpuDemand d = demand({cpu});
  EXPECT_EQ(d.pods, 0);
  EXPECT_THAT(d.skipped, IsEmpty());
}

TEST(PendingGpuDemand, GarbageQuantitiesSkipThePodWithAReasonAndNeverThrow) {
  for (const Json& bad : {Json("1.5"), Json("abc"), Json("-1"), Json("1k"), Json(""), Json(-2),
                          Json(1.5), Json(true), Json::object(), Json("99999999999999999999")}) {
    const PendingGpuDemand d = demand({pod("bad", bad), pod("good", "2")});
    EXPECT_EQ(d.gpus, 2) << bad.dump();
    EXPECT_EQ(d.pods, 1) << bad.dump();
    ASSERT_EQ(d.skipped.size(), 1u) << bad.dump();
    EXPECT_EQ(d.skipped[0],
              "ml/bad: nvidia.com/gpu quantity '" + bad.dump() + "' is not a whole number of GPUs");
  }
  // Shapes that are not pods at all.
  Json odd = pod("odd");
  odd["spec"]["containers"] = "none";
  Json odder = pod("odder");
  odder["spec"] = 7;
  const PendingGpuDemand d = demand({Json(5), Json::array(), odd, odder, pod("good", "1")});
  EXPECT_EQ(d.gpus, 1);
  EXPECT_EQ(d.pods, 1);
}

TEST(PendingGpuDemand, ANodeSelectorMustBeASubsetOfThePoolsLabels) {
  Json p = pod("p");
  p["spec"]["nodeSelector"] = {{"gpupool.io/pool", "train"}, {"nvidia.com/gpu.product", "L40S"}};
  EXPECT_TRUE(counted(p));
  // A pod for another pool's GPUs.
  p["spec"]["nodeSelector"]["gpupool.io/pool"] = "other";
  const PendingGpuDemand d = demand({p});
  EXPECT_EQ(d.pods, 0);
  EXPECT_THAT(d.skipped, ElementsAre("ml/p: nodeSelector gpupool.io/pool=other does not match the "
                                     "pool's node labels"));
  // A label the Node will not carry.
  Json q = pod("q");
  q["spec"]["nodeSelector"] = {{"zone", "eu-1"}};
  EXPECT_FALSE(counted(q));
}

Json with_affinity(Json terms) {
  Json p = pod("aff");
  p["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] = {
      {"nodeSelectorTerms", std::move(terms)}};
  return p;
}
Json expr(const std::string& key, const std::string& op, std::vector<std::string> values = {}) {
  Json e = {{"key", key}, {"operator", op}};
  if (!values.empty()) e["values"] = values;
  return e;
}
Json term(std::vector<Json> exprs) {
  return Json{{"matchExpressions", exprs}};
}

TEST(PendingGpuDemand, RequiredNodeAffinityMustMatchThePoolsLabels) {
  const auto one = [](Json e) {
    return counted(with_affinity(Json::array({term({std::move(e)})})));
  };
  EXPECT_TRUE(one(expr("gpupool.io/pool", "In", {"dev", "train"})));
  EXPECT_FALSE(one(expr("gpupool.io/pool", "In", {"dev"})));
  EXPECT_TRUE(one(expr("gpupool.io/pool", "NotIn", {"dev"})));
  EXPECT_FALSE(one(expr("gpupool.io/pool", "NotIn", {"train"})));
  EXPECT_TRUE(one(expr("zone", "NotIn", {"eu-1"})));  // an absent label is not in any set
  EXPECT_TRUE(one(expr("nvidia.com/gpu.product", "Exists")));
  EXPECT_FALSE(one(expr("zone", "Exists")));
  EXPECT_TRUE(one(expr("zone", "DoesNotExist")));
  EXPECT_FALSE(one(expr("gpupool.io/pool", "DoesNotExist")));
  EXPECT_TRUE(one(expr("gpus", "Gt", {"3"})));
  EXPECT_FALSE(one(expr("gpus", "Gt", {"4"})));
  EXPECT_TRUE(one(expr("gpus", "Lt", {"5"})));
  EXPECT_FALSE(one(expr("gpus", "Lt", {"4"})));
  EXPECT_FALSE(one(expr("gpupool.io/pool", "Gt", {"1"})));  // not an integer
  EXPECT_FALSE(one(expr("gpupool.io/pool", "Like", {"train"})));

  const Json in_train = expr("gpupool.io/pool", "In", {"train"});
  const Json in_dev = expr("gpupool.io/pool", "In", {"dev"});
  // AND within a term, OR across terms.
  EXPECT_FALSE(counted(with_affinity(Json::array({term({in_train, in_dev})}))));
  EXPECT_TRUE(counted(with_affinity(Json::array({term({in_dev}), term({in_train})}))));
  // An empty term or an empty list matches nothing.
  EXPECT_FALSE(counted(with_affinity(Json::array({Json::object()}))));
  EXPECT_FALSE(counted(with_affinity(Json::array())));
  // matchFields (a named Node) never matches, even next to expressions that do.
  Json fields = term({in_train});
  fields["matchFields"] = Json::array({expr("metadata.name", "In", {"node-7"})});
  EXPECT_FALSE(counted(with_affinity(Json::array({fields}))));
  EXPECT_TRUE(counted(with_affinity(Json::array({fields, term({in_train})}))));
  // People hear why.
  EXPECT_THAT(demand({with_affinity(Json::array({term({in_dev})}))}).skipped,
              ElementsAre("ml/aff: required node affinity does not match the pool's node labels"));
}

TEST(PendingGpuDemand, APodMustTolerateEveryHardTaintOfTheNode) {
  Json p = pod("p");
  p["spec"]["tolerations"] = Json::array({{{"key", "nvidia.com/gpu"}, {"operator", "Exists"}}});
  // "dedicated:NoExecute" is not tolerated.
  const PendingGpuDemand d = demand({p});
  EXPECT_EQ(d.pods, 0);
  EXPECT_THAT(d.skipped,
              ElementsAre("ml/p: does not tolerate the pool's taint dedicated:NoExecute"));
  // PreferNoSchedule taints do not keep pods off.
  NodeShape soft = train_node();
  soft.taints = {"soft=1:PreferNoSchedule"};
  EXPECT_TRUE(counted(pod("q"), soft));
  p["spec"]["tolerations"] = Json::array();
  EXPECT_TRUE(counted(p, soft));
  EXPECT_TRUE(counted(p, NodeShape{train_node().labels, {}}));

  NodeShape gpu_only = train_node();
  gpu_only.taints = {"nvidia.com/gpu=present:NoSchedule"};
  const auto tolerated = [&](Json toleration) {
    Json t = pod("t");
    t["spec"]["tolerations"] = Json::array({std::move(toleration)});
    return counted(t, gpu_only);
  };
  EXPECT_TRUE(tolerated({{"key", "nvidia.com/gpu"}, {"operator", "Equal"}, {"value", "present"}}));
  EXPECT_TRUE(tolerated({{"key", "nvidia.com/gpu"}, {"value", "present"}}));  // Equal by default
  EXPECT_FALSE(tolerated({{"key", "nvidia.com/gpu"}, {"operator", "Equal"}, {"value", "absent"}}));
  EXPECT_FALSE(tolerated({{"key", "nvidia.com/gpu"}, {"operator", "Equal"}}));
  EXPECT_TRUE(tolerated({{"key", "nvidia.com/gpu"}, {"operator", "Exists"}}));
  EXPECT_FALSE(tolerated({{"key", "other"}, {"operator", "Exists"}}));
  EXPECT_TRUE(tolerated({{"operator", "Exists"}}));  // empty key: everything
  EXPECT_TRUE(
      tolerated({{"key", "nvidia.com/gpu"}, {"operator", "Exists"}, {"effect", "NoSchedule"}}));
  EXPECT_FALSE(
      tolerated({{"key", "nvidia.com/gpu"}, {"operator", "Exists"}, {"effect", "NoExecute"}}));
  EXPECT_FALSE(tolerated({{"key", "nvidia.com/gpu"}, {"operator", "Gt"}, {"value", "present"}}));
  // An unparseable taint is tolerated only by a tolerate-everything pod.
  NodeShape broken = train_node();
  broken.taints = {"no-effect"};
  Json plain = pod("plain");
  plain["spec"].erase("tolerations");
  EXPECT_FALSE(counted(plain, broken));
  plain["spec"]["tolerations"] = Json::array({{{"operator", "Exists"}}});
  EXPECT_TRUE(counted(plain, broken));
}

TEST(PendingGpuDemand, ReasonsAreCappedAndInInputOrder) {
  std::vector<Json> pods;
  for (int i = 0; i < 8; ++i) {
    Json p = pod("p" + std::to_string(i));
    p["spec"]["nodeSelector"] = {{"gpupool.io/pool", "other"}};
    pods.push_back(p);
  }
  const PendingGpuDemand d = pending_gpu_demand(pods, train_node(), 3);
  ASSERT_EQ(d.skipped.size(), 3u);
  EXPECT_THAT(d.skipped[0], ::testing::StartsWith("ml/p0: "));
  EXPECT_THAT(d.skipped[2], ::testing::StartsWith("ml/p2: "));
  EXPECT_THAT(pending_gpu_demand(pods, train_node(), 0).skipped, IsEmpty());
}

TEST(ParseTaint, ReadsBothFormsAndRefusesTheRest) {
  EXPECT_EQ(parse_taint("nvidia.com/gpu=present:NoSchedule"),
            (Taint{"nvidia.com/gpu", "present", "NoSchedule"}));
  EXPECT_EQ(parse_taint("dedicated:NoExecute"), (Taint{"dedicated", "", "NoExecute"}));
  EXPECT_EQ(parse_taint("a=b=c:PreferNoSchedule"), (Taint{"a", "b=c", "PreferNoSchedule"}));
  EXPECT_EQ(parse_taint("no-effect"), std::nullopt);
  EXPECT_EQ(parse_taint("k:Sometimes"), std::nullopt);
  EXPECT_EQ(parse_taint(":NoSchedule"), std::nullopt);
  EXPECT_EQ(parse_taint("=v:NoSchedule"), std::nullopt);
}

}  // namespace
}  // namespace gpupool::controllers
