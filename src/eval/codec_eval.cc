#include "kvforge/eval/codec_eval.h"

#include <algorithm>
#include <chrono>
#include <string>

#include "eval/parallel_documents.h"
#include "kvforge/codec/profile.h"
#include "kvforge/kv/query_moments.h"
#include "kvforge/core/kernels.h"

namespace kvforge::eval {

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct DocResult {
  FidelityAccumulator fidelity;
  size_t prefix_tokens = 0, frame_bytes = 0, fp16_bytes = 0;
  double encode_seconds = 0, decode_seconds = 0;
};

constexpr std::string_view kProfileSuffix = "+profile";

bool wants_profile(std::string_view spec) {
  return spec.size() > kProfileSuffix.size() && spec.substr(spec.size() - kProfileSuffix.size()) == kProfileSuffix;
}

}  // namespace

namespace {

// An error in value channel (kv head h, d) reaches the residual stream through the
// output-projection columns of the group's query heads: weight = their squared norms.
std::vector<float> value_weights(const model::LlamaModel& model) {
  const auto& cfg = model.config();
  const int D = cfg.head_dim, G = cfg.n_heads / cfg.n_kv_heads, C = cfg.n_kv_heads * D;
  std::vector<float> w(static_cast<size_t>(cfg.n_layers) * C, 0.0f);
  for (int l = 0; l < cfg.n_layers; ++l) {
    const model::TensorRef& wo = *model.layers()[l].wo;
    const int64_t cols = wo.cols(), rows = wo.rows();
    const size_t row_bytes = wo.nbytes / static_cast<size_t>(rows);
    std::vector<float> row(static_cast<size_t>(cols)), col_norm(static_cast<size_t>(cols), 0.0f);
    for (int64_t r = 0; r < rows; ++r) {
      core::dequantize_row(wo.type, wo.data + static_cast<size_t>(r) * row_bytes, row.data(), static_cast<size_t>(cols));
      for (int64_t j = 0; j < cols; ++j) col_norm[j] += row[j] * row[j];
    }
    for (int c = 0; c < C; ++c)
      for (int g = 0; g < G; ++g) w[static_cast<size_t>(l) * C + c] += col_norm[((c / D) * G + g) * D + c % D];
  }
  return w;
}

}  // namespace

Result<codec::Profile> learn_model_profile(std::shared_ptr<const model::LlamaModel> model,
                                           const std::vector<std::vector<int32_t>>& documents,
                                           const model::SessionOptions& session_options, core::Progress* progress,
                                           int block) {
  if (documents.empty()) return Status::InvalidArgument("learn_model_profile: no documents");
  const kv::KvShape shape = model->kv_shape();
  kv::QueryMoments moments(shape.n_layers, shape.n_kv_heads, shape.head_dim);
  // The profile learns from the KV the codec will be given: exported from a
  // cache of the same type (an F16 cache's keys and values are fp16-rounded).
  model::Session session(model, session_options);
  session.set_selector(&moments);
  std::vector<kv::DenseKvF32> dense(documents.size());
  for (size_t d = 0; d < documents.size(); ++d) {
    session.reset();
    KVF_RETURN_IF_ERROR(session.forward(documents[d], model::LogitsMode::kNone, nullptr));
    KVF_RETURN_IF_ERROR(session.cache().export_range(0, documents[d].size(), &dense[d]));
    if (progress != nullptr) progress->update(d + 1);
  }
  std::vector<codec::KvChunkView> views;
  for (const auto& d : dense) views.push_back(d.view());
  codec::LearnOptions lo;
  // The profile can un-rotate keys only for the plain rotation its transform
  // implements; other rotations are coded post-RoPE (correct, a little larger).
  lo.rope_theta = model->rope_is_plain() ? model->config().rope_theta : 0.0f;
  lo.key_weights = moments.key_weights();
  lo.value_weights = value_weights(*model);
  lo.block = block;
  return codec::learn_profile(views, model->fingerprint(), lo);
}

namespace {

// The codecs under test, built from their specs; "+profile" ones code with the
// model profile.
struct CodecsUnderTest {
  std::vector<std::string> specs;
  std::vector<std::unique_ptr<codec::Codec>> codecs;
  std::vector<bool> with_profile;
  const codec::Profile* profile = nullptr;
  uint64_t fingerprint = 0;
};

Result<CodecsUnderTest> make_codecs(const std::vector<std::string>& specs, const codec::Profile* profile,
                                    uint64_t fingerprint) {
  CodecsUnderTest t{specs, {}, {}, profile, fingerprint};
  for (const auto& spec : specs) {
    const bool p = wants_profile(spec);
    if (p && profile == nullptr) {
      return Status::InvalidArgument(spec + " needs a model profile (kvforge profile; pass it with --profile)");
    }
    KVF_ASSIGN_OR_RETURN(auto c, codec::make_codec(p ? spec.substr(0, spec.size() - kProfileSuffix.size()) : spec));
    t.codecs.push_back(std::move(c));
    t.with_profile.push_back(p);
  }
  return t;
}

// Codes the prefix's KV with codec c, imports the decoded KV into `test` and
// teacher-forces `rest` on it, scoring its logits against ref_logits.
Status score_codec(const CodecsUnderTest& t, size_t c, const kv::DenseKvF32& dense, const std::vector<int32_t>& doc,
                   size_t prefix, const std::vector<float>& ref_logits, model::Session& test,
                   std::vector<float>* test_logits, DocResult* r) {
  const size_t vocab = static_cast<size_t>(test.model().config().vocab_size);
  const codec::KvChunkView view = dense.view();
  const auto rest = std::span<const int32_t>(doc.data() + prefix, doc.size() - 1 - prefix);
  codec::EncodeOptions eo;
  eo.model_fingerprint = t.fingerprint;
  codec::DecodeOptions dopt;
  dopt.expected_fingerprint = t.fingerprint;
  if (t.with_profile[c]) eo.profile = dopt.profile = t.profile;
  auto t0 = Clock::now();
  KVF_ASSIGN_OR_RETURN(std::string frame, t.codecs[c]->encode(view, eo));
  r->encode_seconds = since(t0);
  codec::KvChunk decoded;
  t0 = Clock::now();
  KVF_RETURN_IF_ERROR(t.codecs[c]->decode(frame, &decoded, dopt).with_context(t.specs[c] + " decode"));
  r->decode_seconds = since(t0);
  r->prefix_tokens = prefix;
  r->frame_bytes = frame.size();
  r->fp16_bytes = view.elements() * 2 * sizeof(uint16_t);
  kv::DenseKvF32 back;
  back.shape = dense.shape;
  back.n_tokens = decoded.n_tokens;
  back.positions = dense.positions;
  back.k = std::move(decoded.k);
  back.v = std::move(decoded.v);
  test.reset();
  KVF_RETURN_IF_ERROR(test.cache().import_tokens(back));
  KVF_RETURN_IF_ERROR(test.forward(rest, model::LogitsMode::kAll, test_logits));
  for (size_t i = 0; i < rest.size(); ++i) {
    const size_t p = prefix + i;
    r->fidelity.add(std::span<const float>(ref_logits.data() + p * vocab, vocab),
                    std::span<const float>(test_logits->data() + i * vocab, vocab), doc[p + 1]);
  }
  return Status::OK();
}

// One row per codec, its documents' results summed.
std::vector<CodecEvalRow> summarize(const CodecsUnderTest& t, const std::vector<std::vector<DocResult>>& results) {
  std::vector<CodecEvalRow> rows;
  for (size_t c = 0; c < t.codecs.size(); ++c) {
    CodecEvalRow row;
    row.spec = t.specs[c];
    row.codec = t.codecs[c]->name();
    row.level = t.codecs[c]->level();
    row.profile = t.with_profile[c];
    FidelityAccumulator acc;
    for (const DocResult& r : results[c]) {
      acc.merge(r.fidelity);
      row.prefix_tokens += r.prefix_tokens;
      row.frame_bytes += r.frame_bytes;
      row.fp16_bytes += r.fp16_bytes;
      row.encode_seconds += r.encode_seconds;
      row.decode_seconds += r.decode_seconds;
    }
    row.fidelity = acc.result();
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace

Result<std::vector<CodecEvalRow>> evaluate_codecs(std::shared_ptr<const model::LlamaModel> model,
                                                  const std::vector<std::vector<int32_t>>& documents,
                                                  const std::vector<std::string>& specs,
                                                  const CodecEvalOptions& options) {
  KVF_ASSIGN_OR_RETURN(CodecsUnderTest under_test, make_codecs(specs, options.profile, model->fingerprint()));
  for (const auto& d : documents) {
    if (d.size() < 3) return Status::InvalidArgument("every document needs at least 3 tokens for codec scoring");
  }
  const int workers = std::max(1, std::min<int>(options.run.workers, static_cast<int>(documents.size())));
  const model::SessionOptions so = options.run.session_options();
  std::vector<std::unique_ptr<model::Session>> refs, tests;
  for (int w = 0; w < workers; ++w) {
    refs.push_back(std::make_unique<model::Session>(model, so));
    tests.push_back(std::make_unique<model::Session>(model, so));
  }
  std::vector<std::vector<DocResult>> results(under_test.codecs.size(), std::vector<DocResult>(documents.size()));
  std::vector<std::vector<float>> ref_logits(workers), test_logits(workers);

  KVF_RETURN_IF_ERROR(detail::parallel_documents(
      documents.size(), workers,
      [&](int w, size_t d) -> Status {
        const auto& doc = documents[d];
        const size_t n = doc.size();
        const size_t prefix =
            std::clamp<size_t>(static_cast<size_t>(static_cast<double>(n) * options.prefix_fraction), 1, n - 2);
        model::Session& ref = *refs[w];
        ref.reset();
        KVF_RETURN_IF_ERROR(run_full_cache(ref, doc, &ref_logits[w]));
        // The prefix's exact KV, exported once and encoded by every codec.
        model::Session& test = *tests[w];
        test.reset();
        KVF_RETURN_IF_ERROR(test.forward(std::span<const int32_t>(doc.data(), prefix), model::LogitsMode::kNone, nullptr));
        kv::DenseKvF32 dense;
        KVF_RETURN_IF_ERROR(test.cache().export_range(0, prefix, &dense));
        for (size_t c = 0; c < under_test.codecs.size(); ++c) {
          KVF_RETURN_IF_ERROR(
              score_codec(under_test, c, dense, doc, prefix, ref_logits[w], test, &test_logits[w], &results[c][d]));
        }
        return Status::OK();
      },
      options.run.progress));
  return summarize(under_test, results);
}

}  // namespace kvforge::eval
