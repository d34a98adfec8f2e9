// kvforge store put | get | ls | rm: a context's KV cache in a chunk store
// (docs/STORE.md), by URL: file:///dir (default embedded store) or mem://.
#include <ctime>
#include <iostream>

#include "common.h"
#include "kv_io.h"
#include "kvforge/codec/profile.h"
#include "kvforge/core/file_io.h"
#include "kvforge/core/spec.h"
#include "kvforge/eval/codec_eval.h"
#include "kvforge/store/chunk_encoder.h"
#include "kvforge/store/chunk_io.h"
#include "kvforge/store/chunk_signer.h"
#include "kvforge/store/fsck.h"
#include "kvforge/store/stored_chunk.h"
#include "kvforge/store/registry.h"

namespace kvforge::cli {

namespace {

std::string utc_time(int64_t micros) {
  const std::time_t t = static_cast<std::time_t>(micros / 1000000);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::vector<std::string> level_names(const store::StoredChunk& chunk) {
  std::vector<std::string> out;
  for (const auto& l : chunk.levels) out.push_back(l.level);
  return out;
}

struct StoreFlags {
  std::string url;
  std::string key;
  std::string secret_file;  // put: sign chunks with this store secret
};

void add_store_flag(CLI::App* cmd, StoreFlags* f) {
  cmd->add_option("--store", f->url, "Store URL: file:///dir[?capacity=64g] or mem://")->required();
}

void add_key_flag(CLI::App* cmd, StoreFlags* f) {
  cmd->add_option("--key", f->key, "Chunk key: 32 hex digits, as `kvforge store ls` shows")->required();
}

Result<std::unique_ptr<store::Backend>> open_store(const StoreFlags& f) { return store::open_backend(f.url); }

int run_put(const StoreFlags& sf, const ModelFlags& mf, const std::string& text, const std::vector<std::string>& levels,
            const std::string& profile_path, size_t chunk_tokens, const std::string& json) {
  auto backend = open_store(sf);
  if (!backend.ok()) return fail(backend.status());
  std::optional<codec::Profile> profile;
  if (!profile_path.empty()) {
    auto p = codec::load_profile(profile_path);
    if (!p.ok()) return fail(p.status());
    profile = std::move(*p);
  }
  auto model = load_model(mf);
  if (!model.ok()) return fail(model.status());
  const uint64_t fp = (*model)->fingerprint();
  auto encoder = store::ChunkEncoder::make(levels, fp, profile ? &*profile : nullptr);
  if (!encoder.ok()) return fail(encoder.status());
  std::optional<store::ChunkSigner> signer;
  if (!sf.secret_file.empty()) {
    auto s = store::ChunkSigner::from_file(sf.secret_file);
    if (!s.ok()) return fail(s.status());
    signer = std::move(*s);
  }
  auto tokens = context_tokens(**model, text);
  if (!tokens.ok()) return fail(tokens.status());
  auto dense = prefill_and_export(*model, *tokens, session_options(mf));
  if (!dense.ok()) return fail(dense.status());
  const store::ChunkKeyer keyer(fp, chunk_tokens);
  const std::vector<store::ChunkKey> keys = keyer.keys(*tokens);
  eval::Table table({"chunk", "key", "tokens", "bytes", "levels"});
  for (size_t i = 0; i < keys.size(); ++i) {
    const size_t begin = i * chunk_tokens, end = std::min(tokens->size(), begin + chunk_tokens);
    const kv::DenseKvF32 part = core::slice_tokens(*dense, begin, end);
    const uint32_t first = part.positions.empty() ? static_cast<uint32_t>(begin) : static_cast<uint32_t>(part.positions[0]);
    auto chunk = encoder->encode(keys[i], static_cast<uint32_t>(i), first,
                                 std::span<const int32_t>(*tokens).subspan(begin, end - begin), part.view());
    if (!chunk.ok()) return fail(chunk.status());
    if (signer) signer->sign(&*chunk);
    auto bytes = store::serialize_chunk(*chunk);
    if (!bytes.ok()) return fail(bytes.status());
    if (Status s = (*backend)->put(keys[i], *bytes); !s.ok()) return fail(s);
    table.add({{"chunk", static_cast<int64_t>(i)},
               {"key", keys[i].hex()},
               {"tokens", static_cast<int64_t>(end - begin)},
               {"bytes", static_cast<int64_t>(bytes->size())},
               {"levels", core::join(level_names(*chunk), " ")}});
  }
  std::cerr << "stored " << keys.size() << " chunks of " << tokens->size() << " tokens in " << sf.url << "\n";
  return emit(table, json);
}

int run_get(const StoreFlags& sf, const std::string& level, const std::string& out, const std::string& json) {
  auto key = store::ChunkKey::from_hex(sf.key);
  if (!key.ok()) return fail(key.status());
  auto backend = open_store(sf);
  if (!backend.ok()) return fail(backend.status());
  auto bytes = (*backend)->get(*key);
  if (!bytes.ok()) return fail(bytes.status());
  auto chunk = store::parse_stored(*key, *bytes);
  if (!chunk.ok()) return fail(chunk.status());
  if (!out.empty()) {
    std::string_view payload = *bytes;
    if (!level.empty()) {
      auto spec = codec::make_codec(level);
      if (!spec.ok()) return fail(spec.status());
      const store::LevelFrame* frame = chunk->find((*spec)->spec());
      if (!frame) {
        return fail(chunk->missing_level((*spec)->spec()));
      }
      payload = frame->frame;  // a one-frame .kvf file (kvforge decode reads it)
    }
    if (Status s = core::write_file_atomic(out, payload); !s.ok()) return fail(s);
  }
  eval::Table table({"level", "bytes", "bytes_per_token"});
  for (const auto& l : chunk->levels) {
    table.add({{"level", l.level},
               {"bytes", static_cast<int64_t>(l.frame.size())},
               {"bytes_per_token", static_cast<double>(l.frame.size()) / static_cast<double>(chunk->tokens.size())},
               {"key", key->hex()},
               {"chunk", static_cast<int64_t>(chunk->chunk_index)},
               {"first_position", static_cast<int64_t>(chunk->first_position)},
               {"tokens", static_cast<int64_t>(chunk->tokens.size())}});
  }
  std::cerr << "chunk " << key->hex() << ": index " << chunk->chunk_index << ", " << chunk->tokens.size()
            << " tokens from position " << chunk->first_position << ", verified\n";
  return emit(table, json);
}

int run_ls(const StoreFlags& sf, const std::string& json) {
  auto backend = open_store(sf);
  if (!backend.ok()) return fail(backend.status());
  auto entries = (*backend)->list();
  if (!entries.ok()) return fail(entries.status());
  eval::Table table({"key", "bytes", "tokens", "levels", "last_use"});
  size_t damaged = 0;
  for (const store::EntryInfo& e : *entries) {
    nlohmann::json row = {{"key", e.key.hex()},
                          {"bytes", static_cast<int64_t>(e.bytes)},
                          {"last_use", utc_time(e.last_use_micros)}};
    auto chunk = store::peek_chunk(**backend, e.key);
    if (chunk.ok()) {
      row["tokens"] = static_cast<int64_t>(chunk->tokens.size());
      row["levels"] = core::join(level_names(*chunk), " ");
      row["chunk"] = static_cast<int64_t>(chunk->chunk_index);
    } else {
      ++damaged;
      row["levels"] = "(unreadable)";
      std::cerr << "kvforge: " << chunk.status().to_string() << "\n";
    }
    table.add(std::move(row));
  }
  auto stats = (*backend)->stats();
  if (stats.ok()) {
    std::cerr << stats->entries << " chunks, " << stats->bytes << " bytes"
              << (stats->capacity_bytes ? " of " + std::to_string(stats->capacity_bytes) : std::string())
              << (damaged ? ", " + std::to_string(damaged) + " unreadable (kvforge store fsck repairs)" : std::string())
              << "\n";
  }
  return emit(table, json);
}

int run_fsck(const StoreFlags& sf, const std::string& json) {
  auto backend = open_store(sf);
  if (!backend.ok()) return fail(backend.status());
  auto report = store::fsck(**backend);
  if (!report.ok()) return fail(report.status());
  eval::Table table({"store", "chunks", "entries_dropped", "entries_fixed", "damaged_removed", "bytes_before",
                     "bytes_after"});
  table.add({{"store", (*backend)->url()},
             {"chunks", static_cast<int64_t>(report->blobs)},
             {"entries_dropped", static_cast<int64_t>(report->entries_dropped)},
             {"entries_fixed", static_cast<int64_t>(report->entries_fixed)},
             {"damaged_removed", static_cast<int64_t>(report->damaged_removed)},
             {"bytes_before", static_cast<int64_t>(report->bytes_before)},
             {"bytes_after", static_cast<int64_t>(report->bytes_after)}});
  return emit(table, json);
}

int run_rm(const StoreFlags& sf) {
  auto key = store::ChunkKey::from_hex(sf.key);
  if (!key.ok()) return fail(key.status());
  auto backend = open_store(sf);
  if (!backend.ok()) return fail(backend.status());
  if (Status s = (*backend)->remove(*key); !s.ok()) return fail(s);
  std::cout << "removed " << key->hex() << "\n";
  return 0;
}

}  // namespace

Runner register_store(CLI::App& app) {
  struct Args {
    StoreFlags store;
    ModelFlags model;
    std::string text, profile, out, level, json;
    std::vector<std::string> levels = {"cachegen:level=1", "cachegen:level=2", "cachegen:level=3",
                                       "cachegen:level=4", "cachegen:level=5"};
    size_t chunk_tokens = store::kDefaultChunkTokens;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("store", "A chunk store of encoded KV caches (put, get, ls, fsck, rm, serve)");
  cmd->require_subcommand(1);

  auto* put = cmd->add_subcommand("put", "Prefill a text, cut its KV into chunks, encode each at every level, store");
  add_store_flag(put, &a->store);
  add_model_flags(put, &a->model);
  put->add_option("--text", a->text, "Text file: the context (cut to the model's context length)")->required();
  put->add_option("--levels", a->levels, "Codec specs to store each chunk at (default: cachegen levels 1..5)");
  put->add_option("--profile", a->profile, "Model profile (kvforge profile) for cachegen's tables");
  put->add_option("--secret-file", a->store.secret_file,
                  "Sign every chunk with the store secret in this file (servers with --secret-file demand it)");
  put->add_option("--chunk-tokens", a->chunk_tokens, "Tokens per chunk (keys depend on it)")
      ->check(CLI::Range(1, 1 << 20));
  add_json_flag(put, &a->json);

  auto* get = cmd->add_subcommand("get", "Verify a stored chunk and show its levels; -o writes it out");
  add_store_flag(get, &a->store);
  add_key_flag(get, &a->store);
  get->add_option("-o,--output", a->out, "Write the chunk's container (or, with --level, that level's frame)");
  get->add_option("--level", a->level, "With -o: write only this level's codec frame (a .kvf file)");
  add_json_flag(get, &a->json);

  auto* ls = cmd->add_subcommand("ls", "List stored chunks, most recently used first");
  add_store_flag(ls, &a->store);
  add_json_flag(ls, &a->json);

  auto* fsck = cmd->add_subcommand("fsck", "Repair the store's bookkeeping and remove chunks that fail verification");
  add_store_flag(fsck, &a->store);
  add_json_flag(fsck, &a->json);

  auto* rm = cmd->add_subcommand("rm", "Remove a stored chunk");
  add_store_flag(rm, &a->store);
  add_key_flag(rm, &a->store);

  auto [serve, run_serve] = register_store_serve(cmd);
  return [a, put, get, ls, fsck, rm, serve, run_serve]() {
    if (serve->parsed()) return run_serve();
    if (put->parsed()) return run_put(a->store, a->model, a->text, a->levels, a->profile, a->chunk_tokens, a->json);
    if (get->parsed()) return run_get(a->store, a->level, a->out, a->json);
    if (ls->parsed()) return run_ls(a->store, a->json);
    if (fsck->parsed()) return run_fsck(a->store, a->json);
    if (rm->parsed()) return run_rm(a->store);
    return 2;
  };
}

}  // namespace kvforge::cli
