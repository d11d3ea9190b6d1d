/* A plugin that claims a future API version: rewoo must refuse it. */
#include <stddef.h>

#include "rewoo_plugin.h"

static int invoke(const char* input, size_t len, char** output) {
  (void)input, (void)len;
  *output = NULL;
  return 0;
}
static void free_output(char* p) { (void)p; }

static const rewoo_plugin kPlugin = {REWOO_PLUGIN_API_VERSION + 98, "FromTheFuture", "x", NULL,
                                     NULL, invoke, free_output};

REWOO_PLUGIN_EXPORT const rewoo_plugin* rewoo_plugin_entry(void) { return &kPlugin; }
