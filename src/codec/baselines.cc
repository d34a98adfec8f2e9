// Baseline codecs: fp16 (raw), q8 / q4 (per-row symmetric), kivi2 (KIVI 2-bit),
// zstd (libzstd over fp16). Section layouts are in docs/FORMAT.md.
#include <zstd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "codec/codec_impl.h"
#include "kvforge/core/half.h"

namespace kvforge::codec {
namespace f = format;
using core::f32_to_fp16;
using core::fp16_to_f32;

namespace {
uint16_t fp16_next_up(uint16_t h) {
  if (h == 0x8000) return 0x0001;
  return (h & 0x8000) ? static_cast<uint16_t>(h - 1) : static_cast<uint16_t>(h + 1);
}
uint16_t fp16_next_down(uint16_t h) {
  if (h == 0x0000) return 0x8001;
  return (h & 0x8000) ? static_cast<uint16_t>(h + 1) : static_cast<uint16_t>(h - 1);
}
}  // namespace

uint16_t fp16_ceil(float x) {
  uint16_t h = f32_to_fp16(x);
  if (fp16_to_f32(h) < x) h = fp16_next_up(h);
  return h;
}
uint16_t fp16_floor(float x) {
  uint16_t h = f32_to_fp16(x);
  if (fp16_to_f32(h) > x) h = fp16_next_down(h);
  return h;
}

namespace {

class Reader {
 public:
  explicit Reader(std::string_view s) : p_(reinterpret_cast<const uint8_t*>(s.data())), end_(p_ + s.size()) {}
  const uint8_t* take(size_t n) {
    if (static_cast<size_t>(end_ - p_) < n) return nullptr;
    const uint8_t* r = p_;
    p_ += n;
    return r;
  }
  bool done() const { return p_ == end_; }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

Status size_mismatch() { return Status::Corruption("section size does not match its shape"); }

void put_fp16_row(const float* x, size_t n, std::string* out) {
  const size_t at = out->size();
  out->resize(at + 2 * n);
  std::vector<uint16_t> tmp(n);
  core::f32_to_fp16_row(x, tmp.data(), n);
  // Little-endian on disk.
  auto* o = reinterpret_cast<uint8_t*>(out->data() + at);
  for (size_t i = 0; i < n; ++i) {
    o[2 * i] = static_cast<uint8_t>(tmp[i] & 0xff);
    o[2 * i + 1] = static_cast<uint8_t>(tmp[i] >> 8);
  }
}
void get_fp16_row(const uint8_t* in, size_t n, float* x) {
  std::vector<uint16_t> tmp(n);
  for (size_t i = 0; i < n; ++i) tmp[i] = f::get_u16(in + 2 * i);
  core::fp16_to_f32_row(tmp.data(), x, n);
}

// ---------------------------------------------------------------- fp16
class Fp16Codec final : public CodecImpl {
 public:
  std::string name() const override { return "fp16"; }
  std::string level() const override { return ""; }
  uint8_t codec_id() const override { return f::kFp16; }
  size_t max_section_bytes(const KvShape& s, size_t t) const override {
    return 4 * static_cast<size_t>(s.n_kv_heads) * s.head_dim * t;
  }
  Status encode_section(const SectionCtx& c, const float* k, const float* v, std::string* out) const override {
    const size_t n = c.layer_elements();
    out->reserve(4 * n);
    put_fp16_row(k, n, out);
    put_fp16_row(v, n, out);
    return Status::OK();
  }
  Status decode_section(const SectionCtx& c, std::string_view in, float* k, float* v) const override {
    const size_t n = c.layer_elements();
    if (in.size() != 4 * n) return size_mismatch();
    const auto* b = reinterpret_cast<const uint8_t*>(in.data());
    get_fp16_row(b, n, k);
    get_fp16_row(b + 2 * n, n, v);
    return Status::OK();
  }
};

// ---------------------------------------------------------------- q8 / q4
// Symmetric per-group quantization: scale s = fp16_ceil(absmax / qmax), code = round(x / s).
// q8: one group per (head, token) row of head_dim channels. q4: groups of up to 32 channels.
class SymCodec final : public CodecImpl {
 public:
  explicit SymCodec(bool four) : four_(four) {}
  std::string name() const override { return four_ ? "q4" : "q8"; }
  std::string level() const override { return ""; }
  uint8_t codec_id() const override { return four_ ? f::kQ4 : f::kQ8; }
  int qmax() const { return four_ ? f::kQ4Max : f::kQ8Max; }
  int group(int head_dim) const { return four_ ? std::min(head_dim, f::kQ4Group) : head_dim; }
  size_t groups_per_row(int head_dim) const {
    const int g = group(head_dim);
    return static_cast<size_t>((head_dim + g - 1) / g);
  }
  size_t side_bytes(const KvShape& s, size_t t) const {
    const size_t rows = static_cast<size_t>(s.n_kv_heads) * t;
    const size_t n = rows * s.head_dim;
    return rows * groups_per_row(s.head_dim) * 2 + (four_ ? (n + 1) / 2 : n);
  }
  size_t max_section_bytes(const KvShape& s, size_t t) const override { return 2 * side_bytes(s, t); }

  void encode_side(const SectionCtx& c, const float* x, std::string* out) const {
    const int D = c.shape.head_dim, g = group(D), Q = qmax();
    const size_t rows = static_cast<size_t>(c.shape.n_kv_heads) * c.n_tokens, gpr = groups_per_row(D);
    const size_t n = rows * D;
    std::vector<int8_t> q(n);
    std::string scales;
    scales.reserve(rows * gpr * 2);
    for (size_t r = 0; r < rows; ++r) {
      for (size_t gi = 0; gi < gpr; ++gi) {
        const size_t b = r * D + gi * g, e = std::min(r * D + (gi + 1) * g, (r + 1) * D);
        float amax = 0;
        for (size_t i = b; i < e; ++i) amax = std::max(amax, std::fabs(x[i]));
        const uint16_t sh = fp16_ceil(amax / Q);
        f::put_u16(&scales, sh);
        const float s = fp16_to_f32(sh);
        const float inv = s > 0 ? 1.0f / s : 0.0f;
        for (size_t i = b; i < e; ++i) {
          const long v = std::lrint(x[i] * inv);
          q[i] = static_cast<int8_t>(std::clamp<long>(v, -Q, Q));
        }
      }
    }
    *out += scales;
    if (!four_) {
      out->append(reinterpret_cast<const char*>(q.data()), n);
    } else {
      for (size_t i = 0; i < n; i += 2) {
        const uint8_t lo = static_cast<uint8_t>(q[i] + 8);
        const uint8_t hi = i + 1 < n ? static_cast<uint8_t>(q[i + 1] + 8) : 0;
        out->push_back(static_cast<char>(lo | (hi << 4)));
      }
    }
  }
  Status decode_side(const SectionCtx& c, const uint8_t* in, float* x) const {
    const int D = c.shape.head_dim, g = group(D);
    const size_t rows = static_cast<size_t>(c.shape.n_kv_heads) * c.n_tokens, gpr = groups_per_row(D);
    const uint8_t* codes = in + rows * gpr * 2;
    for (size_t r = 0; r < rows; ++r) {
      for (size_t gi = 0; gi < gpr; ++gi) {
        const float s = fp16_to_f32(f::get_u16(in + 2 * (r * gpr + gi)));
        if (!std::isfinite(s) || s < 0) {
          return Status::Corruption("invalid scale #" + std::to_string(r * gpr + gi) + ": " + std::to_string(s));
        }
        const size_t b = r * D + gi * g, e = std::min(r * D + (gi + 1) * g, (r + 1) * D);
        if (!four_) {
          for (size_t i = b; i < e; ++i) x[i] = static_cast<float>(static_cast<int8_t>(codes[i])) * s;
        } else {
          for (size_t i = b; i < e; ++i) {
            const int nib = (codes[i >> 1] >> ((i & 1) * 4)) & 15;
            x[i] = static_cast<float>(nib - 8) * s;
          }
        }
      }
    }
    return Status::OK();
  }
  Status encode_section(const SectionCtx& c, const float* k, const float* v, std::string* out) const override {
    encode_side(c, k, out);
    encode_side(c, v, out);
    return Status::OK();
  }
  Status decode_section(const SectionCtx& c, std::string_view in, float* k, float* v) const override {
    const size_t sb = side_bytes(c.shape, c.n_tokens);
    if (in.size() != 2 * sb) return size_mismatch();
    const auto* b = reinterpret_cast<const uint8_t*>(in.data());
    KVF_RETURN_IF_ERROR(decode_side(c, b, k).with_context("K"));
    return decode_side(c, b + sb, v).with_context("V");
  }

 private:
  bool four_;
};

// ---------------------------------------------------------------- kivi2
// Keys: per channel over groups of 32 tokens; values: per token over groups of up
// to 32 channels. Asymmetric 2-bit: min m = fp16_floor(min), step s = fp16_ceil((max - m) / 3),
// code = round((x - m) / s) in 0..3. The last n_tokens - n_q tokens stay fp16, where
// n_q = 32 * floor((n_tokens - residual) / 32) (0 when n_tokens < residual).
class Kivi2Codec final : public CodecImpl {
 public:
  explicit Kivi2Codec(int residual) : residual_(residual) {}
  std::string name() const override { return "kivi2"; }
  std::string level() const override { return ""; }
  uint8_t codec_id() const override { return f::kKivi2; }
  uint32_t param() const override { return static_cast<uint32_t>(residual_); }
  static size_t n_quant(size_t T, uint32_t residual) {
    return T < residual ? 0 : ((T - residual) / f::kKiviGroup) * f::kKiviGroup;
  }
  struct Sizes {
    size_t tq, kmeta, vmeta, codes, resid;
  };
  static Sizes sizes(const KvShape& s, size_t T, uint32_t residual) {
    Sizes z;
    const size_t H = s.n_kv_heads, D = s.head_dim;
    z.tq = n_quant(T, residual);
    z.kmeta = H * (z.tq / f::kKiviGroup) * D * 4;
    const size_t vg = (D + f::kKiviGroup - 1) / f::kKiviGroup;
    z.vmeta = H * z.tq * vg * 4;
    z.codes = (H * z.tq * D + 3) / 4;
    z.resid = H * (T - z.tq) * D * 2;
    return z;
  }
  size_t max_section_bytes(const KvShape& s, size_t t) const override {
    const Sizes z = sizes(s, t, residual_);
    return z.kmeta + z.vmeta + 2 * z.codes + 2 * z.resid;
  }
  static void quant_group(const float* x, size_t n, size_t stride, std::string* meta, uint8_t* codes,
                          size_t code_base, size_t code_stride) {
    float lo = x[0], hi = x[0];
    for (size_t i = 1; i < n; ++i) {
      lo = std::min(lo, x[i * stride]);
      hi = std::max(hi, x[i * stride]);
    }
    const uint16_t mh = fp16_floor(lo);
    const float m = fp16_to_f32(mh);
    const uint16_t sh = fp16_ceil((hi - m) / 3.0f);
    const float s = fp16_to_f32(sh);
    f::put_u16(meta, mh);
    f::put_u16(meta, sh);
    const float inv = s > 0 ? 1.0f / s : 0.0f;
    for (size_t i = 0; i < n; ++i) {
      const long q = std::clamp<long>(std::lrint((x[i * stride] - m) * inv), 0, 3);
      const size_t ci = code_base + i * code_stride;
      codes[ci >> 2] |= static_cast<uint8_t>(q << ((ci & 3) * 2));
    }
  }
  Status encode_section(const SectionCtx& c, const float* k, const float* v, std::string* out) const override {
    const size_t H = c.shape.n_kv_heads, D = c.shape.head_dim, T = c.n_tokens;
    const Sizes z = sizes(c.shape, T, residual_);
    std::string kmeta, vmeta;
    std::vector<uint8_t> kc(z.codes, 0), vc(z.codes, 0);
    // Code index of (h, t, d) for t < tq: (h * tq + t) * D + d.
    for (size_t h = 0; h < H; ++h) {
      for (size_t tg = 0; tg < z.tq; tg += f::kKiviGroup) {
        for (size_t d = 0; d < D; ++d) {
          quant_group(k + (h * T + tg) * D + d, f::kKiviGroup, D, &kmeta, kc.data(), (h * z.tq + tg) * D + d, D);
        }
      }
      for (size_t t = 0; t < z.tq; ++t) {
        for (size_t d0 = 0; d0 < D; d0 += f::kKiviGroup) {
          const size_t n = std::min<size_t>(f::kKiviGroup, D - d0);
          quant_group(v + (h * T + t) * D + d0, n, 1, &vmeta, vc.data(), (h * z.tq + t) * D + d0, 1);
        }
      }
    }
    *out += kmeta;
    *out += vmeta;
    out->append(reinterpret_cast<const char*>(kc.data()), kc.size());
    out->append(reinterpret_cast<const char*>(vc.data()), vc.size());
    for (const float* x : {k, v}) {
      for (size_t h = 0; h < H; ++h) put_fp16_row(x + (h * T + z.tq) * D, (T - z.tq) * D, out);
    }
    return Status::OK();
  }
  static Status dequant_group(const uint8_t* meta, size_t n, size_t stride, const uint8_t* codes, size_t code_base,
                              size_t code_stride, float* x) {
    const float m = fp16_to_f32(f::get_u16(meta)), s = fp16_to_f32(f::get_u16(meta + 2));
    if (!std::isfinite(m) || !std::isfinite(s) || s < 0) {
      return Status::Corruption("invalid group: min " + std::to_string(m) + ", step " + std::to_string(s));
    }
    for (size_t i = 0; i < n; ++i) {
      const size_t ci = code_base + i * code_stride;
      const int q = (codes[ci >> 2] >> ((ci & 3) * 2)) & 3;
      x[i * stride] = m + static_cast<float>(q) * s;
    }
    return Status::OK();
  }
  Status decode_section(const SectionCtx& c, std::string_view in, float* k, float* v) const override {
    if (c.param > static_cast<uint32_t>(f::kKiviMaxResidual)) return Status::Corruption("kivi2 residual out of range");
    const size_t H = c.shape.n_kv_heads, D = c.shape.head_dim, T = c.n_tokens;
    const Sizes z = sizes(c.shape, T, c.param);
    if (in.size() != z.kmeta + z.vmeta + 2 * z.codes + 2 * z.resid) return size_mismatch();
    const auto* b = reinterpret_cast<const uint8_t*>(in.data());
    const uint8_t *km = b, *vm = b + z.kmeta, *kc = vm + z.vmeta, *vc = kc + z.codes, *res = vc + z.codes;
    for (size_t h = 0; h < H; ++h) {
      for (size_t tg = 0; tg < z.tq; tg += f::kKiviGroup) {
        for (size_t d = 0; d < D; ++d, km += 4) {
          KVF_RETURN_IF_ERROR(
              dequant_group(km, f::kKiviGroup, D, kc, (h * z.tq + tg) * D + d, D, k + (h * T + tg) * D + d)
                  .with_context("K"));
        }
      }
      for (size_t t = 0; t < z.tq; ++t) {
        for (size_t d0 = 0; d0 < D; d0 += f::kKiviGroup, vm += 4) {
          const size_t n = std::min<size_t>(f::kKiviGroup, D - d0);
          KVF_RETURN_IF_ERROR(
              dequant_group(vm, n, 1, vc, (h * z.tq + t) * D + d0, 1, v + (h * T + t) * D + d0).with_context("V"));
        }
      }
    }
    for (float* x : {k, v}) {
      for (size_t h = 0; h < H; ++h) {
        const size_t n = (T - z.tq) * D;
        get_fp16_row(res, n, x + (h * T + z.tq) * D);
        res += 2 * n;
      }
    }
    return Status::OK();
  }

 private:
  int residual_;
};

// ---------------------------------------------------------------- zstd
// Section: u32 compressed size of K, zstd frame of K's fp16 bytes, zstd frame of V's.
class ZstdCodec final : public CodecImpl {
 public:
  explicit ZstdCodec(int level) : level_(level) {}
  std::string name() const override { return "zstd"; }
  std::string level() const override { return std::to_string(level_); }
  uint8_t codec_id() const override { return f::kZstd; }
  uint8_t level_id() const override { return static_cast<uint8_t>(level_); }
  size_t max_section_bytes(const KvShape& s, size_t t) const override {
    return 4 + 2 * ZSTD_compressBound(2 * static_cast<size_t>(s.n_kv_heads) * s.head_dim * t);
  }
  Status encode_section(const SectionCtx& c, const float* k, const float* v, std::string* out) const override {
    const size_t n = c.layer_elements();
    std::string raw;
    std::string comp[2];
    const float* xs[2] = {k, v};
    for (int i = 0; i < 2; ++i) {
      raw.clear();
      put_fp16_row(xs[i], n, &raw);
      comp[i].resize(ZSTD_compressBound(raw.size()));
      const size_t r = ZSTD_compress(comp[i].data(), comp[i].size(), raw.data(), raw.size(), level_);
      if (ZSTD_isError(r)) return Status::Internal(std::string("zstd: ") + ZSTD_getErrorName(r));
      comp[i].resize(r);
    }
    f::put_u32(out, static_cast<uint32_t>(comp[0].size()));
    *out += comp[0];
    *out += comp[1];
    return Status::OK();
  }
  Status decode_section(const SectionCtx& c, std::string_view in, float* k, float* v) const override {
    const size_t n = c.layer_elements();
    if (in.size() < 4) return size_mismatch();
    const size_t k_size = f::get_u32(in.data());
    if (k_size > in.size() - 4) return size_mismatch();
    std::string_view parts[2] = {in.substr(4, k_size), in.substr(4 + k_size)};
    float* xs[2] = {k, v};
    std::vector<uint8_t> raw(2 * n + 1);
    for (int i = 0; i < 2; ++i) {
      const unsigned long long cs = ZSTD_getFrameContentSize(parts[i].data(), parts[i].size());
      if (cs != 2 * n) return Status::Corruption("zstd frame has the wrong content size");
      const size_t r = ZSTD_decompress(raw.data(), raw.size(), parts[i].data(), parts[i].size());
      if (ZSTD_isError(r) || r != 2 * n) return Status::Corruption("zstd frame does not decode");
      get_fp16_row(raw.data(), n, xs[i]);
    }
    return Status::OK();
  }

 private:
  int level_;
};

}  // namespace

std::unique_ptr<CodecImpl> new_fp16() { return std::make_unique<Fp16Codec>(); }
std::unique_ptr<CodecImpl> new_q8() { return std::make_unique<SymCodec>(false); }
std::unique_ptr<CodecImpl> new_q4() { return std::make_unique<SymCodec>(true); }
std::unique_ptr<CodecImpl> new_kivi2(int residual) { return std::make_unique<Kivi2Codec>(residual); }
std::unique_ptr<CodecImpl> new_zstd(int level) { return std::make_unique<ZstdCodec>(level); }

}  // namespace kvforge::codec
