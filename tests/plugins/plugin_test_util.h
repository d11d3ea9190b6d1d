// Helpers for the plugin tests: the fixtures' paths, the npm-installed MCP
// servers, and config files written into a temporary folder.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "tests/test_util.h"
#include "tools/config.h"

namespace rewoo::test {

inline std::filesystem::path plugin_data_dir() { return source_dir() / "tests/data/plugins"; }
inline std::filesystem::path plugin_build_dir() { return REWOO_PLUGIN_DIR; }
inline std::string fake_server() { return (plugin_data_dir() / "fake_mcp_server.py").string(); }

// The versions the tests were written against.
inline const char* kNpmPackages =
    "@modelcontextprotocol/server-everything@2026.8.31 "
    "@modelcontextprotocol/server-filesystem@2026.8.31";

// The MCP servers from npm, installed once into <build>/npm (the tests need
// the npm registry the first time). Returns the folder, or "" with the
// installer's output in *log.
inline std::string npm_servers_dir(std::string* log) {
  auto dir = binary_dir() / "npm";
  auto marker = dir / "node_modules/@modelcontextprotocol/server-filesystem/dist/index.js";
  auto marker2 = dir / "node_modules/@modelcontextprotocol/server-everything/dist/index.js";
  if (std::filesystem::exists(marker) && std::filesystem::exists(marker2)) return dir.string();
  std::filesystem::create_directories(dir);
  // flock: two test binaries may install at once.
  std::string cmd = "flock '" + (dir / ".lock").string() + "' npm install --prefix '" +
                    dir.string() + "' --no-audit --no-fund --loglevel=error " + kNpmPackages;
  std::string out;
  int rc = run_command(cmd, &out);
  if (rc != 0 || !std::filesystem::exists(marker) || !std::filesystem::exists(marker2)) {
    if (log) *log = "`" + cmd + "` failed (" + std::to_string(rc) + "):\n" + out;
    return "";
  }
  return dir.string();
}

// Sets the variables the example configs in tests/data/plugins use.
inline void set_example_env(const std::string& npm_dir = "", const std::string& files_root = "") {
  setenv("REWOO_PLUGIN_DIR", plugin_build_dir().c_str(), 1);
  if (!npm_dir.empty()) setenv("REWOO_NPM_DIR", npm_dir.c_str(), 1);
  if (!files_root.empty()) setenv("FILES_ROOT", files_root.c_str(), 1);
}

inline void write_file(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
}

// The rewoo CLI, quoted for run_command.
inline std::string rewoo_cli() {
  std::string quoted = "'";  // built up in steps: GCC 12 warns (-Wrestrict) on "'" + string&&
  quoted += (binary_dir() / "rewoo").string();
  quoted += "'";
  return quoted;
}

}  // namespace rewoo::test
