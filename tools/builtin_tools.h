// The built-in tools every rewoo build knows: the seed model's four tool
// names (DuckDuckGo, TextScraper, HyperlinkExtractor, KnowledgeModel).
//
//   tools::Registry reg;
//   tools::register_builtin_tools(reg);
//
// A tool whose implementation has not landed yet is registered as a
// placeholder: plans naming it pass `rewoo plan check`, and calling it fails
// with a clear "not available in this build" message.
#pragma once

#include "tools/registry.h"

namespace rewoo::tools {

void register_builtin_tools(Registry& registry);

}  // namespace rewoo::tools
