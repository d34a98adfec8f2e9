// kvforge bench content-check: what the loader's content check (stream/
// content_check.h) costs per chunk beside the chunk's decode, and the relative
// error of layer 0's keys it sees per codec level on honest chunks and on
// another text's chunk (the margin its tolerances leave).
#include <algorithm>
#include <chrono>
#include <iostream>
#include <limits>
#include <optional>
#include <random>

#include "common.h"
#include "kv_io.h"
#include "kvforge/codec/profile.h"
#include "kvforge/core/file_io.h"
#include "kvforge/core/kernels.h"
#include "kvforge/stream/content_check.h"

namespace kvforge::cli {

namespace {

struct BenchCheckArgs {
  ModelFlags model;
  std::string synthetic = "1b", text, json;
  std::string codecs =
      "fp16,zstd,q8,q4,kivi2,cachegen-ref,cachegen:level=1,cachegen:level=2,cachegen:level=3,"
      "cachegen:level=4,cachegen:level=5";
  int tokens = 1024;  // per window
  int windows = 1;
  int chunk_tokens = 256;
  int repetitions = 2;
};

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// One context: its tokens and its KV as the cache holds it.
struct Window {
  std::vector<int32_t> tokens;
  kv::DenseKvF32 kv;
};

// --windows contexts of --tokens tokens: consecutive pieces of --text, or
// random tokens; each starts with BOS (id 1) and is prefilled on its own.
Result<std::vector<Window>> make_windows(const BenchCheckArgs& a, const model::LlamaModel& m) {
  const size_t n = static_cast<size_t>(a.tokens), w = static_cast<size_t>(a.windows);
  if (n > static_cast<size_t>(m.config().context_length)) {
    return Status::InvalidArgument("--tokens exceeds the model's context length");
  }
  std::vector<int32_t> all;
  if (!a.text.empty()) {
    if (m.tokenizer() == nullptr) return Status::InvalidArgument("--text needs a model with a tokenizer");
    KVF_ASSIGN_OR_RETURN(const std::string text, core::read_file(a.text));
    all = m.tokenizer()->encode(text, /*add_special=*/true);
    if (all.size() < n * w) {
      return Status::InvalidArgument(a.text + " has " + std::to_string(all.size()) + " tokens, fewer than " +
                                     "--tokens x --windows");
    }
  } else {
    std::mt19937 rng(11);
    all.resize(n * w);
    for (auto& t : all) t = static_cast<int32_t>(rng() % static_cast<uint32_t>(m.config().vocab_size));
  }
  std::vector<Window> out(w);
  for (size_t i = 0; i < w; ++i) {
    out[i].tokens.assign(all.begin() + static_cast<std::ptrdiff_t>(i * n),
                         all.begin() + static_cast<std::ptrdiff_t>((i + 1) * n));
    out[i].tokens[0] = 1;
  }
  return out;
}

// Per codec: the mean over chunks of the best of --repetitions decode and check
// times, and the largest and mean relative error the check saw.
struct CodecRow {
  double decode_ms = 0, check_ms = 0, err_max = 0, err_mean = 0, tolerance = 0;
  size_t chunks = 0;
};

Status measure_chunk(const codec::Codec& c, const codec::KvChunkView& view, std::span<const int32_t> tokens,
                     int32_t first, const codec::Profile* profile, model::Session& session, int reps, CodecRow* row) {
  codec::EncodeOptions eo;
  eo.model_fingerprint = session.model_fingerprint();
  eo.first_position = first;
  eo.profile = profile;
  eo.pool = session.pool();
  KVF_ASSIGN_OR_RETURN(const std::string frame, c.encode(view, eo));
  KVF_ASSIGN_OR_RETURN(const codec::FrameInfo info, codec::peek_header(frame));
  codec::DecodeOptions dopt;
  dopt.pool = session.pool();  // as the loader decodes
  dopt.profile = profile;
  double decode_ms = std::numeric_limits<double>::infinity(), check_ms = decode_ms;
  stream::ContentCheck check;
  for (int r = 0; r < reps; ++r) {
    codec::KvChunk chunk;
    const auto t0 = Clock::now();
    KVF_RETURN_IF_ERROR(codec::decode_frame(frame, &chunk, dopt));
    decode_ms = std::min(decode_ms, ms_since(t0));
    const auto t1 = Clock::now();
    Status s = stream::check_content(session, tokens, first, info, chunk, &check);
    check_ms = std::min(check_ms, ms_since(t1));
    if (!s.ok() && !check.ran) return s;
  }
  row->decode_ms += decode_ms;
  row->check_ms += check_ms;
  row->err_max = std::max(row->err_max, check.error);
  row->err_mean += check.error;
  row->tolerance = check.tolerance;
  ++row->chunks;
  return Status::OK();
}

// Another text's keys at these positions: the next chunk's tokens (wrapping),
// as a client would have stored them under this chunk's key.
Result<double> swapped_error(model::Session& session, const Window& w, size_t begin, size_t end) {
  const size_t n = end - begin, hd = static_cast<size_t>(w.kv.shape.head_dim);
  std::vector<int32_t> other(n);
  for (size_t t = 0; t < n; ++t) other[t] = w.tokens[(end + t) % w.tokens.size()];
  std::vector<float> theirs(static_cast<size_t>(w.kv.shape.n_kv_heads) * n * hd);
  KVF_RETURN_IF_ERROR(session.layer0_keys(other, static_cast<int32_t>(begin), theirs.data()));
  return stream::content_error(session, std::span(w.tokens).subspan(begin, n), static_cast<int32_t>(begin), theirs);
}

int run_bench_check(const BenchCheckArgs& a) {
  auto loaded = load_or_synthesize(a.model, a.synthetic);
  if (!loaded.ok()) return fail(loaded.status());
  const auto& [label, model] = *loaded;
  auto windows = make_windows(a, *model);
  if (!windows.ok()) return fail(windows.status());
  model::Session session(model, session_options(a.model));
  std::vector<codec::KvChunkView> views;
  for (Window& w : *windows) {
    std::cerr << "prefilling " << w.tokens.size() << " tokens...\n";
    auto dense = prefill_and_export(model, w.tokens, session_options(a.model));
    if (!dense.ok()) return fail(dense.status());
    w.kv = std::move(*dense);
    views.push_back(w.kv.view());
  }
  const std::vector<std::string> specs = codec_specs(a.codecs);
  std::optional<codec::Profile> profile;
  if (std::any_of(specs.begin(), specs.end(), [](const std::string& s) { return split_profile_suffix(s).second; })) {
    auto learned = codec::learn_profile(views, model->fingerprint());
    if (!learned.ok()) return fail(learned.status());
    profile = std::move(*learned);
  }
  const size_t ct = static_cast<size_t>(a.chunk_tokens);
  double swapped_min = std::numeric_limits<double>::infinity();
  eval::Table table({"codec", "threads", "chunk_tokens", "chunks", "decode_ms", "check_ms", "err_max", "err_mean",
                     "tolerance", "swapped_min"});
  std::vector<std::pair<std::string, CodecRow>> rows;
  for (const std::string& spec_text : specs) {
    const auto [spec, use_profile] = split_profile_suffix(spec_text);
    auto c = codec::make_codec(spec);
    if (!c.ok()) return fail(c.status());
    CodecRow row;
    for (const Window& w : *windows) {
      for (size_t begin = 0; begin < w.tokens.size(); begin += ct) {
        const size_t end = std::min(w.tokens.size(), begin + ct);
        const kv::DenseKvF32 part = core::slice_tokens(w.kv, begin, end);
        Status s =
            measure_chunk(**c, part.view(), std::span(w.tokens).subspan(begin, end - begin),
                          static_cast<int32_t>(begin), use_profile ? &*profile : nullptr, session, a.repetitions, &row);
        if (!s.ok()) return fail(s.with_context(spec_text));
        if (rows.empty()) {
          auto e = swapped_error(session, w, begin, end);
          if (!e.ok()) return fail(e.status());
          swapped_min = std::min(swapped_min, *e);
        }
      }
    }
    rows.emplace_back(spec_text, row);
  }
  for (const auto& [spec_text, row] : rows) {
    const double n = static_cast<double>(row.chunks);
    table.add({{"model", label},
               {"codec", spec_text},
               {"threads", a.model.threads},
               {"kv_type", std::string(kv::kv_type_name(a.model.kv_type))},
               {"chunk_tokens", a.chunk_tokens},
               {"chunks", static_cast<int64_t>(row.chunks)},
               {"decode_ms", row.decode_ms / n},
               {"check_ms", row.check_ms / n},
               {"err_max", row.err_max},
               {"err_mean", row.err_mean / n},
               {"tolerance", row.tolerance},
               {"swapped_min", swapped_min},
               {"simd", core::simd_target_name()}});
  }
  return emit(table, a.json);
}

}  // namespace

Runner register_bench_check(CLI::App* bench_cmd) {
  auto a = std::make_shared<BenchCheckArgs>();
  auto* cmd = bench_cmd->add_subcommand(
      "content-check", "Cost per chunk of the loader's content check beside decode, and its errors per codec");
  add_model_flags(cmd, &a->model, /*optional=*/true);
  cmd->add_option("--synthetic", a->synthetic, "Synthetic model when no --model (default: 1b)");
  cmd->add_option("--text", a->text, "Text whose tokens fill the windows (default: random tokens)");
  cmd->add_option("--tokens", a->tokens, "Tokens per window")->check(CLI::Range(2, 1 << 20));
  cmd->add_option("--windows", a->windows, "Contexts, each prefilled from position 0")->check(CLI::Range(1, 1000));
  cmd->add_option("--chunk-tokens", a->chunk_tokens, "Tokens per chunk")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--codecs", a->codecs, "Comma-separated codec specs (+profile: with a learned profile), or 'all'");
  cmd->add_option("--repetitions,-r", a->repetitions, "Timed runs per chunk; the fastest counts")
      ->check(CLI::Range(1, 100));
  add_json_flag(cmd, &a->json);
  return [cmd, a]() -> int {
    if (!cmd->parsed()) return -1;
    return run_bench_check(*a);
  };
}

}  // namespace kvforge::cli
