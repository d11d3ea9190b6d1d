// LibraryTool (see plugin_tools.h): a tool from a shared library built
// against rewoo_plugin.h.
#include <dlfcn.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "tools/plugins/arguments.h"
#include "tools/plugins/plugin_tools.h"
#include "tools/plugins/rewoo_plugin.h"
#include "tools/registry.h"

namespace rewoo::tools::plugins {

using json = nlohmann::json;
using std::chrono::milliseconds;

namespace {

// The dlopen handle; closed when the last tool and the last running call
// (even an abandoned one) let go of it.
struct Library {
  void* handle = nullptr;
  const rewoo_plugin* plugin = nullptr;
  std::string path;
  ~Library() {
    if (handle) dlclose(handle);
  }
};

struct CallState {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  int rc = 0;
  std::string output;
};

class LibraryTool : public Tool {
 public:
  LibraryTool(std::shared_ptr<Library> lib, std::string name, std::optional<json> schema,
              milliseconds timeout)
      : lib_(std::move(lib)), name_(std::move(name)), schema_(std::move(schema)), timeout_(timeout) {}

  std::string name() const override { return name_; }
  std::string description() const override { return one_line(lib_->plugin->description, 400); }
  std::string input_description() const override {
    return lib_->plugin->input_description ? lib_->plugin->input_description : "text";
  }
  std::optional<json> parameters_schema() const override { return schema_; }
  std::string kind() const override { return "library"; }
  std::string source() const override { return lib_->path; }

  ToolResult invoke(const std::string& input, const ToolContext& ctx) override {
    auto state = std::make_shared<CallState>();
    // The call runs on its own thread so that a plugin that hangs costs a
    // thread, not the step: the step times out and the thread is abandoned.
    std::thread([lib = lib_, state, input] {
      char* out = nullptr;
      int rc = lib->plugin->invoke(input.c_str(), input.size(), &out);
      std::string text = out ? out : "";
      if (out) lib->plugin->free_output(out);
      std::lock_guard<std::mutex> lock(state->mu);
      state->rc = rc;
      state->output = std::move(text);
      state->done = true;
      state->cv.notify_all();
    }).detach();
    milliseconds timeout = call_timeout(timeout_, ctx.timeout);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::unique_lock<std::mutex> lock(state->mu);
    while (!state->done) {
      if (ctx.is_cancelled()) return ToolResult::failure("the library tool '" + name_ + "' was cancelled");
      if (std::chrono::steady_clock::now() >= deadline)
        return ToolResult::failure("the library tool '" + name_ + "' (" + lib_->path +
                                   ") did not return within " + std::to_string(timeout.count()) +
                                   " ms; its call was abandoned");
      state->cv.wait_until(lock, std::min(deadline, std::chrono::steady_clock::now() +
                                                        milliseconds(50)));
    }
    if (state->rc != 0)
      return ToolResult::failure("the library tool '" + name_ + "' reported an error: " +
                                 state->output);
    return ToolResult::success(std::move(state->output));
  }

 private:
  std::shared_ptr<Library> lib_;
  std::string name_;
  std::optional<json> schema_;
  milliseconds timeout_;
};

}  // namespace

Result<ToolPtr> load_library_tool(const LibraryToolConfig& cfg, const Limits& limits) {
  auto lib = std::make_shared<Library>();
  lib->path = cfg.path;
  dlerror();
  lib->handle = dlopen(cfg.path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib->handle) {
    const char* e = dlerror();
    return Error(std::string("cannot load the library tool: ") + (e ? e : "dlopen failed"), cfg.path);
  }
  auto entry = reinterpret_cast<rewoo_plugin_entry_fn>(dlsym(lib->handle, REWOO_PLUGIN_ENTRY_SYMBOL));
  if (!entry)
    return Error("not a rewoo plugin: it does not export " REWOO_PLUGIN_ENTRY_SYMBOL
                 "() (see tools/plugins/rewoo_plugin.h)",
                 cfg.path);
  lib->plugin = entry();
  const rewoo_plugin* p = lib->plugin;
  if (!p) return Error(REWOO_PLUGIN_ENTRY_SYMBOL "() returned NULL", cfg.path);
  if (p->api_version != REWOO_PLUGIN_API_VERSION)
    return Error("the plugin was built for rewoo plugin API version " +
                     std::to_string(p->api_version) + ", but this rewoo supports version " +
                     std::to_string(REWOO_PLUGIN_API_VERSION) +
                     "; rebuild it against this rewoo's tools/plugins/rewoo_plugin.h",
                 cfg.path);
  if (!p->name || !p->description || !p->invoke || !p->free_output)
    return Error("the plugin leaves name, description, invoke or free_output NULL", cfg.path);
  std::string name = cfg.name.empty() ? p->name : cfg.name;
  if (!Registry::is_valid_name(name))
    return Error("invalid tool name '" + name +
                     "': expected a letter, then letters, digits, '_', '-' or '.'",
                 cfg.path);
  std::optional<json> schema;
  if (p->parameters_schema) {
    json j = json::parse(p->parameters_schema, nullptr, false);
    if (j.is_discarded() || !j.is_object())
      return Error("the plugin's parameters_schema is not a JSON object", cfg.path);
    schema = j;
  }
  return ToolPtr(std::make_shared<LibraryTool>(lib, name, schema,
                                               cfg.timeout.value_or(limits.tool_timeout)));
}

}  // namespace rewoo::tools::plugins
