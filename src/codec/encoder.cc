#include "codec/encoder.h"

#include <algorithm>
#include <cmath>

#include "codec/codec_impl.h"
#include "codec/rans.h"
#include "kvforge/core/half.h"
#include "kvforge/core/status.h"

namespace kvforge::codec::cachegen {

namespace f = format;
using core::fp16_to_f32;

namespace {

// cachegen-ref: one step per token, absmax over all heads and channels / Q.
void quantize_per_token(const Plane& p, const Geometry& g, const float* x, std::vector<uint16_t>* steps,
                        std::vector<int16_t>* q) {
  steps->assign(g.T, 0);
  std::vector<float> inv(g.T);
  for (size_t t = 0; t < g.T; ++t) {
    float amax = 0;
    for (int h = 0; h < g.H; ++h)
      for (int d = 0; d < g.D; ++d) amax = std::max(amax, std::fabs(x[(h * g.T + t) * g.D + d]));
    (*steps)[t] = fp16_ceil(amax);
    const float step = fp16_to_f32((*steps)[t]) / static_cast<float>(p.Q);
    inv[t] = step > 0 ? 1.0f / step : 0.0f;
  }
  for (int h = 0; h < g.H; ++h)
    for (size_t t = 0; t < g.T; ++t)
      for (int d = 0; d < g.D; ++d) {
        const size_t i = (h * g.T + t) * g.D + d;
        (*q)[i] = static_cast<int16_t>(std::clamp<long>(std::lrint(x[i] * inv[t]), -p.Q, p.Q));
      }
}

// Per-channel offsets: the fp16 midrange of each channel over the chunk's tokens.
void channel_offsets(const Geometry& g, const float* x, std::vector<uint16_t>* offs, std::vector<float>* off) {
  const int nch = g.nch();
  std::vector<float> lo(nch, INFINITY), hi(nch, -INFINITY);
  for (int h = 0; h < g.H; ++h)
    for (size_t t = 0; t < g.T; ++t)
      for (int d = 0; d < g.D; ++d) {
        const float v = x[(h * g.T + t) * g.D + d];
        lo[h * g.D + d] = std::min(lo[h * g.D + d], v);
        hi[h * g.D + d] = std::max(hi[h * g.D + d], v);
      }
  for (int c = 0; c < nch; ++c) {
    const float mid = g.T ? 0.5f * lo[c] + 0.5f * hi[c] : 0.0f;
    (*offs)[c] = core::f32_to_fp16(mid);
    (*off)[c] = fp16_to_f32((*offs)[c]);
  }
}

// Basis planes: one step S for every component unless it would clip one (docs/FORMAT.md).
void widen_to_plane_step(const Plane& p, const std::vector<float>& amax, float fixed_step, float* step_used,
                         std::vector<float>* want) {
  double log_sum = 0;
  int n = 0;
  for (float a : amax)
    if (a > 0) {
      log_sum += std::log(static_cast<double>(a) / p.Qnom);
      ++n;
    }
  const float S = fixed_step > 0 ? fixed_step : n ? static_cast<float>(std::exp(log_sum / n)) : 0.0f;
  if (step_used != nullptr) *step_used = n ? static_cast<float>(std::exp(log_sum / n)) : 0.0f;
  // Components whose whole range is below S round to 0 (their step 2 amax keeps
  // them there); the rest share S unless it would clip them.
  for (size_t c = 0; c < amax.size(); ++c) (*want)[c] = std::max((*want)[c], std::min(S, 2 * amax[c]));
}

// Appends the rANS streams of a plane (each: u32 length, stream). freq: [channel][ctx][A].
void encode_stream(const Plane& p, const Geometry& g, const std::vector<int16_t>& q, const uint8_t* pred,
                   const std::vector<uint16_t>& freq, std::string* out) {
  const int ns = n_streams(g), ngh = (g.D + kLanes - 1) / kLanes;
  std::vector<uint64_t> code;  // row << 13 | stream << 11 | lane << 8 | sym
  code.reserve(q.size());
  for_symbols(p, g, q.data(), pred, [&](int c, int ctx, int sym, int lane) {
    const uint32_t j = static_cast<uint32_t>((c / g.D) * ngh + (c % g.D) / kLanes);
    code.push_back((static_cast<uint64_t>(c * p.nctx + ctx) << 13) | ((j % ns) << 11) |
                   (static_cast<uint64_t>(lane) << 8) | static_cast<uint64_t>(sym));
  });
  const size_t rows = static_cast<size_t>(g.nch()) * p.nctx;
  std::vector<uint16_t> start(rows * p.A);
  for (size_t r = 0; r < rows; ++r) {
    uint32_t c = 0;
    for (int s = 0; s < p.A; ++s) {
      start[r * p.A + s] = static_cast<uint16_t>(c);
      c += freq[r * p.A + s];
    }
  }
  rans::Encoder enc[f::kMaxStreams];
  uint32_t st[f::kMaxStreams][kLanes];
  for (auto& a : st)
    for (auto& s : a) s = rans::kLow;
  for (size_t i = code.size(); i-- > 0;) {
    const size_t row = code[i] >> 13;
    const uint32_t sid = (code[i] >> 11) & 3, lane = (code[i] >> 8) & 7, sym = code[i] & 0xff;
    const size_t at = row * p.A + sym;
    KVF_CHECK(freq[at] > 0);
    enc[sid].put(st[sid][lane], freq[at], start[at]);
  }
  for (int k = 0; k < ns; ++k) {
    std::string stream;
    enc[k].finish(st[k], &stream);
    f::put_u32(out, static_cast<uint32_t>(stream.size()));
    *out += stream;
  }
}

// The profile's rows for the plane's alphabet and contexts, [channel][ctx][A].
void profile_freq(const Plane& p, const PlaneTables& t, size_t nch, std::vector<uint16_t>* freq) {
  freq->assign(nch * p.nctx * p.A, 0);
  for (size_t ch = 0; ch < nch; ++ch)
    for (int x = 0; x < p.nctx; ++x) {
      const uint16_t* src = t.freq + (ch * t.n_ctx + x) * t.alphabet;
      std::copy(src, src + p.A, &(*freq)[(ch * p.nctx + x) * p.A]);
    }
}

}  // namespace

void quantize_plane(const Plane& p, const Geometry& g, const float* x, std::vector<uint16_t>* steps,
                    std::vector<uint16_t>* offs, std::vector<int16_t>* q, float fixed_step, float* step_used) {
  q->resize(static_cast<size_t>(g.H) * g.T * g.D);
  if (p.per_token) return quantize_per_token(p, g, x, steps, q);
  const int nch = g.nch();
  steps->assign(nch, 0);
  offs->assign(p.offset ? nch : 0, 0);
  std::vector<float> off(nch, 0.0f), inv(nch);
  if (p.offset) channel_offsets(g, x, offs, &off);
  std::vector<float> amax(nch, 0.0f);
  for (int h = 0; h < g.H; ++h)
    for (size_t t = 0; t < g.T; ++t)
      for (int d = 0; d < g.D; ++d) {
        const int c = h * g.D + d;
        amax[c] = std::max(amax[c], std::fabs(x[(h * g.T + t) * g.D + d] - off[c]));
      }
  std::vector<float> want(nch);
  for (int c = 0; c < nch; ++c) want[c] = amax[c] / static_cast<float>(p.Q);
  if (p.basis) widen_to_plane_step(p, amax, fixed_step, step_used, &want);
  for (int c = 0; c < nch; ++c) {
    (*steps)[c] = fp16_ceil(want[c]);
    const float s = fp16_to_f32((*steps)[c]);
    inv[c] = s > 0 ? 1.0f / s : 0.0f;
  }
  for (int h = 0; h < g.H; ++h)
    for (size_t t = 0; t < g.T; ++t)
      for (int d = 0; d < g.D; ++d) {
        const int c = h * g.D + d;
        const size_t i = (h * g.T + t) * g.D + d;
        (*q)[i] = static_cast<int16_t>(std::clamp<long>(std::lrint((x[i] - off[c]) * inv[c]), -p.Q, p.Q));
      }
}

void encode_plane(const Plane& p, const Geometry& g, const float* x, const PlaneTables* profile, std::string* out) {
  const size_t nch = static_cast<size_t>(g.nch());
  std::vector<uint16_t> steps, offs, freq;
  std::vector<int16_t> q;
  quantize_plane(p, g, x, &steps, &offs, &q, profile != nullptr ? profile->step : 0.0f);
  for (uint16_t s : steps) f::put_u16(out, s);
  for (uint16_t s : offs) f::put_u16(out, s);
  std::vector<uint8_t> pred(nch, 0);
  if (profile != nullptr) {
    // The profile floors every reachable symbol of its rows (learn_profile), so every
    // symbol has a code; a frame with a profile ships no tables.
    pred.assign(profile->pred, profile->pred + nch);
    profile_freq(p, *profile, nch, &freq);
  } else {
    if (!p.per_token && !p.delta) {
      if (g.T >= 2) {
        PredictionChoice choice(p, g.nch());
        choice.add(g, q.data());
        choice.choose(pred.data());
      }
      write_pred_flags(pred, out);
    }
    build_freq(p, g, q, pred.data(), &freq);
    write_tables(p, freq, out);
  }
  encode_stream(p, g, q, pred.data(), freq, out);
}

}  // namespace kvforge::codec::cachegen
