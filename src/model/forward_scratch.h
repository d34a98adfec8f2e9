// The activations of one forward batch and the steps of the forward pass over
// them, shared by Session (a batch of one sequence's tokens) and BatchDecoder
// (one token of each of several sequences): both run the same kernels, so a
// token decoded in a batch gets the logits and cache rows it gets alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "kvforge/kv/attention.h"
#include "kvforge/kv/kv_cache.h"
#include "kvforge/model/llama.h"

namespace kvforge::core {
class ThreadPool;
}

namespace kvforge::model {

// One sequence's rows [begin, begin + n) of a batch: their keys and values go to
// `cache` and their queries attend over it, through the selector and observer.
struct SequenceRows {
  kv::KvCache* cache = nullptr;
  kv::SlotSelector* selector = nullptr;
  kv::AttentionObserver* observer = nullptr;
  size_t begin = 0;
  size_t n = 0;
};

struct ForwardScratch {
  size_t capacity = 0;
  // Rows of [n][width]: x the residual stream, xb/xb2 its normed input and a
  // product's output, q/k/v/att per token, hb/hb2 the feed-forward's hidden rows.
  std::vector<float> x, xb, xb2, q, k, v, att, hb, hb2;
  std::vector<int32_t> positions;  // [n], each row's position in its sequence
  std::vector<float> act;          // activations rounded to a weight type's vec_dot_type

  void ensure(const ModelConfig& c, size_t n);
  // x = the tokens' embedding rows; positions are the caller's to fill.
  void embed(const LlamaModel& M, const int32_t* tokens, size_t n);
  // positions[begin + i] = first + i for i < n.
  void number(size_t begin, size_t n, int32_t first);

  // k alone (layer L's keys of the embedded batch), for Session::layer0_keys.
  void project_k(const LlamaModel& M, const LlamaModel::Layer& L, size_t n, core::ThreadPool* pool);
  // Every layer over the embedded batch of n rows split into `sequences`; then
  // each sequence's cache has its next position moved past its rows.
  void run_layers(const LlamaModel& M, std::span<const SequenceRows> sequences, size_t n, core::ThreadPool* pool);
  // Logits of the last row (kLast) or of every row (kAll).
  void output_logits(const LlamaModel& M, size_t n, LogitsMode mode, float* logits, core::ThreadPool* pool);

 private:
  void norm(const ModelConfig& c, const TensorRef* w, float* out, size_t n, core::ThreadPool* pool);
  void add_residual(size_t dim, size_t n, core::ThreadPool* pool);
  void rotate(const LlamaModel& M, size_t n, bool queries, core::ThreadPool* pool);
  void unrotated_keys(const ModelConfig& c, const LlamaModel::Layer& L, size_t n, core::ThreadPool* pool);
  void project_qkv(const LlamaModel& M, const LlamaModel::Layer& L, size_t n, core::ThreadPool* pool);
  void attend(const ModelConfig& c, int layer, std::span<const SequenceRows> sequences, core::ThreadPool* pool);
  void attention_output(const ModelConfig& c, const LlamaModel::Layer& L, size_t n, core::ThreadPool* pool);
  void feed_forward(const ModelConfig& c, const LlamaModel::Layer& L, size_t n, core::ThreadPool* pool);
};

}  // namespace kvforge::model
