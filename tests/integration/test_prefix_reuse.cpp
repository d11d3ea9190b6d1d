// Prefix reuse end to end: `rewoo run` over demo-model tasks prefills the
// planner's fixed preamble (tools block and instructions) once, and writes
// exactly the plans, evidence and answers that --no-prefix-cache writes.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "tests/test_util.h"

using namespace rewoo;
using nlohmann::json;

namespace {

std::map<std::string, json> read_results(const std::filesystem::path& p) {
  std::map<std::string, json> out;
  std::ifstream in(p);
  std::string line;
  while (std::getline(in, line)) {
    json j = json::parse(line, nullptr, false);
    REQUIRE_MESSAGE(j.is_object(), line);
    out[j["id"].get<std::string>()] = j;
  }
  return out;
}

}  // namespace

TEST_CASE("rewoo run reuses the planner preamble across tasks, with the same results as --no-prefix-cache") {
  auto model = test::demo_model_dir();
  REQUIRE(std::filesystem::exists(model / "model.safetensors"));
  std::string rewoo = (test::binary_dir() / "rewoo").string();
  test::TempDir dir;
  const auto corpus = test::copy_demo_corpus(dir);
  {
    std::ofstream t(dir / "tasks.jsonl");
    t << R"({"id": "a", "task": "When was Sheindza founded?", "mode": "ask"})" << "\n"
      << R"({"id": "b", "task": "Where was Stisho Aniwain born?", "mode": "ask"})" << "\n"
      << R"({"id": "c", "task": "In which region is Steipoum?", "mode": "ask"})" << "\n";
  }
  std::map<std::string, std::map<std::string, json>> results;
  std::map<std::string, std::string> logs;
  for (std::string mode : {"on", "off"}) {
    auto out_file = dir / ("results-" + mode + ".jsonl");
    std::string cmd = "REWOO_SEARCH_BACKEND=local REWOO_LOCAL_DIR=" + corpus.string() + " " + rewoo +
                      " run --input " + (dir / "tasks.jsonl").string() + " --output " + out_file.string() +
                      " --model " + model.string() + " --temperature 0 --repeat-penalty 1 -q --threads 2" +
                      (mode == "off" ? " --no-prefix-cache" : "") + " 2>&1";
    int rc = test::run_command(cmd, &logs[mode]);
    REQUIRE_MESSAGE(rc == 0, logs[mode]);
    results[mode] = read_results(out_file);
    REQUIRE(results[mode].size() == 3);
  }
  int cached_plans = 0;
  for (const auto& entry : results["on"]) {
    const std::string& id = entry.first;
    const json& on = entry.second;
    CAPTURE(id);
    const json& off = results["off"][id];
    CHECK(on["plan"] == off["plan"]);
    CHECK(on["evidence"].size() == off["evidence"].size());
    for (size_t i = 0; i < on["evidence"].size() && i < off["evidence"].size(); ++i)
      CHECK(on["evidence"][i]["output"] == off["evidence"][i]["output"]);
    CHECK(on["answer"] == off["answer"]);
    CHECK(on["tokens"]["plan_prompt"] == off["tokens"]["plan_prompt"]);
    CHECK(off["timings"]["plan_prompt_cached_tokens"] == 0);
    CHECK(off["timings"]["solve_prompt_cached_tokens"] == 0);
    int cached = on["timings"]["plan_prompt_cached_tokens"].get<int>();
    CHECK(cached < on["tokens"]["plan_prompt"].get<int>());
    // The preamble is most of the planner prompt; only the task differs.
    if (cached * 10 > on["tokens"]["plan_prompt"].get<int>() * 8) ++cached_plans;
  }
  CHECK(results["on"]["a"]["timings"]["plan_prompt_cached_tokens"] == 0);  // the first prefills it
  CHECK(cached_plans == 2);
  CHECK(logs["on"].find("reused from the prefix cache") != std::string::npos);
  CHECK(logs["off"].find("reused from the prefix cache 0") != std::string::npos);
}
