// rewoo generate / model info / model random / quantize: the engine's commands.
#include <cstdio>
#include <memory>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "agent/cli/commands.h"
#include "agent/grammar/grammar_processor.h"
#include "engine/base/json_text.h"
#include "engine/base/read_file.h"
#include "engine/generator.h"
#include "engine/model.h"
#include "engine/model_loader.h"
#include "engine/model_writer.h"
#include "engine/quantizer.h"

#include <unistd.h>

#include <array>
#include <filesystem>
#include <fstream>

namespace rewoo::cli {

namespace {

using namespace rewoo::engine;

struct GenerateArgs {
  std::string model, tokenizer, prompt, device = "auto";
  float temperature = 0.0f, top_p = 1.0f, repeat_penalty = 1.0f;
  int top_k = 0, max_tokens = 256, threads = 0;
  uint64_t seed = 0;
  std::vector<std::string> stop;
  bool json = false, no_bos = false, stats = false, exact = false;
  std::string grammar_file, json_schema_file;  // grammar-constrained output (agent/grammar)
};

void run_generate(const GenerateArgs& a, Context& ctx) {
  auto dev = parse_device(a.device);
  if (!dev) {
    fmt::print(stderr, "rewoo generate: {}\n", dev.error().to_string());
    ctx.exit_code = 2;
    return;
  }
  LoadOptions lo;
  lo.tokenizer_path = a.tokenizer;
  lo.backend.device = *dev;
  lo.backend.threads = a.threads;
  lo.backend.exact = a.exact;
  auto m = Model::load(a.model, lo);
  if (!m) {
    fmt::print(stderr, "rewoo generate: {}\n", m.error().to_string());
    ctx.exit_code = 1;
    return;
  }
  Generator gen(**m);
  GenerateOptions o;
  o.max_tokens = a.max_tokens;
  o.temperature = a.temperature;
  o.top_p = a.top_p;
  o.top_k = a.top_k;
  o.repetition_penalty = a.repeat_penalty;
  o.seed = a.seed;
  o.stop = a.stop;
  o.add_bos = !a.no_bos;
  if (!a.grammar_file.empty() || !a.json_schema_file.empty()) {
    auto p = agent::grammar::grammar_processor_from_files(a.grammar_file, a.json_schema_file, (*m)->tokenizer());
    if (!p) {
      fmt::print(stderr, "rewoo generate: {}\n", p.error().to_string());
      ctx.exit_code = 1;
      return;
    }
    o.processor = *p;
  }
  TextCallback cb;
  if (!a.json) cb = [](std::string_view s) {
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fflush(stdout);
    return true;
  };
  auto r = gen.generate(a.prompt, o, cb);
  if (!r) {
    fmt::print(stderr, "rewoo generate: {}\n", r.error().to_string());
    ctx.exit_code = 1;
    return;
  }
  int n = static_cast<int>(r->tokens.size());
  if (a.json) {
    nlohmann::json j = {{"text", r->text},           {"tokens", r->tokens},
                        {"prompt_tokens", r->prompt_tokens}, {"stop_reason", stop_reason_name(r->stop_reason)},
                        {"prefill_ms", r->prefill_ms}, {"decode_ms", r->decode_ms},
                        {"backend", (*m)->backend().name()}};
    fmt::print("{}\n", json_text(j));
  }
  if (a.stats || a.json)
    fmt::print(stderr, "\n[{}; prompt {} tokens in {:.1f} ms; {} tokens in {:.1f} ms ({:.2f} tok/s); stop: {}]\n",
               (*m)->backend().name(), r->prompt_tokens, r->prefill_ms, n, r->decode_ms,
               n > 1 ? (n - 1) * 1000.0 / std::max(1e-9, r->decode_ms) : 0.0, stop_reason_name(r->stop_reason));
}

void run_model_info(const std::string& path, bool json, Context& ctx) {
  auto w = load_weights(path);
  if (!w) {
    fmt::print(stderr, "rewoo model info: {}\n", w.error().to_string());
    ctx.exit_code = 1;
    return;
  }
  const auto& c = (*w)->config;
  const auto& q = (*w)->quant;
  if (json) {
    nlohmann::json j = {{"dim", c.dim}, {"hidden_dim", c.hidden_dim}, {"n_layers", c.n_layers},
                        {"n_heads", c.n_heads}, {"n_kv_heads", c.n_kv_heads}, {"head_dim", c.head_dim},
                        {"vocab_size", c.vocab_size}, {"max_seq_len", c.max_seq_len}, {"rope_theta", c.rope_theta},
                        {"rope_scaling_factor", c.rope_scaling_factor}, {"norm_eps", c.norm_eps},
                        {"tie_embeddings", c.tie_embeddings}, {"bits", q.bits}, {"group_size", q.group_size},
                        {"desc_act", q.desc_act}, {"sym", q.sym}, {"n_params", (*w)->n_params()},
                        {"decode_bytes", (*w)->decode_bytes()}};
    fmt::print("{}\n", json_text(j, 2));
    return;
  }
  fmt::print("model:        {}\n", path);
  fmt::print("config:       {}\n", c.summary());
  fmt::print("quantization: {}\n", q.summary());
  fmt::print("parameters:   {:.3f} M\n", (*w)->n_params() / 1e6);
  fmt::print("decode reads: {:.1f} MB of weights per token\n", (*w)->decode_bytes() / 1e6);
}

// The Llama 2 tokenizer from the shared data folder, looked for beside the
// working directory and beside the executable (build/rewoo in a checkout).
std::filesystem::path find_llama2_tokenizer() {
  namespace fs = std::filesystem;
  const fs::path rel = fs::path("shared") / "data" / "tokenizers" / "llama2" / "tokenizer.model";
  std::vector<fs::path> bases = {fs::current_path(), fs::current_path().parent_path()};
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (fs::path p = exe.parent_path(); !p.empty() && p != p.root_path(); p = p.parent_path()) bases.push_back(p);
  }
  for (auto& b : bases)
    if (fs::exists(b / rel)) return b / rel;
  return {};
}

struct RandomArgs {
  std::string out, shape = "tiny", tokenizer;
  int bits = 4, group_size = 128, layers = 0;
  bool act_order = false, float32 = false, force = false;
  uint64_t seed = 0;
};

void run_model_random(const RandomArgs& a, Context& ctx) {
  namespace fs = std::filesystem;
  auto shape = shape_by_name(a.shape);
  if (!shape) {
    fmt::print(stderr, "rewoo model random: {}\n", shape.error().to_string());
    ctx.exit_code = 2;
    return;
  }
  if (a.layers > 0) shape->n_layers = a.layers;
  {
    std::error_code ec;
    if (fs::exists(a.out) && !fs::is_empty(a.out, ec) && !a.force) {
      fmt::print(stderr, "rewoo model random: {} exists and is not empty; pass --force to write into it\n", a.out);
      ctx.exit_code = 2;
      return;
    }
  }
  RandomOptions ro;
  ro.bits = a.bits;
  ro.group_size = a.group_size;
  ro.act_order = a.act_order;
  ro.seed = a.seed;
  fmt::print(stderr, "rewoo: making a random {} model ({}; {} bits, group {}{}) in {}\n", a.shape, shape->summary(),
             a.bits, a.group_size, a.act_order ? ", act-order" : "", a.out);
  auto w = random_weights(*shape, ro);
  if (!w) {
    fmt::print(stderr, "rewoo model random: {}\n", w.error().to_string());
    ctx.exit_code = 2;
    return;
  }
  if (auto st = save_model_dir(**w, a.out, a.float32); !st) {
    fmt::print(stderr, "rewoo model random: {}\n", st.error().to_string());
    ctx.exit_code = 1;
    return;
  }
  // Marks the folder so `rewoo ask` and friends can say the output is noise.
  std::ofstream(fs::path(a.out) / "RANDOM_WEIGHTS")
      << "This model has random weights (rewoo model random --shape " << a.shape << " --seed "
      << a.seed << "): its output is noise.\n";
  fs::path tok = a.tokenizer.empty() ? find_llama2_tokenizer() : fs::path(a.tokenizer);
  if (tok.empty()) {
    fmt::print(stderr, "rewoo: warning: no Llama 2 tokenizer.model found; pass --tokenizer to copy one beside the model\n");
  } else {
    std::error_code ec;
    fs::copy_file(tok, fs::path(a.out) / "tokenizer.model", fs::copy_options::overwrite_existing, ec);
    if (ec) {
      fmt::print(stderr, "rewoo model random: cannot copy {}: {}\n", tok.string(), ec.message());
      ctx.exit_code = 1;
      return;
    }
  }
  fmt::print("{}\n", a.out);
}

struct QuantArgs {
  std::string in, out, calib, tokenizer;
  int bits = 4, group_size = 128;
  bool act_order = false, rtn = false, force = false;
  float damp = 0.1f;
};

void run_quantize(const QuantArgs& a, Context& ctx) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(a.out) && !fs::is_empty(a.out, ec) && !a.force) {
    fmt::print(stderr, "rewoo quantize: {} exists and is not empty; pass --force to write into it\n", a.out);
    ctx.exit_code = 2;
    return;
  }
  auto w = load_weights(a.in);
  if (!w) {
    fmt::print(stderr, "rewoo quantize: {}\n", w.error().to_string());
    ctx.exit_code = 1;
    return;
  }
  QuantizeOptions qo;
  qo.bits = a.bits;
  qo.group_size = a.group_size;
  qo.act_order = a.act_order;
  qo.damp = a.damp;
  qo.rtn = a.rtn;
  qo.progress = [](const std::string& s) { fmt::print(stderr, "rewoo quantize: {}\n", s); };
  fs::path tokp = a.tokenizer;
  if (tokp.empty()) {
    fs::path dir = fs::is_directory(a.in) ? fs::path(a.in) : fs::path(a.in).parent_path();
    if (fs::exists(dir / "tokenizer.model")) tokp = dir / "tokenizer.model";
  }
  if (!a.calib.empty()) {
    if (tokp.empty()) {
      fmt::print(stderr, "rewoo quantize: --calib needs a tokenizer (--tokenizer PATH)\n");
      ctx.exit_code = 2;
      return;
    }
    auto tok = Tokenizer::load(tokp);
    if (!tok) {
      fmt::print(stderr, "rewoo quantize: {}\n", tok.error().to_string());
      ctx.exit_code = 1;
      return;
    }
    auto read = read_whole_file(a.calib, "the calibration text");
    if (!read) {
      fmt::print(stderr, "rewoo quantize: {}\n", read.error().to_string());
      ctx.exit_code = 2;
      return;
    }
    const std::string& text = *read;
    auto ids = (*tok)->encode(text, false);
    const size_t chunk = static_cast<size_t>(std::min((*w)->config.max_seq_len, 512)) - 1;
    for (size_t p = 0; p < ids.size(); p += chunk) {
      std::vector<int32_t> seq = {(*w)->config.bos_id};
      seq.insert(seq.end(), ids.begin() + static_cast<long>(p), ids.begin() + static_cast<long>(std::min(ids.size(), p + chunk)));
      qo.calib.push_back(std::move(seq));
    }
  }
  auto q = quantize_model(**w, qo);
  if (!q) {
    fmt::print(stderr, "rewoo quantize: {}\n", q.error().to_string());
    ctx.exit_code = 1;
    return;
  }
  if (auto st = save_model_dir(**q, a.out); !st) {
    fmt::print(stderr, "rewoo quantize: {}\n", st.error().to_string());
    ctx.exit_code = 1;
    return;
  }
  if (!tokp.empty()) fs::copy_file(tokp, fs::path(a.out) / "tokenizer.model", fs::copy_options::overwrite_existing, ec);
  fmt::print("{}\n", a.out);
}

void run_perplexity(const std::string& model, const std::string& tokenizer, const std::string& text_file, bool json,
                    bool exact, Context& ctx) {
  LoadOptions lo;
  lo.tokenizer_path = tokenizer;
  lo.backend.device = Device::kCpu;
  lo.backend.exact = exact;
  auto m = Model::load(model, lo);
  if (!m) {
    fmt::print(stderr, "rewoo model perplexity: {}\n", m.error().to_string());
    ctx.exit_code = 1;
    return;
  }
  auto read = read_whole_file(text_file, "the text");
  if (!read) {
    fmt::print(stderr, "rewoo model perplexity: {}\n", read.error().to_string());
    ctx.exit_code = 2;
    return;
  }
  const std::string& text = *read;
  auto ids = (*m)->tokenizer().encode(text, true);
  if (static_cast<int>(ids.size()) > (*m)->backend().max_seq_len()) ids.resize((*m)->backend().max_seq_len());
  Generator gen(**m);
  auto ppl = gen.perplexity(ids);
  if (!ppl) {
    fmt::print(stderr, "rewoo model perplexity: {}\n", ppl.error().to_string());
    ctx.exit_code = 1;
    return;
  }
  if (json)
    fmt::print("{}\n", json_text(nlohmann::json{{"perplexity", *ppl},
                                                {"tokens", ids.size()},
                                                {"backend", (*m)->backend().name()}}));
  else fmt::print("perplexity {:.4f} over {} tokens ({}; {})\n", *ppl, ids.size(), (*m)->quant().summary(), (*m)->backend().name());
}

}  // namespace

void register_engine_commands(CLI::App& app, Context& ctx) {
  auto ga = std::make_shared<GenerateArgs>();
  auto* gen = app.add_subcommand("generate", "Generate a continuation of a prompt with a local model");
  gen->add_option("--model,-m", ga->model, "Model folder (safetensors + config.json) or llama2.c .bin")->required();
  gen->add_option("--tokenizer", ga->tokenizer, "SentencePiece tokenizer.model (default: beside the model)");
  gen->add_option("--prompt,-p", ga->prompt, "Prompt text (\"\" starts from BOS alone)");
  gen->add_option("--temperature,-t", ga->temperature, "Sampling temperature; 0 = greedy")->capture_default_str();
  gen->add_option("--top-p", ga->top_p, "Nucleus sampling mass")->capture_default_str();
  gen->add_option("--top-k", ga->top_k, "Keep the k most likely tokens; 0 = off")->capture_default_str();
  gen->add_option("--repeat-penalty", ga->repeat_penalty, "Repetition penalty (Hugging Face semantics)")->capture_default_str();
  gen->add_option("--seed", ga->seed, "Random seed")->capture_default_str();
  gen->add_option("--stop", ga->stop, "Stop string (repeatable); never printed");
  gen->add_option("--max-tokens,-n", ga->max_tokens, "Most tokens to generate")->capture_default_str();
  gen->add_option("--device", ga->device, "cpu, cuda or auto")->capture_default_str();
  gen->add_option("--threads", ga->threads, "CPU threads; 0 = all cores");
  gen->add_flag("--exact", ga->exact,
                "CPU: fp32 activations for quantized layers (the reference path; by default 2/3/4-bit\n"
                "layers take activations quantized to int8 per 32 values, several times faster)");
  gen->add_flag("--no-bos", ga->no_bos, "Do not prepend BOS to the prompt");
  auto* gopt = gen->add_option("--grammar", ga->grammar_file, "Constrain the output to a GBNF grammar file");
  gen->add_option("--json-schema", ga->json_schema_file, "Constrain the output to JSON valid under a JSON Schema file")
      ->excludes(gopt);
  gen->add_flag("--stats", ga->stats, "Print timings to stderr");
  gen->add_flag("--json", ga->json, "Print one JSON object instead of streaming text");
  gen->footer(
      "Examples:\n"
      "  rewoo generate -m ../shared/data/models/stories260K/stories260K.bin \\\n"
      "      --tokenizer ../shared/data/models/stories260K/tok512.model --prompt \"\" -n 256\n"
      "  rewoo generate -m models/airoboros-c34b-gptq -p \"A chat. USER: Hi ASSISTANT:\" \\\n"
      "      -t 0.7 --top-p 0.95 --repeat-penalty 1.15 --stop USER:");
  gen->callback([ga, &ctx] { run_generate(*ga, ctx); });

  auto* model = app.add_subcommand("model", "Inspect or create model files");
  model->require_subcommand(1);
  auto info_path = std::make_shared<std::string>();
  auto info_json = std::make_shared<bool>(false);
  auto* info = model->add_subcommand("info", "Print a model's config, quantization and size");
  info->add_option("path", *info_path, "Model folder or llama2.c .bin")->required();
  info->add_flag("--json", *info_json, "JSON output");
  info->callback([info_path, info_json, &ctx] { run_model_info(*info_path, *info_json, ctx); });

  auto ra = std::make_shared<RandomArgs>();
  auto* rnd = model->add_subcommand("random", "Write a random-weight model of a real shape (tests, benchmarks)");
  rnd->add_option("out_dir", ra->out, "Folder to write (created)")->required();
  rnd->add_option("--shape", ra->shape, "tiny, small, 1b, 7b, 13b, 34b or 70b")->capture_default_str();
  rnd->add_option("--bits", ra->bits, "2, 3, 4, 8, or 0 for a float (fp16) model")->capture_default_str();
  rnd->add_option("--group-size", ra->group_size, "GPTQ group size; -1 = no groups")->capture_default_str();
  rnd->add_flag("--act-order", ra->act_order, "Random act-order g_idx (desc_act)");
  rnd->add_option("--seed", ra->seed, "Random seed")->capture_default_str();
  rnd->add_option("--layers", ra->layers, "Override the shape's number of layers");
  rnd->add_option("--tokenizer", ra->tokenizer, "tokenizer.model to copy beside it (default: shared Llama 2 tokenizer)");
  rnd->add_flag("--force", ra->force, "Write into a non-empty folder (overwrites model files)");
  rnd->add_flag("--fp32", ra->float32, "Store float tensors as fp32 instead of fp16");
  rnd->footer(
      "Writes model.safetensors (AutoGPTQ layout), config.json, quantize_config.json and the\n"
      "Llama 2 tokenizer.model (vocab 32000).\n"
      "Examples:\n"
      "  rewoo model random /tmp/tiny --shape tiny --bits 4 --group-size 32 --act-order --seed 1\n"
      "  rewoo model random /tmp/34b --shape 34b --bits 4 --group-size -1 --act-order");
  rnd->callback([ra, &ctx] { run_model_random(*ra, ctx); });

  auto pm = std::make_shared<std::array<std::string, 3>>();
  auto pj = std::make_shared<bool>(false), px = std::make_shared<bool>(false);
  auto* ppl = model->add_subcommand("perplexity", "Teacher-forced perplexity of a text (BOS + text, up to the context)");
  ppl->add_option("path", (*pm)[0], "Model folder or llama2.c .bin")->required();
  ppl->add_option("--text", (*pm)[2], "Text file")->required();
  ppl->add_option("--tokenizer", (*pm)[1], "SentencePiece model (default: beside the model)");
  ppl->add_flag("--json", *pj, "JSON output");
  ppl->add_flag("--exact", *px, "fp32 activations for quantized layers (the reference path; default: int8)");
  ppl->footer("Example:\n  rewoo model perplexity /tmp/q4 --text ../shared/data/models/stories260K/golden_greedy_256.txt");
  ppl->callback([pm, pj, px, &ctx] { run_perplexity((*pm)[0], (*pm)[1], (*pm)[2], *pj, *px, ctx); });

  auto qa = std::make_shared<QuantArgs>();
  auto* qz = app.add_subcommand("quantize", "Quantize a float model with GPTQ into the seed's format");
  qz->add_option("in", qa->in, "Float model: folder (safetensors + config.json) or llama2.c .bin")->required();
  qz->add_option("out", qa->out, "Output folder")->required();
  qz->add_option("--bits", qa->bits, "2, 3, 4 or 8")->capture_default_str();
  qz->add_option("--group-size", qa->group_size, "Group size; -1 = one group per column")->capture_default_str();
  qz->add_flag("--act-order", qa->act_order, "Quantize columns by descending Hessian diagonal (desc_act)");
  qz->add_option("--damp", qa->damp, "Dampening, fraction of the mean Hessian diagonal")->capture_default_str();
  qz->add_option("--calib", qa->calib, "Calibration text file (default: text sampled from the float model)");
  qz->add_option("--tokenizer", qa->tokenizer, "Tokenizer for --calib and to copy beside the output");
  qz->add_flag("--rtn", qa->rtn, "Round to nearest instead of GPTQ (fast, worse)");
  qz->add_flag("--force", qa->force, "Write into a non-empty folder");
  qz->footer(
      "Examples:\n"
      "  rewoo quantize ../shared/data/models/stories260K/stories260K.bin /tmp/s-q4g32 --bits 4 --group-size 32 \\\n"
      "      --act-order --tokenizer ../shared/data/models/stories260K/tok512.model\n"
      "  rewoo quantize models/llama-fp16 models/llama-gptq --bits 3 --group-size 128 --calib wiki.txt");
  qz->callback([qa, &ctx] { run_quantize(*qa, ctx); });
}

}  // namespace rewoo::cli
