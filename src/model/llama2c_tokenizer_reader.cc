// llama2.c tokenizer.bin reader. The file stores no token count, so the model's
// vocab_size decides how many tokens there must be; a mismatch means the wrong
// tokenizer was paired with the model, which is the caller's mistake
// (InvalidArgument), while a file that cannot be parsed is Corruption.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "kvforge/model/llama2c_reader.h"

namespace kvforge::model {
namespace {

// No real SentencePiece piece comes near this; a larger length is a corrupt
// field, and rejecting it early keeps a bad file from driving a huge allocation.
constexpr int32_t kMaxPieceBytes = 1 << 16;

int32_t load_i32(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof v);  // tokenizer.bin is little-endian, as are our targets
  return v;
}

float load_f32(const uint8_t* p) {
  float v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

bool is_byte_piece(const std::string& piece) {
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f'); };
  return piece.size() == 6 && piece.compare(0, 3, "<0x") == 0 && hex(piece[3]) && hex(piece[4]) && piece[5] == '>';
}

}  // namespace

Result<Vocab> parse_llama2c_tokenizer(const uint8_t* data, size_t size, int vocab_size,
                                      const std::string& path_for_errors) {
  const std::string where = "tokenizer " + path_for_errors + ": ";
  if (vocab_size <= 0) {
    return Status::InvalidArgument(where + "vocab_size must be positive, got " + std::to_string(vocab_size));
  }
  if (data == nullptr && size != 0) return Status::InvalidArgument(where + "null data");
  if (size < 4) return Status::Corruption(where + "truncated header (" + std::to_string(size) + " bytes)");
  const int32_t max_token_length = load_i32(data);
  if (max_token_length <= 0 || max_token_length > kMaxPieceBytes) {
    return Status::Corruption(where + "bad max_token_length " + std::to_string(max_token_length));
  }

  Vocab vocab;
  vocab.model = "llama";
  vocab.space_marker = " ";  // llama2.c's export already turned U+2581 into spaces
  vocab.bos_id = 1;
  vocab.eos_id = 2;
  vocab.unk_id = 0;
  vocab.add_bos = true;
  vocab.add_space_prefix = true;
  vocab.tokens.reserve(static_cast<size_t>(vocab_size));
  vocab.scores.reserve(static_cast<size_t>(vocab_size));

  // Parse to the end rather than stopping at vocab_size so that a file with
  // extra tokens is reported by its real count, not as trailing garbage.
  size_t off = 4;
  while (off < size) {
    const size_t index = vocab.tokens.size();
    if (size - off < 8) {
      return Status::Corruption(where + "truncated in token " + std::to_string(index) + " header at offset " +
                                std::to_string(off));
    }
    const float score = load_f32(data + off);
    const int32_t len = load_i32(data + off + 4);
    off += 8;
    if (len < 0) {
      return Status::Corruption(where + "token " + std::to_string(index) + " has negative length " +
                                std::to_string(len));
    }
    if (len > max_token_length) {
      return Status::Corruption(where + "token " + std::to_string(index) + " length " + std::to_string(len) +
                                " exceeds max_token_length " + std::to_string(max_token_length));
    }
    if (size - off < static_cast<size_t>(len)) {
      return Status::Corruption(where + "truncated in token " + std::to_string(index) + " text (needs " +
                                std::to_string(len) + " bytes, " + std::to_string(size - off) + " left)");
    }
    vocab.tokens.emplace_back(reinterpret_cast<const char*>(data + off), static_cast<size_t>(len));
    vocab.scores.push_back(score);
    off += static_cast<size_t>(len);
  }
  if (vocab.tokens.size() != static_cast<size_t>(vocab_size)) {
    return Status::InvalidArgument(where + "tokenizer has " + std::to_string(vocab.tokens.size()) +
                                   " tokens but the model's vocabulary is " + std::to_string(vocab_size));
  }

  vocab.types.resize(vocab.tokens.size(), Vocab::kNormal);
  for (size_t i = 0; i < vocab.tokens.size(); ++i) {
    if (is_byte_piece(vocab.tokens[i])) vocab.types[i] = Vocab::kByte;
    vocab.max_token_bytes = std::max(vocab.max_token_bytes, vocab.tokens[i].size());
  }
  vocab.types[static_cast<size_t>(vocab.unk_id)] = Vocab::kUnknown;
  if (vocab_size > vocab.bos_id) vocab.types[static_cast<size_t>(vocab.bos_id)] = Vocab::kControl;
  if (vocab_size > vocab.eos_id) vocab.types[static_cast<size_t>(vocab.eos_id)] = Vocab::kControl;
  return vocab;
}

Result<Vocab> read_llama2c_tokenizer(const std::string& path, int vocab_size) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IOError("cannot open tokenizer " + path);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return Status::IOError("error reading tokenizer " + path);
  return parse_llama2c_tokenizer(bytes.data(), bytes.size(), vocab_size, path);
}

}  // namespace kvforge::model
