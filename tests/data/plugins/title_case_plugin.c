/* A complete shared-library tool for rewoo: TitleCase capitalizes the first
 * letter of each word of its input (ASCII letters; other bytes unchanged).
 *
 *   cc -shared -fPIC -I<rewoo>/tools/plugins -o libtitle_case_plugin.so title_case_plugin.c
 *
 * An empty input is an error, to show how a tool reports one. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "rewoo_plugin.h"

static int title_case_invoke(const char* input, size_t len, char** output) {
  if (len == 0) {
    *output = strdup("TitleCase needs some text");
    return 1;
  }
  char* out = malloc(len + 1);
  if (!out) return 1;
  int start = 1;
  for (size_t i = 0; i < len; ++i) {
    unsigned char c = (unsigned char)input[i];
    out[i] = (char)(start ? toupper(c) : c);
    start = isspace(c) || c == '-';
  }
  out[len] = '\0';
  *output = out;
  return 0;
}

static void title_case_free(char* output) { free(output); }

static const rewoo_plugin kTitleCase = {
    REWOO_PLUGIN_API_VERSION,
    "TitleCase",
    "Capitalizes the first letter of every word of the input.",
    "text to capitalize",
    "{\"type\": \"object\", \"properties\": {\"text\": {\"type\": \"string\"}}, "
    "\"required\": [\"text\"]}",
    title_case_invoke,
    title_case_free,
};

REWOO_PLUGIN_EXPORT const rewoo_plugin* rewoo_plugin_entry(void) { return &kTitleCase; }
