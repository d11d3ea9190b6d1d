// `rewoo index`: builds or refreshes the local document index that the
// `local` search backend answers from.
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/cli/commands.h"
#include "engine/base/json_text.h"
#include "tools/local/local_index.h"
#include "tools/local/local_search_tool.h"

namespace rewoo::cli {

void register_local_commands(CLI::App& app, Context& ctx) {
  struct Opts {
    std::string dir, db;
    std::vector<std::string> queries;
    int limit = 5;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand(
      "index",
      "Index a folder of .md, .txt and .html documents for offline search (SQLite FTS5, BM25).\n"
      "Only changed files are re-read; files that are gone are dropped. Documents are then\n"
      "addressed as doc://<path relative to DIR>.");
  cmd->add_option("DIR", o->dir, "folder of documents")->required();
  cmd->add_option("--db", o->db, "index database (default: DIR/.rewoo-index.db)");
  cmd->add_option("--query,-q", o->queries, "after indexing, search for this (repeatable)");
  cmd->add_option("--limit,-n", o->limit, "results per query")->default_val(5);
  cmd->add_flag("--json", o->json, "print the statistics (and results) as JSON");
  cmd->footer(
      "Examples:\n"
      "  rewoo index tests/data/demo/corpus\n"
      "  rewoo index ~/notes --db ~/.cache/rewoo/notes.db -q \"meeting with Ada\"\n"
      "Then select the local backend for search (web configuration: backend: local).");
  cmd->callback([o, &ctx] {
    std::filesystem::path db =
        o->db.empty() ? tools::default_index_path(o->dir) : std::filesystem::path(o->db);
    if (!std::filesystem::is_directory(o->dir)) {
      std::fprintf(stderr, "rewoo index: %s is not a folder\n", o->dir.c_str());
      ctx.exit_code = 2;
      return;
    }
    auto idx = tools::LocalIndex::open(db);
    if (!idx) {
      std::fprintf(stderr, "rewoo index: %s\n", idx.error().to_string().c_str());
      ctx.exit_code = 1;
      return;
    }
    auto stats = idx->update(o->dir);
    if (!stats) {
      std::fprintf(stderr, "rewoo index: %s\n", stats.error().to_string().c_str());
      ctx.exit_code = 1;
      return;
    }
    nlohmann::json j = {{"db", db.string()},          {"root", idx->root()},
                        {"scanned", stats->scanned},  {"added", stats->added},
                        {"updated", stats->updated},  {"unchanged", stats->unchanged},
                        {"removed", stats->removed},  {"skipped", stats->skipped},
                        {"documents", stats->documents}, {"seconds", stats->seconds}};
    if (!o->json)
      std::printf("%s: %zu documents (%zu added, %zu updated, %zu unchanged, %zu removed, "
                  "%zu skipped) in %.2f s\n",
                  db.c_str(), stats->documents, stats->added, stats->updated, stats->unchanged,
                  stats->removed, stats->skipped, stats->seconds);
    for (const auto& q : o->queries) {
      auto hits = idx->search(q, o->limit);
      if (!hits) {
        std::fprintf(stderr, "rewoo index: %s\n", hits.error().to_string().c_str());
        ctx.exit_code = 1;
        return;
      }
      if (o->json) {
        nlohmann::json arr = nlohmann::json::array();
        for (const auto& h : *hits)
          arr.push_back({{"url", h.url}, {"title", h.title}, {"snippet", h.snippet},
                         {"score", h.score}});
        j["results"][q] = arr;
      } else {
        std::printf("\n%s\n", tools::format_local_hits(q, *hits).c_str());
      }
    }
    if (o->json) std::printf("%s\n", json_text(j, 2).c_str());
  });
}

}  // namespace rewoo::cli
