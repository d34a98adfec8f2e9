// libFuzzer target: parse_gguf and parse_gguf_vocab over arbitrary bytes. They
// must return a Status, never crash, and every tensor view they hand out must lie
// inside the input (ASan checks the touches below).
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>

#include "kvforge/model/gguf_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kvforge::model;
  auto m = parse_gguf(data, size, nullptr, "fuzz.gguf");
  if (m.ok()) {
    volatile uint8_t sink = 0;
    for (const TensorRef& t : m->tensors) {
      if (t.nbytes == 0) continue;
      sink = sink ^ t.data[0] ^ t.data[t.nbytes - 1];
    }
    KVF_CHECK(validate_config(m->config).ok());
    if (m->vocab) KVF_CHECK(static_cast<int64_t>(m->vocab->tokens.size()) == m->config.vocab_size);
  } else {
    KVF_CHECK(!m.status().message().empty());
  }
  auto v = parse_gguf_vocab(data, size, "fuzz.gguf");
  if (v.ok()) {
    KVF_CHECK(v->tokens.size() == v->scores.size() && v->tokens.size() == v->types.size());
    // -1 is "none" (BPE vocabularies that name no such token); SentencePiece ones always name bos/eos/unk.
    for (int32_t id : {v->bos_id, v->eos_id, v->unk_id, v->eot_id, v->eom_id, v->pad_id}) {
      KVF_CHECK(id >= -1 && (id < 0 || static_cast<size_t>(id) < v->tokens.size()));
    }
    if (v->model == "llama") KVF_CHECK(v->bos_id >= 0 && v->eos_id >= 0 && v->unk_id >= 0);
  }
  return 0;
}
