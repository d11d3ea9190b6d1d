// libFuzzer target: function calls as the model writes them, in JSON and
// YAML (first input byte: 0 JSON, 1 YAML, else YAML-to-JSON alone). Checks:
// no crash or exception on any text; a parsed call has an object of params;
// rendering a parsed call (valid UTF-8) and parsing it again gives the same
// call. Build
// and run: see tests/fuzz/CMakeLists.txt.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/function_call.h"

using namespace rewoo::agent;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] > 1) {
    (void)yaml_to_json(text);
    return 0;
  }
  const CallFormat format = data[0] == 0 ? CallFormat::kJson : CallFormat::kYaml;
  auto call = parse_function_call(text, format);
  if (!call) {
    if (call.error().to_string().empty()) __builtin_trap();
    return 0;
  }
  if (!call->params.is_object()) __builtin_trap();
  for (CallFormat f : {CallFormat::kJson, CallFormat::kYaml}) (void)format_function_call(*call, f);
  // Bytes that are not UTF-8 are rendered as U+FFFD, so the round trip below
  // holds for calls that are text.
  try {
    (void)call->to_json().dump();
  } catch (const nlohmann::json::exception&) {
    return 0;
  }
  for (CallFormat f : {CallFormat::kJson, CallFormat::kYaml}) {
    auto again = parse_function_call(format_function_call(*call, f), f);
    if (!again || again->function != call->function || again->params != call->params)
      __builtin_trap();
  }
  return 0;
}
