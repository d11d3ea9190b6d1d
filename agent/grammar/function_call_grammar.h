// Function-call grammars from the tools' parameter schemas, in the two
// shapes the seed model writes (agent/function_call.h parses both):
//
//   JSON: {"function": "<tool>", "params": <that tool's params schema>}
//   YAML: function: <tool>
//         params:
//           key: value          (block style, two-space indent)
//
// YAML values: plain scalars for unconstrained strings (never ones the YAML
// core schema would read as a number, boolean or null), JSON flow style for
// everything else (JSON is valid YAML). Params keep schema order in YAML and
// may come in any order in JSON. Only declared params are written: objects
// with `properties` are closed unless they say additionalProperties.
#pragma once

#include <string>

#include "agent/grammar/json_schema.h"
#include "agent/prompt_render.h"
#include "engine/base/result.h"
#include "tools/registry.h"

namespace rewoo::agent::grammar {

// Errors: no tools, or a tool whose schema cannot be converted (the message
// names the tool and the keyword).
Result<std::string> function_call_gbnf(const tools::Registry& registry, CallFormat format,
                                       const SchemaOptions& params_options = {"\" \"?", 6});

}  // namespace rewoo::agent::grammar
