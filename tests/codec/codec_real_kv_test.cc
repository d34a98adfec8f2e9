// Real KV from stories260K: sizes, errors, fidelity (KL / top-1 / delta ppl after
// replacing the prefix cache with the decoded one, scored by eval::FidelityAccumulator
// as `kvforge eval codec` scores them) and speeds, logged as a table. Only properties
// that must hold are asserted; the numbers are a report.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>

#include "kvforge/codec/codec.h"
#include "kvforge/codec/profile.h"
#include "kvforge/eval/metrics.h"
#include "kvforge/model/llama.h"
#include "shared_paths.h"

namespace kvforge::codec {
namespace {

using model::LogitsMode;
using model::Session;

struct Row {
  double bytes = 0, tokens = 0, max_err = 0;
  double enc_s = 0, dec_s = 0, elems = 0;
  eval::FidelityAccumulator fidelity;
};

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Runs ids[0, split) through a session and exports its KV.
void prefix_kv(const std::vector<int32_t>& ids, size_t split, Session* s, kv::DenseKvF32* dense) {
  EXPECT_TRUE(s->forward(std::span<const int32_t>(ids.data(), split), LogitsMode::kNone, nullptr).ok());
  EXPECT_TRUE(s->cache().export_range(0, split, dense).ok());
}

// A profile learned from documents the evaluation does not use.
Result<Profile> learn_from_documents(const std::shared_ptr<const model::LlamaModel>& m, const std::vector<std::string>& lines) {
  std::vector<kv::DenseKvF32> train;
  for (size_t i = 900; i < 960 && i < lines.size(); ++i) {
    auto ids = m->tokenizer()->encode(lines[i], true);
    if (ids.size() < 8) continue;
    ids.resize(std::min<size_t>(ids.size(), 512));
    Session s(m);
    kv::DenseKvF32 d;
    prefix_kv(ids, ids.size(), &s, &d);
    train.push_back(std::move(d));
  }
  std::vector<KvChunkView> views;
  for (auto& d : train) views.push_back(d.view());
  return learn_profile(views, 1);
}

// Every codec and level (cachegen: also delta and profile); KVF_CODEC_SPECS="spec,..."
// limits the table (fp16, q8 and cachegen-ref are always kept as the references).
std::vector<std::string> table_specs() {
  std::vector<std::string> specs;
  for (const auto& n : codec_names()) {
    if (levels(n).empty()) specs.push_back(n);
    else if (n == "zstd") specs.push_back("zstd:level=3");
    else
      for (const auto& l : levels(n)) {
        specs.push_back(n + ":level=" + l);
        specs.push_back(n + ":level=" + l + ",delta=on");
        specs.push_back(n + ":level=" + l + "+profile");
      }
  }
  const char* e = std::getenv("KVF_CODEC_SPECS");
  if (e == nullptr) return specs;
  std::vector<std::string> keep = {"fp16", "q8", "cachegen-ref"};
  const std::string all(e);
  for (size_t at = 0; at <= all.size();) {
    size_t end = all.find(',', at);
    if (end == std::string::npos) end = all.size();
    if (end > at) keep.push_back(all.substr(at, end - at));
    at = end + 1;
  }
  return keep;
}

// One document's prefix KV through one spec: sizes, speed, error, and the rest of the
// document predicted from the decoded cache against the reference logits.
void run_spec(const std::shared_ptr<const model::LlamaModel>& m, const std::string& spec, const Profile& prof, const kv::DenseKvF32& dense,
              std::span<const int32_t> rest, const std::vector<float>& ref, Row* r) {
  const bool use_prof = spec.ends_with("+profile");
  auto c = make_codec(use_prof ? spec.substr(0, spec.size() - 8) : spec);
  ASSERT_TRUE(c.ok()) << spec;
  EncodeOptions eo;
  eo.profile = use_prof ? &prof : nullptr;
  DecodeOptions dopt;
  dopt.profile = eo.profile;
  const KvChunkView view = dense.view();
  const double t0 = now();
  auto frame = (*c)->encode(view, eo);
  const double t1 = now();
  ASSERT_TRUE(frame.ok()) << spec << frame.status().to_string();
  KvChunk out;
  ASSERT_TRUE((*c)->decode(*frame, &out, dopt).ok());
  r->enc_s += t1 - t0;
  r->dec_s += now() - t1;
  r->elems += 2.0 * view.elements();
  r->bytes += frame->size();
  r->tokens += dense.n_tokens;
  for (size_t i = 0; i < out.k.size(); ++i) {
    r->max_err = std::max<double>(r->max_err, std::fabs(out.k[i] - dense.k[i]));
    r->max_err = std::max<double>(r->max_err, std::fabs(out.v[i] - dense.v[i]));
  }
  kv::DenseKvF32 dec = dense;
  dec.k = out.k;
  dec.v = out.v;
  Session b(m);
  ASSERT_TRUE(b.cache().import_tokens(dec).ok());
  std::vector<float> got;
  ASSERT_TRUE(b.forward(rest, LogitsMode::kAll, &got).ok());
  const size_t vocab = static_cast<size_t>(m->config().vocab_size);
  for (size_t t = 0; t + 1 < rest.size(); ++t) {
    r->fidelity.add(std::span<const float>(&ref[t * vocab], vocab), std::span<const float>(&got[t * vocab], vocab),
                    rest[t + 1]);
  }
}

void print_table(const std::vector<std::string>& specs, std::map<std::string, Row>& rows, size_t n_docs) {
  const double fp16_bpt = rows["fp16"].bytes / rows["fp16"].tokens, q8_bpt = rows["q8"].bytes / rows["q8"].tokens;
  std::printf("\nstories260K, %zu docs, prefix = first half (max 512 tokens), decoded KV replaces the prefix cache\n",
              n_docs);
  std::printf("%-30s %9s %7s %7s %9s %9s %7s %8s %9s %9s\n", "codec", "B/token", "vs_fp16", "vs_q8", "max_err", "KL",
              "top1", "dppl%", "enc_MB/s", "dec_MB/s");
  for (const auto& spec : specs) {
    const Row& r = rows[spec];
    const double bpt = r.bytes / r.tokens;
    const eval::FidelityResult f = r.fidelity.result();
    std::printf("%-30s %9.2f %7.2f %7.2f %9.5f %9.6f %7.4f %8.3f %9.1f %9.1f\n", spec.c_str(), bpt, fp16_bpt / bpt,
                q8_bpt / bpt, r.max_err, f.kl, f.top1_agreement, f.delta_ppl_pct, r.elems * 2 / r.enc_s / 1e6,
                r.elems * 2 / r.dec_s / 1e6);
  }
}

TEST(RealKv, Stories260KTable) {
  model::LoadOptions lo;
  lo.model_path = testing::model_dir() + "stories260K.bin";
  lo.tokenizer_path = testing::model_dir() + "tok512.bin";
  auto m = model::LlamaModel::load(lo);
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  const auto lines = testing::lines(testing::shared("data/tinystories-valid-first1000.txt"));
  ASSERT_GE(lines.size(), 200u);
  auto prof = learn_from_documents(*m, lines);
  ASSERT_TRUE(prof.ok()) << prof.status().to_string();
  std::printf("profile: %zu bytes on disk (all %zu cachegen levels)\n", prof->serialize().size() + 8,
              levels("cachegen").size());
  const std::vector<std::string> specs = table_specs();
  std::map<std::string, Row> rows;
  const size_t n_docs = std::getenv("KVF_CODEC_DOCS") ? std::stoul(std::getenv("KVF_CODEC_DOCS")) : 60;
  for (size_t doc = 0; doc < n_docs; ++doc) {
    auto ids = (*m)->tokenizer()->encode(lines[doc], true);
    ids.resize(std::min<size_t>(ids.size(), 512));
    if (ids.size() < 16) continue;
    const size_t split = ids.size() / 2;
    Session a(*m);
    kv::DenseKvF32 dense;
    prefix_kv(ids, split, &a, &dense);
    std::vector<float> ref;
    const std::span<const int32_t> rest(ids.data() + split, ids.size() - split);
    ASSERT_TRUE(a.forward(rest, LogitsMode::kAll, &ref).ok());
    for (const auto& spec : specs) run_spec(*m, spec, *prof, dense, rest, ref, &rows[spec]);
  }
  print_table(specs, rows, n_docs);
  // Properties that must hold.
  if (std::getenv("KVF_CODEC_SPECS")) return;
  const auto lv = levels("cachegen");
  for (size_t i = 1; i < lv.size(); ++i) {
    EXPECT_LT(rows["cachegen:level=" + lv[i]].bytes, rows["cachegen:level=" + lv[i - 1]].bytes) << lv[i];
    EXPECT_LT(rows["cachegen:level=" + lv[i] + "+profile"].bytes,
              rows["cachegen:level=" + lv[i - 1] + "+profile"].bytes) << lv[i];
  }
  // Near-lossless level with the model profile beats q8 (shipped tables cost too much on
  // ~100-token chunks of this 32-channel model; see docs/FORMAT.md).
  EXPECT_LT(rows["cachegen:level=" + lv[0] + "+profile"].bytes, rows["q8"].bytes);
  EXPECT_EQ(rows["fp16"].max_err, rows["zstd:level=3"].max_err);
}

}  // namespace
}  // namespace kvforge::codec
