#include "model/bpe_tokenizer.h"

#include <queue>

#include "model/byte_unicode.h"

namespace kvforge::model::detail {
namespace {

struct Bigram {
  int32_t rank;
  int32_t left;
  int32_t right;
  uint32_t size;  // bytes of the merged text, to recognise entries made stale by later merges
};

// priority_queue puts the "largest" first: the lowest rank wins, then the smaller left index.
struct BigramOrder {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

}  // namespace

struct BpeTokenizer::Scratch {
  std::string spelled;  // the word in the byte alphabet
  std::vector<Symbol> symbols;
  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
};

Result<std::unique_ptr<BpeTokenizer>> BpeTokenizer::create(const Vocab& vocab, const PieceIndex& pieces) {
  if (vocab.pre.empty()) {
    return Status::NotSupported(
        "tokenizer: BPE vocabulary names no pre-tokenizer (tokenizer.ggml.pre is missing; llama.cpp would guess "
        "'default' and warn of degraded output): re-convert the model with a current llama.cpp");
  }
  KVF_ASSIGN_OR_RETURN(PreTokenizer pre, PreTokenizer::create(vocab.pre));
  if (vocab.merges.empty()) {
    return Status::InvalidArgument("tokenizer: BPE vocabulary has no merges (tokenizer.ggml.merges)");
  }
  return std::unique_ptr<BpeTokenizer>(new BpeTokenizer(vocab, pieces, std::move(pre)));
}

BpeTokenizer::BpeTokenizer(const Vocab& vocab, const PieceIndex& pieces, PreTokenizer pre)
    : pieces_(pieces), pre_(std::move(pre)), ranks_(vocab.merges, pieces) {
  for (int b = 0; b < 256; ++b) byte_id_[b] = pieces.find(byte_to_unicode(static_cast<uint8_t>(b)));
  decoded_.resize(vocab.tokens.size());
  for (size_t i = 0; i < vocab.tokens.size(); ++i) {
    const int32_t type = vocab.types[i];
    if (type == Vocab::kNormal) {
      decoded_[i] = decode_byte_level(vocab.tokens[i]);
    } else if (type == Vocab::kUserDefined) {
      decoded_[i] = vocab.tokens[i];
    }
  }
}

void BpeTokenizer::encode(std::string_view text, bool /*starts_run*/, std::vector<int32_t>* out) const {
  Scratch scratch;
  for (const TextRange& word : pre_.split(text)) encode_word(text.substr(word.offset, word.length), scratch, out);
}

void BpeTokenizer::encode_word(std::string_view word, Scratch& s, std::vector<int32_t>* out) const {
  s.spelled.clear();
  s.symbols.clear();
  for (char c : word) {
    const auto b = static_cast<uint8_t>(c);
    const auto start = static_cast<uint32_t>(s.spelled.size());
    s.spelled.append(byte_to_unicode(b));
    const auto idx = static_cast<int32_t>(s.symbols.size());
    s.symbols.push_back(Symbol{idx - 1, idx + 1, start, static_cast<uint32_t>(s.spelled.size()) - start, byte_id_[b]});
  }
  if (s.symbols.empty()) return;
  s.symbols.back().next = -1;
  if (pre_.ignore_merges()) {
    if (const int32_t whole = pieces_.find(s.spelled); whole >= 0) {
      out->push_back(whole);
      return;
    }
  }
  merge(s);
  const std::string_view spelled(s.spelled);
  for (int32_t i = 0; i >= 0; i = s.symbols[static_cast<size_t>(i)].next) {
    const Symbol& sym = s.symbols[static_cast<size_t>(i)];
    if (sym.id >= 0) {
      out->push_back(sym.id);
      continue;
    }
    // llama.cpp's fallback: each byte of the spelling that is itself a token
    // (none is, in a complete byte alphabet, so the symbol is dropped).
    for (char c : spelled.substr(sym.start, sym.n)) {
      if (const int32_t id = pieces_.find(std::string_view(&c, 1)); id >= 0) out->push_back(id);
    }
  }
}

void BpeTokenizer::merge(Scratch& s) const {
  const std::string_view spelled(s.spelled);
  std::vector<Symbol>& sym = s.symbols;
  auto try_add = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const Symbol& l = sym[static_cast<size_t>(left)];
    const Symbol& r = sym[static_cast<size_t>(right)];
    const int32_t rank = ranks_.rank(l.id, spelled.substr(l.start, l.n), r.id, spelled.substr(r.start, r.n));
    if (rank >= 0) s.queue.push(Bigram{rank, left, right, l.n + r.n});
  };
  for (size_t i = 1; i < sym.size(); ++i) try_add(static_cast<int32_t>(i - 1), static_cast<int32_t>(i));
  while (!s.queue.empty()) {
    const Bigram top = s.queue.top();
    s.queue.pop();
    Symbol& l = sym[static_cast<size_t>(top.left)];
    Symbol& r = sym[static_cast<size_t>(top.right)];
    if (l.n == 0 || r.n == 0 || l.n + r.n != top.size) continue;  // one side already merged elsewhere
    l.n += r.n;
    r.n = 0;
    l.next = r.next;
    if (r.next >= 0) sym[static_cast<size_t>(r.next)].prev = top.left;
    l.id = pieces_.find(spelled.substr(l.start, l.n));
    try_add(l.prev, top.left);
    try_add(top.left, l.next);
  }
}

std::string BpeTokenizer::decode_piece(int32_t /*prev*/, int32_t token) const {
  if (token < 0 || static_cast<size_t>(token) >= decoded_.size()) return {};
  return decoded_[static_cast<size_t>(token)];
}

}  // namespace kvforge::model::detail
