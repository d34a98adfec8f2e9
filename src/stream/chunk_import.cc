#include "stream/chunk_import.h"

namespace kvforge::stream {

kv::DenseKvF32 keep_prefix(codec::KvChunk&& chunk, size_t keep, int32_t first) {
  kv::DenseKvF32 out = keep == chunk.n_tokens ? std::move(chunk) : core::slice_tokens(chunk, 0, keep);
  out.assign_positions(first);
  return out;
}

Status decode_chunk(const std::string& frame, kv::Recompute& session, std::span<const int32_t> tokens, size_t first,
                    const LoadOptions& options, core::ThreadPool* pool, codec::KvChunk* out, ContentCheck* check) {
  const size_t n_tokens = tokens.size();
  KVF_ASSIGN_OR_RETURN(codec::FrameInfo info, codec::peek_header(frame));
  const kv::KvShape& shape = session.cache().shape();
  if (info.n_tokens != n_tokens || info.first_position != first || info.shape.n_layers != shape.n_layers ||
      info.shape.n_kv_heads != shape.n_kv_heads || info.shape.head_dim != shape.head_dim) {
    return Status::Corruption("frame holds " + std::to_string(info.n_tokens) + " tokens from position " +
                              std::to_string(info.first_position) + ", expected " + std::to_string(n_tokens) +
                              " from " + std::to_string(first) + " in this model's shape");
  }
  codec::DecodeOptions dopt;
  dopt.expected_fingerprint = session.model_fingerprint();
  dopt.pool = pool;
  dopt.profile = options.profile;
  KVF_RETURN_IF_ERROR(codec::decode_frame(frame, out, dopt));
  // Valid checksums do not make it these tokens' KV (content_check.h).
  return check_content(session, tokens, static_cast<int32_t>(first), info, *out, check);
}

}  // namespace kvforge::stream
