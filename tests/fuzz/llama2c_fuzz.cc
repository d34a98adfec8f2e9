// libFuzzer target: parse_llama2c over arbitrary bytes. It must return a
// Status, never crash, and its tensor views must tile the input exactly.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "kvforge/model/llama2c_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kvforge::model;
  auto m = parse_llama2c(data, size, nullptr, "fuzz.bin");
  if (m.ok()) {
    volatile uint8_t sink = 0;
    for (const TensorRef& t : m->tensors) {
      KVF_CHECK(t.nbytes > 0 && t.data >= data && t.data + t.nbytes <= data + size);
      sink = sink ^ t.data[0] ^ t.data[t.nbytes - 1];
    }
    KVF_CHECK(validate_config(m->config).ok());
  } else {
    KVF_CHECK(!m.status().message().empty());
  }
  return 0;
}
