#include "codec/rans.h"

#include <algorithm>

namespace kvforge::codec::rans {

bool normalize(const uint32_t* counts, int n, bool floor_all, uint16_t* freq) {
  uint64_t total = 0;
  for (int i = 0; i < n; ++i) total += counts[i] + (floor_all ? 1 : 0);
  if (total == 0) return false;
  int64_t sum = 0;
  int best = 0;
  for (int i = 0; i < n; ++i) {
    const uint64_t c = counts[i] + (floor_all ? 1 : 0);
    uint32_t f = c == 0 ? 0 : static_cast<uint32_t>((c * kProbScale) / total);
    if (c > 0 && f == 0) f = 1;
    freq[i] = static_cast<uint16_t>(f);
    sum += f;
    if (f > freq[best]) best = i;
  }
  // Fix the total: take from / give to the largest entries, never below 1.
  while (sum != kProbScale) {
    if (sum < kProbScale) {
      freq[best] = static_cast<uint16_t>(freq[best] + (kProbScale - sum));
      sum = kProbScale;
    } else {
      int bi = 0;
      for (int i = 0; i < n; ++i)
        if (freq[i] > freq[bi]) bi = i;
      const int64_t take = std::min<int64_t>(sum - kProbScale, freq[bi] / 2);
      freq[bi] = static_cast<uint16_t>(freq[bi] - std::max<int64_t>(take, 1));
      sum -= std::max<int64_t>(take, 1);
    }
  }
  return true;
}

void Encoder::finish(const uint32_t st[format::kRansStates], std::string* out) {
  for (int i = 0; i < format::kRansStates; ++i) format::put_u32(out, st[i]);
  const size_t at = out->size();
  out->resize(at + 2 * words_.size());
  char* o = out->data() + at;
  for (size_t i = 0; i < words_.size(); ++i) {
    const uint16_t w = words_[words_.size() - 1 - i];
    o[2 * i] = static_cast<char>(w & 0xff);
    o[2 * i + 1] = static_cast<char>(w >> 8);
  }
  words_.clear();
}

}  // namespace kvforge::codec::rans
