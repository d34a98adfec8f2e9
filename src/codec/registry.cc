// Registry: codec specs ("cachegen:level=2", "cachegen:2", "kivi2:residual=32") to codecs.
#include "kvforge/core/registry.h"

#include <algorithm>

#include "codec/codec_impl.h"

namespace kvforge::codec {
namespace f = format;

std::vector<std::string> cachegen_level_names();  // cachegen.cc

namespace {

using ImplPtr = std::unique_ptr<CodecImpl>;

const std::vector<std::string> kZstdLevels = {"1", "3", "9", "19"};

Result<ImplPtr> make_fp16(core::Spec&) { return new_fp16(); }
Result<ImplPtr> make_q8(core::Spec&) { return new_q8(); }
Result<ImplPtr> make_q4(core::Spec&) { return new_q4(); }
Result<ImplPtr> make_cachegen_ref(core::Spec&) { return new_cachegen_ref(); }

Result<ImplPtr> make_kivi2(core::Spec& spec) {
  KVF_ASSIGN_OR_RETURN(const int64_t residual, spec.get_int("residual", 0, 0, f::kKiviMaxResidual));
  return new_kivi2(static_cast<int>(residual));
}

Result<ImplPtr> make_zstd(core::Spec& spec) {
  KVF_ASSIGN_OR_RETURN(const std::string level, spec.get_choice("level", default_level("zstd"), kZstdLevels));
  return new_zstd(std::stoi(level));
}

Result<ImplPtr> make_cachegen_codec(core::Spec& spec) {
  KVF_ASSIGN_OR_RETURN(const std::string level,
                       spec.get_choice("level", default_level("cachegen"), cachegen_level_names()));
  KVF_ASSIGN_OR_RETURN(const std::string delta, spec.get_choice("delta", "", {"on", "off"}));
  const int delta_mode = delta.empty() ? 0 : delta == "on" ? 2 : 1;
  return new_cachegen(std::stoi(level), delta_mode);
}

const core::Registry<ImplPtr>& registry() {
  static const core::Registry<ImplPtr> kCodecs(
      "codec", {
                   {.name = "fp16", .make = make_fp16},
                   {.name = "q8", .make = make_q8},
                   {.name = "q4", .make = make_q4},
                   {.name = "kivi2", .make = make_kivi2},
                   {.name = "zstd", .positional_key = "level", .make = make_zstd},
                   {.name = "cachegen-ref", .make = make_cachegen_ref},
                   {.name = "cachegen", .positional_key = "level", .make = make_cachegen_codec},
               });
  return kCodecs;
}

}  // namespace

std::vector<std::string> codec_names() { return registry().names(); }

std::vector<std::string> levels(std::string_view name) {
  if (name == "zstd") return kZstdLevels;
  if (name == "cachegen") return cachegen_level_names();
  return {};
}

std::string default_level(std::string_view name) {
  if (name == "zstd") return "3";
  if (name == "cachegen") return "2";
  return "";
}

Result<std::unique_ptr<CodecImpl>> make_codec_impl(std::string_view spec) { return registry().make(spec); }

Result<std::unique_ptr<Codec>> make_codec(std::string_view spec) {
  KVF_ASSIGN_OR_RETURN(auto impl, make_codec_impl(spec));
  return std::unique_ptr<Codec>(std::move(impl));
}

Result<std::unique_ptr<CodecImpl>> make_codec_from_ids(uint8_t codec_id, uint8_t level_id, uint32_t param) {
  auto bad = [&] {
    return Status::NotSupported("codec frame: unknown codec id " + std::to_string(codec_id) + " level " +
                                std::to_string(level_id));
  };
  switch (codec_id) {
    case f::kFp16:
      return level_id == 0 && param == 0 ? Result<std::unique_ptr<CodecImpl>>(new_fp16()) : bad();
    case f::kQ8:
      return level_id == 0 && param == 0 ? Result<std::unique_ptr<CodecImpl>>(new_q8()) : bad();
    case f::kQ4:
      return level_id == 0 && param == 0 ? Result<std::unique_ptr<CodecImpl>>(new_q4()) : bad();
    case f::kKivi2:
      if (level_id != 0 || param > static_cast<uint32_t>(f::kKiviMaxResidual)) return bad();
      return new_kivi2(static_cast<int>(param));
    case f::kZstd:
      if (param != 0 || level_id < 1 || level_id > 22) return bad();
      return new_zstd(level_id);
    case f::kCacheGenRef:
      return level_id == 0 && param == 0 ? Result<std::unique_ptr<CodecImpl>>(new_cachegen_ref()) : bad();
    case f::kCacheGen: {
      const auto lv = cachegen_level_names();
      if (param > 2 || std::find(lv.begin(), lv.end(), std::to_string(level_id)) == lv.end()) return bad();
      return new_cachegen(level_id, static_cast<int>(param));
    }
    default:
      return bad();
  }
}

}  // namespace kvforge::codec
