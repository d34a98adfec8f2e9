// encode follows llama.cpp's llm_tokenizer_spm (commit c392e50) step for step,
// because its conformance cases and llama2.c's reference ids are the
// definition of "correct" here: the same priority order (highest score, then
// leftmost), the same UTF-8 splitting by lead byte, and the same byte fallback
// for symbols the vocabulary lacks. A heap of candidate pairs keeps it
// O(n log n), so 100 KB lines encode in milliseconds.
#include "model/spm_tokenizer.h"

#include <algorithm>
#include <cstdio>
#include <queue>

namespace kvforge::model::detail {
namespace {

// llama.cpp sizes a character by its lead byte alone (a stray continuation byte
// counts as one character); doing the same keeps malformed UTF-8 tokenizing alike.
size_t utf8_char_len(uint8_t lead) {
  static constexpr uint8_t kLen[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLen[lead >> 4];
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// "<0xXX>" -> the byte, as llama2.c's sscanf("<0x%02hhX>") accepts it; -1 otherwise.
int byte_piece_value(std::string_view piece) {
  if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>') return -1;
  const int hi = hex_value(piece[3]);
  const int lo = hex_value(piece[4]);
  return (hi < 0 || lo < 0) ? -1 : hi * 16 + lo;
}

struct Symbol {
  ptrdiff_t prev;
  ptrdiff_t next;
  size_t start;  // into the normalized text
  size_t n;      // bytes; 0 once merged into its left neighbour
};

struct Bigram {
  float score;
  ptrdiff_t left;
  ptrdiff_t right;
  size_t size;  // bytes of the merged text, to recognise entries made stale by later merges
};

// priority_queue puts the "largest" first: higher score wins, then the smaller left index.
struct BigramOrder {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

}  // namespace

Result<std::unique_ptr<SpmTokenizer>> SpmTokenizer::create(const Vocab& vocab, const PieceIndex& pieces) {
  std::unique_ptr<SpmTokenizer> tok(new SpmTokenizer(vocab, pieces));
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    const int32_t id = pieces.find(name);
    if (id < 0) return Status::InvalidArgument(std::string("tokenizer: vocabulary lacks byte token ") + name);
    tok->byte_to_id_[b] = id;
  }
  return tok;
}

void SpmTokenizer::encode(std::string_view text, bool starts_run, std::vector<int32_t>* out) const {
  if (text.empty()) return;
  const std::string& marker = vocab_.space_marker;
  std::string norm;
  norm.reserve(text.size() + 16);
  if (vocab_.add_space_prefix && starts_run) norm += marker;
  for (char c : text) {
    if (c == ' ') {
      norm += marker;
    } else {
      norm += c;
    }
  }

  std::vector<Symbol> symbols;
  symbols.reserve(norm.size());
  for (size_t off = 0; off < norm.size();) {
    const size_t len = std::min(utf8_char_len(static_cast<uint8_t>(norm[off])), norm.size() - off);
    const auto idx = static_cast<ptrdiff_t>(symbols.size());
    symbols.push_back(Symbol{idx - 1, idx + 1, off, len});
    off += len;
  }
  symbols.back().next = -1;

  const std::string_view view(norm);
  std::vector<Bigram> storage;
  storage.reserve(symbols.size());
  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue(BigramOrder{}, std::move(storage));
  auto try_add = [&](ptrdiff_t left, ptrdiff_t right) {
    if (left < 0 || right < 0) return;
    const Symbol& l = symbols[static_cast<size_t>(left)];
    const size_t size = l.n + symbols[static_cast<size_t>(right)].n;
    const int32_t id = pieces_.find(view.substr(l.start, size));
    if (id < 0) return;
    queue.push(Bigram{vocab_.scores[static_cast<size_t>(id)], left, right, size});
  };
  for (size_t i = 1; i < symbols.size(); ++i) try_add(static_cast<ptrdiff_t>(i - 1), static_cast<ptrdiff_t>(i));

  while (!queue.empty()) {
    const Bigram top = queue.top();
    queue.pop();
    Symbol& l = symbols[static_cast<size_t>(top.left)];
    Symbol& r = symbols[static_cast<size_t>(top.right)];
    if (l.n == 0 || r.n == 0 || l.n + r.n != top.size) continue;  // one side already merged elsewhere
    l.n += r.n;
    r.n = 0;
    l.next = r.next;
    if (r.next >= 0) symbols[static_cast<size_t>(r.next)].prev = top.left;
    try_add(l.prev, top.left);
    try_add(top.left, l.next);
  }

  for (ptrdiff_t i = 0; i >= 0; i = symbols[static_cast<size_t>(i)].next) {
    const Symbol& s = symbols[static_cast<size_t>(i)];
    const std::string_view piece = view.substr(s.start, s.n);
    const int32_t id = pieces_.find(piece);
    if (id >= 0) {
      out->push_back(id);
    } else {
      // Only unmerged characters can be missing (every merge result is a piece).
      for (char c : piece) out->push_back(byte_to_id_[static_cast<uint8_t>(c)]);
    }
  }
}

std::string SpmTokenizer::decode_piece(int32_t prev, int32_t token) const {
  if (token < 0 || static_cast<size_t>(token) >= vocab_.tokens.size()) return {};
  const auto t = static_cast<size_t>(token);
  const int32_t type = vocab_.types[t];
  // Control, unknown and unused tokens carry no text (BOS is "\n<s>\n" in
  // llama2.c files; llama.cpp prints <unk> only when asked for specials).
  if (type == Vocab::kControl || type == Vocab::kUnknown || type == Vocab::kUnused) return {};
  const std::string& raw = vocab_.tokens[t];
  if (const int byte = byte_piece_value(raw); byte >= 0) return std::string(1, static_cast<char>(byte));

  std::string piece;
  const std::string& marker = vocab_.space_marker;
  if (marker.empty() || marker == " ") {
    piece = raw;
  } else {
    piece.reserve(raw.size());
    for (size_t i = 0; i < raw.size();) {
      if (raw.compare(i, marker.size(), marker) == 0) {
        piece += ' ';
        i += marker.size();
      } else {
        piece += raw[i++];
      }
    }
  }
  // SentencePiece's decoder drops the dummy-prefix space of the first word.
  if (prev == vocab_.bos_id && !piece.empty() && piece[0] == ' ') piece.erase(0, 1);
  return piece;
}

}  // namespace kvforge::model::detail
