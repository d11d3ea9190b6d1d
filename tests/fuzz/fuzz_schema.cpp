// libFuzzer target: JSON Schema -> GBNF. Any JSON input either converts to a
// grammar that parses, or fails with an error; never crashes. Build and run:
// see tests/fuzz/CMakeLists.txt.
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "agent/grammar/grammar.h"
#include "agent/grammar/json_schema.h"

using namespace rewoo::agent::grammar;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  auto j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  SchemaOptions o;
  if (size & 1) o.whitespace = "[ \\t\\n]*";
  auto gbnf = schema_to_gbnf(j, o);
  if (!gbnf) return 0;
  auto g = Grammar::parse(*gbnf);
  if (!g) __builtin_trap();  // the converter must only write valid GBNF
  (void)g->matches(j.dump());
  (void)g->matches("{}");
  return 0;
}
