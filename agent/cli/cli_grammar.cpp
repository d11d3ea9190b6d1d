// rewoo grammar check / match / from-schema / plan / call: the grammar engine
// from the command line.
#include <cstdio>
#include <memory>
#include <sstream>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "agent/cli/commands.h"
#include "agent/grammar/function_call_grammar.h"
#include "agent/grammar/grammar.h"
#include "agent/grammar/json_schema.h"
#include "agent/grammar/plan_grammar.h"
#include "agent/grammar/runtime_constraints.h"
#include "agent/runtime.h"
#include "engine/base/json_text.h"
#include "engine/base/read_file.h"
#include "tools/builtin_tools.h"

namespace rewoo::cli {

namespace {

using agent::grammar::Grammar;

// Reads path ("-": stdin) into *out; otherwise prints why, prefixed by cmd.
bool read_input(const std::string& path, std::string* out, const char* cmd) {
  auto r = read_whole_file(path, "the input");
  if (!r) {
    std::fprintf(stderr, "rewoo grammar %s: %s\n", cmd, r.error().to_string().c_str());
    return false;
  }
  *out = std::move(*r);
  return true;
}

// "line:col" of a byte offset (columns count UTF-8 characters).
std::string line_col(const std::string& text, size_t off) {
  int line = 1, col = 1;
  for (size_t i = 0; i < off && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
      ++col;
    }
  }
  return fmt::format("{}:{}", line, col);
}

struct GrammarArgs {
  std::string file, input, root = "root", schema, whitespace, tools_csv, format = "json";
  bool json = false, verbose = false, input_is_file = false;
  int any_order = 6, max_steps = agent::AgentOptions{}.max_steps;  // the agent's default
};

void print_json(const nlohmann::json& j) {
  std::printf("%s\n", json_text(j, 2).c_str());
}

void run_check(const GrammarArgs& a, Context& ctx) {
  std::string text;
  if (!read_input(a.file, &text, "check")) {
    ctx.exit_code = 2;
    return;
  }
  auto g = Grammar::parse(text, a.root);
  if (a.json) {
    nlohmann::json j = {{"file", a.file}, {"ok", g.ok()}};
    if (g) j["rules"] = g->rules().size();
    else j["error"] = {{"where", g.error().where}, {"message", g.error().message}};
    print_json(j);
  } else if (g) {
    std::printf("%s: ok (%zu rules after desugaring)\n", a.file.c_str(), g->rules().size());
    if (a.verbose) std::printf("%s", g->dump().c_str());
  } else {
    std::fprintf(stderr, "%s:%s\n", a.file.c_str(), g.error().to_string().c_str());
  }
  ctx.exit_code = g ? 0 : 1;
}

void run_match(const GrammarArgs& a, Context& ctx) {
  std::string text, input;
  if (!read_input(a.file, &text, "match")) {
    ctx.exit_code = 2;
    return;
  }
  auto g = Grammar::parse(text, a.root);
  if (!g) {
    std::fprintf(stderr, "%s:%s\n", a.file.c_str(), g.error().to_string().c_str());
    ctx.exit_code = 2;
    return;
  }
  if (a.input == "-" || a.input.empty()) {
    if (!read_input("-", &input, "match")) {
      ctx.exit_code = 2;
      return;
    }
  } else if (a.input_is_file) {
    if (!read_input(a.input, &input, "match")) {
      ctx.exit_code = 2;
      return;
    }
  } else {
    input = a.input;
  }
  auto r = g->match(input);
  std::string why;
  if (!r.complete) {
    why =
        r.consumed < input.size()
            ? fmt::format("{}: not in the language: the grammar cannot continue with {}",
                          line_col(input, r.consumed),
                          json_text(nlohmann::json(input.substr(r.consumed, 12))))
            : fmt::format("{}: not in the language: the input ends where the grammar expects more",
                          line_col(input, input.size()));
  }
  if (a.json) {
    nlohmann::json j = {{"match", r.complete}, {"consumed", r.consumed}};
    if (!r.complete) j["error"] = why;
    print_json(j);
  } else if (r.complete) {
    std::printf("match\n");
  } else {
    std::fprintf(stderr, "%s\n", why.c_str());
  }
  ctx.exit_code = r.complete ? 0 : 1;
}

void run_from_schema(const GrammarArgs& a, Context& ctx) {
  std::string text;
  if (!read_input(a.schema, &text, "from-schema")) {
    ctx.exit_code = 2;
    return;
  }
  nlohmann::json schema;
  try {
    schema = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: not JSON: %s\n", a.schema.c_str(), e.what());
    ctx.exit_code = 1;
    return;
  }
  agent::grammar::SchemaOptions o;
  o.whitespace = a.whitespace;
  o.any_order_limit = a.any_order;
  auto g = agent::grammar::schema_to_gbnf(schema, o);
  if (!g) {
    std::fprintf(stderr, "%s: %s\n", a.schema.c_str(), g.error().to_string().c_str());
    ctx.exit_code = 1;
    return;
  }
  std::printf("%s", g->c_str());
  ctx.exit_code = 0;
}

Result<tools::Registry> builtin_registry(const std::string& csv) {
  tools::Registry reg;
  tools::register_builtin_tools(reg);
  if (csv.empty()) return reg;
  std::vector<std::string> names;
  std::stringstream ss(csv);
  for (std::string n; std::getline(ss, n, ',');)
    if (!n.empty()) names.push_back(n);
  return reg.restricted_to(names);
}

void run_plan(const GrammarArgs& a, Context& ctx) {
  auto reg = builtin_registry(a.tools_csv);
  if (!reg) {
    std::fprintf(stderr, "rewoo grammar plan: %s\n", reg.error().to_string().c_str());
    ctx.exit_code = 2;
    return;
  }
  auto g = agent::grammar::plan_grammar_gbnf(*reg, agent::grammar::runtime_plan_options(a.max_steps));
  if (!g) {
    std::fprintf(stderr, "rewoo grammar plan: %s\n", g.error().to_string().c_str());
    ctx.exit_code = 1;
    return;
  }
  std::printf("%s", g->c_str());
}

void run_call(const GrammarArgs& a, Context& ctx) {
  auto reg = builtin_registry(a.tools_csv);
  if (!reg) {
    std::fprintf(stderr, "rewoo grammar call: %s\n", reg.error().to_string().c_str());
    ctx.exit_code = 2;
    return;
  }
  agent::CallFormat f = a.format == "yaml" || a.format == "YAML" ? agent::CallFormat::kYaml : agent::CallFormat::kJson;
  auto g = agent::grammar::function_call_gbnf(*reg, f, agent::grammar::runtime_call_options());
  if (!g) {
    std::fprintf(stderr, "rewoo grammar call: %s\n", g.error().to_string().c_str());
    ctx.exit_code = 1;
    return;
  }
  std::printf("%s", g->c_str());
}

}  // namespace

void register_grammar_commands(CLI::App& app, Context& ctx) {
  auto* grammar = app.add_subcommand("grammar", "GBNF grammars: check, match, JSON Schema and plan grammars");
  grammar->require_subcommand(1);
  auto a = std::make_shared<GrammarArgs>();

  auto* check = grammar->add_subcommand("check", "Parse a GBNF grammar; exit 0 if valid, 1 with line:col errors");
  check->add_option("file", a->file, "grammar file, or - for standard input")->required();
  check->add_option("--root", a->root, "start rule")->capture_default_str();
  check->add_flag("--json", a->json, "machine-readable output");
  check->add_flag("-v,--verbose", a->verbose, "print the desugared byte-level rules");
  check->footer(
      "Examples:\n"
      "  rewoo grammar check ../shared/data/grammars/json.gbnf\n"
      "  echo 'root ::= \"a\" b' | rewoo grammar check -     # 1:14: undefined rule 'b'");
  check->callback([a, &ctx] { run_check(*a, ctx); });

  auto* match = grammar->add_subcommand(
      "match", "Is INPUT in the grammar's language? exit 0 yes, 1 no (with where it fails), 2 bad grammar");
  match->add_option("file", a->file, "grammar file")->required();
  match->add_option("input", a->input, "the text to test, or - (default) for standard input");
  match->add_flag("-f,--input-file", a->input_is_file, "INPUT names a file to read");
  match->add_option("--root", a->root, "start rule")->capture_default_str();
  match->add_flag("--json", a->json, "machine-readable output");
  match->footer(
      "Examples:\n"
      "  rewoo grammar match ../shared/data/grammars/json.gbnf '{\"a\": [1, 2]}'\n"
      "  rewoo generate ... | rewoo grammar match my.gbnf -\n"
      "  rewoo grammar match chess.gbnf -f game.txt --json");
  match->callback([a, &ctx] { run_match(*a, ctx); });

  auto* fs = grammar->add_subcommand(
      "from-schema", "Print the GBNF grammar for a JSON Schema; exit 1 naming any unsupported keyword");
  fs->add_option("schema", a->schema, "JSON Schema file, or - for standard input")->required();
  fs->add_option("--whitespace", a->whitespace,
                 "GBNF for the space allowed around JSON punctuation (default: none, compact JSON)");
  fs->add_option("--any-order-limit", a->any_order,
                 "objects with at most this many properties (0 to 8) accept them in any order; "
                 "larger ones take them in sorted key order")
      ->capture_default_str()
      ->check(CLI::Range(0, 8));
  fs->footer(
      "Supported: type, enum, const, properties, required, additionalProperties, items, prefixItems,\n"
      "minItems/maxItems, minLength/maxLength, pattern, minimum/maximum/exclusive*, anyOf, oneOf\n"
      "(as anyOf), allOf, local $ref/$defs, boolean schemas, nullable.\n"
      "Examples:\n"
      "  rewoo grammar from-schema person.schema.json > person.gbnf\n"
      "  rewoo grammar from-schema s.json --whitespace '[ \\t\\n]*'");
  fs->callback([a, &ctx] { run_from_schema(*a, ctx); });

  auto* plan = grammar->add_subcommand("plan", "Print the plan grammar the agent decodes under, for the built-in tools");
  plan->add_option("--tools", a->tools_csv, "only these tools (comma-separated)");
  plan->add_option("--max-steps", a->max_steps, "most :evidenceN: steps (1 to 100)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  plan->footer("Example:\n  rewoo grammar plan --tools DuckDuckGo,KnowledgeModel --max-steps 5");
  plan->callback([a, &ctx] { run_plan(*a, ctx); });

  auto* call = grammar->add_subcommand("call", "Print the function-call grammar the agent decodes under, for the built-in tools");
  call->add_option("--tools", a->tools_csv, "only these tools (comma-separated)");
  call->add_option("--format", a->format, "json or yaml")
      ->capture_default_str()
      ->check(CLI::IsMember({"json", "yaml", "JSON", "YAML"}));
  call->footer("Example:\n  rewoo grammar call --format yaml");
  call->callback([a, &ctx] { run_call(*a, ctx); });
}

}  // namespace rewoo::cli
