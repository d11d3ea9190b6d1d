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
#include "tools/web/web_config.h"

namespace rewoo::tools {

// The web tools read their settings from the environment
// (WebConfig::from_env: REWOO_WEB_CONFIG, REWOO_SEARCH_URL, ...).
void register_builtin_tools(Registry& registry);
// The same with an explicit web configuration (from rewoo's config file).
void register_builtin_tools(Registry& registry, const web::WebConfig& web_config);

}  // namespace rewoo::tools
