#include "codec/tables.h"

#include "codec/rans.h"

namespace kvforge::codec::cachegen {

namespace f = format;

namespace {

void put_varint(std::string* s, uint32_t v) {
  while (v >= 0x80) {
    s->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  s->push_back(static_cast<char>(v));
}

bool read_raw_row(int A, ByteReader* in, uint16_t* fr) {
  const uint8_t* b;
  if (!in->take(2 * static_cast<size_t>(A), &b)) return false;
  uint32_t sum = 0;
  for (int s = 0; s < A; ++s) sum += fr[s] = f::get_u16(b + 2 * s);
  return sum == 0 || sum == rans::kProbScale;
}

// `lo hi` then the frequencies of lo..hi-1; hi gets the rest of 2^11 (`1 0`: empty).
bool read_compact_row(int A, ByteReader* in, uint16_t* fr) {
  uint32_t lo, hi;
  if (!in->u8(&lo) || !in->u8(&hi)) return false;
  if (lo == 1 && hi == 0) return true;
  if (lo > hi || hi >= static_cast<uint32_t>(A)) return false;
  uint32_t sum = 0;
  for (uint32_t s = lo; s < hi; ++s) {
    uint32_t v;
    if (!in->varint(&v) || v > rans::kProbScale) return false;
    fr[s] = static_cast<uint16_t>(v);
    sum += v;
  }
  if (sum >= rans::kProbScale) return false;
  fr[hi] = static_cast<uint16_t>(rans::kProbScale - sum);
  return true;
}

}  // namespace

bool ByteReader::take(size_t n, const uint8_t** out) {
  if (static_cast<size_t>(e_ - p_) < n) return false;
  *out = p_;
  p_ += n;
  return true;
}

bool ByteReader::u8(uint32_t* v) {
  if (p_ >= e_) return false;
  *v = *p_++;
  return true;
}

bool ByteReader::varint(uint32_t* v) {
  uint32_t r = 0;
  for (int shift = 0; shift < 21; shift += 7) {
    if (p_ >= e_) return false;
    const uint8_t b = *p_++;
    r |= static_cast<uint32_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *v = r;
      return true;
    }
  }
  return false;
}

void build_freq(const Plane& p, const Geometry& g, const std::vector<int16_t>& q, const uint8_t* pred,
                std::vector<uint16_t>* freq) {
  const size_t rows = static_cast<size_t>(g.nch()) * p.nctx;
  std::vector<uint32_t> counts(rows * p.A, 0);
  for_symbols(p, g, q.data(), pred,
              [&](int c, int ctx, int sym, int) { ++counts[(static_cast<size_t>(c) * p.nctx + ctx) * p.A + sym]; });
  freq->assign(rows * p.A, 0);
  for (size_t r = 0; r < rows; ++r) rans::normalize(&counts[r * p.A], p.A, false, &(*freq)[r * p.A]);
}

void write_tables(const Plane& p, const std::vector<uint16_t>& freq, std::string* out) {
  const size_t rows = freq.size() / p.A;
  for (size_t r = 0; r < rows; ++r) {
    const uint16_t* fr = &freq[r * p.A];
    if (p.raw_tables) {
      for (int s = 0; s < p.A; ++s) f::put_u16(out, fr[s]);
      continue;
    }
    int lo = 0, hi = p.A - 1;
    while (lo < p.A && fr[lo] == 0) ++lo;
    while (hi >= 0 && fr[hi] == 0) --hi;
    if (lo > hi) {  // empty row
      f::put_u8(out, 1);
      f::put_u8(out, 0);
      continue;
    }
    f::put_u8(out, static_cast<uint8_t>(lo));
    f::put_u8(out, static_cast<uint8_t>(hi));
    // The last frequency is implied (the row sums to 2^11).
    for (int s = lo; s < hi; ++s) put_varint(out, fr[s]);
  }
}

bool read_tables(const Plane& p, size_t rows, ByteReader* in, std::vector<uint16_t>* freq) {
  freq->assign(rows * p.A, 0);
  for (size_t r = 0; r < rows; ++r) {
    uint16_t* fr = &(*freq)[r * p.A];
    if (!(p.raw_tables ? read_raw_row(p.A, in, fr) : read_compact_row(p.A, in, fr))) return false;
  }
  return true;
}

void write_pred_flags(const std::vector<uint8_t>& pred, std::string* out) {
  std::string bits((pred.size() + 7) / 8, '\0');
  for (size_t ch = 0; ch < pred.size(); ++ch)
    if (pred[ch]) bits[ch / 8] = static_cast<char>(bits[ch / 8] | (1 << (ch % 8)));
  *out += bits;
}

bool read_pred_flags(size_t nch, ByteReader* in, std::vector<uint8_t>* pred) {
  const uint8_t* pb;
  if (!in->take((nch + 7) / 8, &pb)) return false;
  pred->assign(nch, 0);
  for (size_t ch = 0; ch < nch; ++ch) (*pred)[ch] = (pb[ch / 8] >> (ch % 8)) & 1;
  return nch % 8 == 0 || (pb[nch / 8] >> (nch % 8)) == 0;
}

}  // namespace kvforge::codec::cachegen
