// Profiles: their file (docs/FORMAT.md, "Profile files"), checks and identity.
#include <bit>
#include <cmath>
#include <cstring>
#include <xxhash.h>

#include "codec/frame_format.h"
#include "codec/levels.h"
#include "codec/profile_internal.h"
#include "codec/rans.h"
#include "codec/symbols.h"
#include "kvforge/codec/profile.h"
#include "kvforge/core/file_io.h"

namespace kvforge::codec {

namespace f = format;

namespace {

// A 1B-class KV decodes near 1 GB/s per core with blocks of 8 (16: 0.85, 64: 0.65,
// measured): decoding costs `block` multiply-adds per value.
constexpr int kDefaultMaxBlock = 8;

void put_f32(std::string* s, float v) { f::put_u32(s, std::bit_cast<uint32_t>(v)); }
float get_f32(const uint8_t* p) { return std::bit_cast<float>(f::get_u32(p)); }

Status bad(const std::string& why) { return Status::Corruption("codec profile: " + why); }

// Reads the profile file's fields in order, each check before its allocation.
class Reader {
 public:
  Reader(const uint8_t* b, size_t body) : b_(b), body_(body) {}
  size_t left() const { return body_ - at_; }
  const uint8_t* at() const { return b_ + at_; }
  void skip(size_t n) { at_ += n; }
  bool done() const { return at_ == body_; }

 private:
  const uint8_t* b_;
  size_t body_, at_ = 0;
};

Status parse_transform(Reader* r, Profile::Data* p) {
  const uint8_t* b = r->at();
  const uint32_t H = static_cast<uint32_t>(p->shape.n_kv_heads), D = static_cast<uint32_t>(p->shape.head_dim);
  p->rope_theta = get_f32(b);
  p->block = f::get_u32(b + 4);
  r->skip(8);
  const uint64_t C = static_cast<uint64_t>(H) * D;
  if (!(p->rope_theta >= 0 && p->rope_theta < 1e12f)) return bad("invalid rope_theta");
  if (!valid_block(static_cast<int>(p->block), static_cast<int>(D), static_cast<int>(C))) return bad("invalid basis block");
  const uint64_t n_weights = static_cast<uint64_t>(p->shape.n_layers) * 2 * C, n_basis = n_weights * p->block;
  if (r->left() / 4 < n_weights + n_basis) return bad("truncated");
  p->weights.resize(n_weights);
  for (uint64_t i = 0; i < n_weights; ++i) {
    p->weights[i] = get_f32(r->at() + 4 * i);
    if (!(p->weights[i] >= 1e-20f && p->weights[i] <= 1e20f)) return bad("channel weight out of range");
  }
  r->skip(4 * n_weights);
  p->basis.resize(n_basis);
  for (uint64_t i = 0; i < n_basis; ++i) {
    p->basis[i] = get_f32(r->at() + 4 * i);
    if (!std::isfinite(p->basis[i])) return bad("non-finite basis");
  }
  r->skip(4 * n_basis);
  // Orthonormal blocks keep decoding's error bound (and its values finite).
  const size_t B = p->block;
  for (size_t blk = 0; blk < n_basis / (B * B); ++blk) {
    const float* u = &p->basis[blk * B * B];
    for (size_t i = 0; i < B; ++i)
      for (size_t j = i; j < B; ++j) {
        double dot = 0;
        for (size_t c = 0; c < B; ++c) dot += static_cast<double>(u[c * B + i]) * u[c * B + j];
        if (std::fabs(dot - (i == j ? 1.0 : 0.0)) > 1e-3) return bad("basis block is not orthonormal");
      }
  }
  return Status::OK();
}

// Every row must be a valid distribution over its plane's alphabet, with every
// reachable symbol codable.
Status check_rows(const KvShape& sh, const Profile::LevelTables& lt) {
  const cachegen::LevelSpec* spec = cachegen::find_level(lt.level);
  if (spec == nullptr) return bad("unknown level");
  const int L = sh.n_layers;
  const size_t HD = static_cast<size_t>(sh.n_kv_heads) * sh.head_dim, rows_per_plane = HD * lt.n_ctx;
  for (int l = 0; l < L; ++l)
    for (int kv = 0; kv < 2; ++kv) {
      const cachegen::Plane pl = cachegen::cachegen_plane(*spec, L, l, kv, true);
      if (pl.nctx > lt.n_ctx || pl.A > lt.alphabet) return bad("level table shape mismatch");
      for (size_t r = 0; r < rows_per_plane; ++r) {
        const size_t ch = r / lt.n_ctx;
        int lo, hi;
        cachegen::sym_range(pl, lt.pred[(static_cast<size_t>(l) * 2 + kv) * HD + ch] != 0, &lo, &hi);
        const uint16_t* row = &lt.freq[((static_cast<size_t>(l) * 2 + kv) * rows_per_plane + r) * lt.alphabet];
        uint32_t sum = 0;
        for (int s = 0; s < lt.alphabet; ++s) {
          if (s >= lo && s <= hi && row[s] == 0) return bad("zero frequency in a row");
          if (s >= pl.A && row[s] != 0) return bad("frequency outside the plane's alphabet");
          sum += row[s];
        }
        if (sum != rans::kProbScale) return bad("row does not sum to 2^11");
      }
    }
  return Status::OK();
}

Status parse_level(Reader* r, const KvShape& sh, Profile::LevelTables* lt) {
  if (r->left() < 16) return bad("truncated");
  const uint8_t* b = r->at();
  lt->level = b[0];
  lt->alphabet = f::get_u16(b + 2);
  lt->n_ctx = f::get_u16(b + 4);
  const uint64_t cnt = f::get_u64(b + 8);
  r->skip(16);
  const size_t L = static_cast<size_t>(sh.n_layers), HD = static_cast<size_t>(sh.n_kv_heads) * sh.head_dim;
  const uint64_t expect = static_cast<uint64_t>(L) * 2 * HD * lt->n_ctx * lt->alphabet;
  if (lt->alphabet < 1 || lt->alphabet > f::kMaxAlphabet || lt->n_ctx < 1 || lt->n_ctx > f::kMaxProfileContexts ||
      cnt != expect || r->left() / 2 < cnt) {
    return bad("level table size mismatch");
  }
  lt->freq.resize(cnt);
  for (uint64_t j = 0; j < cnt; ++j) lt->freq[j] = f::get_u16(r->at() + 2 * j);
  r->skip(2 * cnt);
  const size_t npred = L * 2 * HD;
  if (r->left() < npred) return bad("truncated");
  lt->pred.assign(r->at(), r->at() + npred);
  r->skip(npred);
  for (uint8_t v : lt->pred)
    if (v > 1) return bad("invalid prediction flag");
  if (r->left() / 4 < L * 2) return bad("truncated");
  lt->steps.resize(L * 2);
  for (size_t j = 0; j < lt->steps.size(); ++j) {
    lt->steps[j] = get_f32(r->at() + 4 * j);
    if (!(lt->steps[j] >= 0 && lt->steps[j] < 1e30f)) return bad("invalid plane step");
  }
  r->skip(4 * lt->steps.size());
  return check_rows(sh, *lt);
}

uint64_t id_of(const std::string& serialized) {
  const uint64_t h = XXH64(serialized.data(), serialized.size(), 0);
  return h == 0 ? 1 : h;
}

}  // namespace

PlaneBasis basis_of(const Profile::Data& d, int layer, int kv) {
  const size_t C = static_cast<size_t>(d.shape.n_kv_heads) * d.shape.head_dim;
  const size_t plane = static_cast<size_t>(layer) * 2 + kv;
  PlaneBasis b;
  b.n_heads = d.shape.n_kv_heads;
  b.head_dim = d.shape.head_dim;
  b.block = static_cast<int>(d.block);
  b.weights = d.weights.data() + plane * C;
  b.basis = d.basis.data() + plane * C * d.block;
  b.rope_theta = kv == 0 ? d.rope_theta : 0.0f;
  return b;
}

cachegen::PlaneTables plane_tables(const Profile::LevelTables& lt, int layer, int kv, size_t nch) {
  const size_t plane = static_cast<size_t>(layer) * 2 + kv;
  cachegen::PlaneTables t;
  t.n_ctx = lt.n_ctx;
  t.alphabet = lt.alphabet;
  t.freq = lt.freq.data() + plane * nch * t.n_ctx * t.alphabet;
  t.pred = lt.pred.data() + plane * nch;
  t.step = plane < lt.steps.size() ? lt.steps[plane] : 0.0f;
  return t;
}

int default_block(const KvShape& s) {
  const int C = s.n_kv_heads * s.head_dim;
  if (C <= 64) return C;
  for (int b = std::min(s.head_dim, kDefaultMaxBlock); b > 1; --b)
    if (s.head_dim % b == 0) return b;
  return 1;
}

bool valid_block(int block, int head_dim, int channels) {
  if (block < 1 || block > static_cast<int>(f::kMaxBasisBlock) || channels % block != 0) return false;
  return block % head_dim == 0 || head_dim % block == 0;
}

Profile::Profile() : id_(id_of(serialize())) {}

Profile::Profile(Data data) : d_(std::move(data)), id_(id_of(serialize())) {}

const Profile::LevelTables* Profile::find(uint8_t level) const {
  for (const auto& l : d_.levels)
    if (l.level == level) return &l;
  return nullptr;
}

Status Profile::check_compatible(const KvShape& s) const {
  const KvShape& shape = d_.shape;
  if (!(s == shape)) {
    return Status::InvalidArgument("codec: profile is for shape " + std::to_string(shape.n_layers) + "x" +
                                   std::to_string(shape.n_kv_heads) + "x" + std::to_string(shape.head_dim) +
                                   ", chunk is " + std::to_string(s.n_layers) + "x" + std::to_string(s.n_kv_heads) +
                                   "x" + std::to_string(s.head_dim));
  }
  return Status::OK();
}

std::string Profile::serialize() const {
  std::string s(f::kProfileMagic, 4);
  f::put_u16(&s, f::kProfileVersion);
  f::put_u16(&s, 0);
  f::put_u64(&s, d_.model_fingerprint);
  f::put_u32(&s, static_cast<uint32_t>(d_.shape.n_layers));
  f::put_u32(&s, static_cast<uint32_t>(d_.shape.n_kv_heads));
  f::put_u32(&s, static_cast<uint32_t>(d_.shape.head_dim));
  f::put_u32(&s, static_cast<uint32_t>(d_.levels.size()));
  put_f32(&s, d_.rope_theta);
  f::put_u32(&s, d_.block);
  for (float w : d_.weights) put_f32(&s, w);
  for (float u : d_.basis) put_f32(&s, u);
  for (const auto& l : d_.levels) {
    f::put_u8(&s, l.level);
    f::put_u8(&s, 0);
    f::put_u16(&s, l.alphabet);
    f::put_u16(&s, l.n_ctx);
    f::put_u16(&s, 0);
    f::put_u64(&s, l.freq.size());
    for (uint16_t v : l.freq) f::put_u16(&s, v);
    for (uint8_t v : l.pred) f::put_u8(&s, v);
    for (float v : l.steps) put_f32(&s, v);
  }
  return s;
}

Result<Profile> Profile::parse(std::string_view bytes) {
  if (bytes.size() < 40 + 8) return bad("truncated");
  const auto* b = reinterpret_cast<const uint8_t*>(bytes.data());
  const size_t body = bytes.size() - 8;
  if (std::memcmp(b, f::kProfileMagic, 4) != 0) return bad("bad magic");
  if (XXH64(b, body, 0) != f::get_u64(b + body)) return bad("checksum mismatch");
  if (f::get_u16(b + 4) != f::kProfileVersion) return Status::NotSupported("codec profile: unknown version");
  Data p;
  p.model_fingerprint = f::get_u64(b + 8);
  const uint32_t L = f::get_u32(b + 16), H = f::get_u32(b + 20), D = f::get_u32(b + 24), n = f::get_u32(b + 28);
  if (L < 1 || L > f::kMaxLayers || H < 1 || H > f::kMaxKvHeads || D < 1 || D > f::kMaxHeadDim || n > 255) {
    return bad("shape out of limits");
  }
  p.shape = {static_cast<int>(L), static_cast<int>(H), static_cast<int>(D)};
  Reader r(b, body);
  r.skip(32);
  if (r.left() < 8) return bad("truncated");
  KVF_RETURN_IF_ERROR(parse_transform(&r, &p));
  for (uint32_t i = 0; i < n; ++i) {
    LevelTables lt;
    KVF_RETURN_IF_ERROR(parse_level(&r, p.shape, &lt));
    p.levels.push_back(std::move(lt));
  }
  if (!r.done()) return bad("trailing bytes");
  return Profile(std::move(p));
}

Status save_profile(const std::string& path, const Profile& profile) {
  std::string s = profile.serialize();
  f::put_u64(&s, XXH64(s.data(), s.size(), 0));
  return core::write_file_atomic(path, s);
}

Result<Profile> load_profile(const std::string& path) {
  KVF_ASSIGN_OR_RETURN(std::string bytes, core::read_file(path));
  auto r = Profile::parse(bytes);
  if (!r.ok()) return r.status().with_context(path);
  return r;
}

}  // namespace kvforge::codec
