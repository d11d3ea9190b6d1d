/* rewoo_plugin.h: the C interface of a shared-library tool for rewoo.
 *
 * A plugin is a shared library (.so) that exports one function,
 * rewoo_plugin_entry(), returning a pointer to a static rewoo_plugin that
 * describes one tool. rewoo loads it with dlopen, checks api_version, and
 * registers the tool under `name`. In a plan, `Name[input]` calls invoke()
 * with the step's input (evidence already substituted).
 *
 *   #include "rewoo_plugin.h"
 *   static int invoke(const char* input, size_t len, char** output) {
 *     *output = strdup("...");  // the evidence, or an error message
 *     return *output ? 0 : 1;   // 0 = success, non-zero = error evidence
 *   }
 *   static void free_output(char* p) { free(p); }
 *   static const rewoo_plugin kPlugin = {
 *       REWOO_PLUGIN_API_VERSION, "TitleCase", "Capitalizes each word.",
 *       "text", NULL, invoke, free_output};
 *   REWOO_PLUGIN_EXPORT const rewoo_plugin* rewoo_plugin_entry(void) { return &kPlugin; }
 *
 * Build:  cc -shared -fPIC -I<rewoo>/tools/plugins -o libtitle_case.so title_case.c
 * Config: plugins: { libraries: [ { path: ./libtitle_case.so } ] }
 *
 * Rules for plugin authors:
 * - invoke() may be called from several threads at once: keep it reentrant.
 * - invoke() runs inside rewoo: a crash in it is a crash of rewoo. A call
 *   that overruns its timeout is reported as an error and its thread is
 *   abandoned. Prefer an MCP server or a command tool for code you do not
 *   trust.
 * - *output must be allocated by the plugin and is released by rewoo with
 *   free_output(); it must be NUL-terminated UTF-8 text. A NULL *output is
 *   treated as empty text.
 * - parameters_schema is JSON Schema text (or NULL for one text input).
 */
#ifndef REWOO_PLUGIN_H_
#define REWOO_PLUGIN_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped when the struct below changes incompatibly; rewoo refuses a plugin
 * built for another version. */
#define REWOO_PLUGIN_API_VERSION 1

#define REWOO_PLUGIN_ENTRY_SYMBOL "rewoo_plugin_entry"

#if defined(__GNUC__)
#define REWOO_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define REWOO_PLUGIN_EXPORT
#endif

typedef struct rewoo_plugin {
  /* REWOO_PLUGIN_API_VERSION as the plugin was compiled. Always first. */
  uint32_t api_version;
  /* Tool name: a letter, then letters, digits, '_', '-' or '.'. */
  const char* name;
  /* One line for the planner: what the tool does. */
  const char* description;
  /* What the input is ("a search query"); NULL = "text". */
  const char* input_description;
  /* JSON Schema of the parameters as JSON text; NULL = one text input. */
  const char* parameters_schema;
  /* Runs the tool on `input` (input_len bytes, NUL-terminated). Sets *output
   * to text the plugin allocated. Returns 0 on success; non-zero makes
   * *output an error message. */
  int (*invoke)(const char* input, size_t input_len, char** output);
  /* Releases a string returned through invoke's *output. */
  void (*free_output)(char* output);
} rewoo_plugin;

/* The one symbol rewoo looks up. */
typedef const rewoo_plugin* (*rewoo_plugin_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* REWOO_PLUGIN_H_ */
