/* Sleepy[N]: sleeps N milliseconds, then answers "slept N ms". For the
 * timeout test: a library tool that hangs must not hang the step. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "rewoo_plugin.h"

static int invoke(const char* input, size_t len, char** output) {
  (void)len;
  long ms = strtol(input, NULL, 10);
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
  *output = malloc(64);
  if (!*output) return 1;
  snprintf(*output, 64, "slept %ld ms", ms);
  return 0;
}
static void free_output(char* p) { free(p); }

static const rewoo_plugin kPlugin = {REWOO_PLUGIN_API_VERSION, "Sleepy",
                                     "Sleeps for the given milliseconds.", "milliseconds", NULL,
                                     invoke, free_output};

REWOO_PLUGIN_EXPORT const rewoo_plugin* rewoo_plugin_entry(void) { return &kPlugin; }
