// Registry: codec specs ("cachegen:level=2", "cachegen:2", "kivi2:residual=32") to codecs.
#include <algorithm>

#include "codec/codec_impl.h"

namespace kvforge::codec {
namespace f = format;

std::vector<std::string> cachegen_level_names();  // cachegen.cc

namespace {

const std::vector<std::string> kNames = {"fp16", "q8", "q4", "kivi2", "zstd", "cachegen-ref", "cachegen"};
const std::vector<std::string> kZstdLevels = {"1", "3", "9", "19"};

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

Result<int> parse_int(std::string_view v, int lo, int hi, std::string_view what) {
  int x = 0;
  if (v.empty() || v.size() > 6) return Status::InvalidArgument("codec: bad " + std::string(what) + " '" + std::string(v) + "'");
  for (char ch : v) {
    if (ch < '0' || ch > '9') return Status::InvalidArgument("codec: bad " + std::string(what) + " '" + std::string(v) + "'");
    x = x * 10 + (ch - '0');
  }
  if (x < lo || x > hi) {
    return Status::InvalidArgument("codec: " + std::string(what) + " " + std::to_string(x) + " out of range " +
                                   std::to_string(lo) + ".." + std::to_string(hi));
  }
  return x;
}

}  // namespace

std::vector<std::string> codec_names() { return kNames; }

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

Result<std::unique_ptr<CodecImpl>> make_codec_impl(std::string_view spec) {
  const size_t colon = spec.find(':');
  const std::string name(spec.substr(0, colon));
  if (std::find(kNames.begin(), kNames.end(), name) == kNames.end()) {
    return Status::InvalidArgument("codec: unknown codec '" + name + "' (valid: " + join(kNames) + ")");
  }
  std::string level = default_level(name);
  int residual = 0;
  int delta_mode = 0;
  if (colon != std::string_view::npos) {
    std::string_view rest = spec.substr(colon + 1);
    while (!rest.empty() || colon + 1 == spec.size()) {
      const size_t comma = rest.find(',');
      std::string_view kv = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      const size_t eq = kv.find('=');
      std::string_view key = eq == std::string_view::npos ? "level" : kv.substr(0, eq);
      std::string_view val = eq == std::string_view::npos ? kv : kv.substr(eq + 1);
      if (key == "level" && !levels(name).empty()) {
        const auto lv = levels(name);
        if (std::find(lv.begin(), lv.end(), val) == lv.end()) {
          return Status::InvalidArgument("codec: " + name + " has no level '" + std::string(val) +
                                         "' (valid: " + join(lv) + ")");
        }
        level = std::string(val);
      } else if (key == "delta" && name == "cachegen") {
        if (val != "on" && val != "off") {
          return Status::InvalidArgument("codec: cachegen delta must be 'on' or 'off', got '" + std::string(val) + "'");
        }
        delta_mode = val == "on" ? 2 : 1;
      } else if (key == "residual" && name == "kivi2") {
        KVF_ASSIGN_OR_RETURN(residual, parse_int(val, 0, f::kKiviMaxResidual, "kivi2 residual"));
      } else {
        std::string valid = name == "cachegen" ? "level, delta" : !levels(name).empty() ? "level" : name == "kivi2" ? "residual" : "none";
        return Status::InvalidArgument("codec: " + name + " has no key '" + std::string(key) + "' (valid: " + valid + ")");
      }
      if (comma == std::string_view::npos) break;
    }
  }
  if (name == "fp16") return new_fp16();
  if (name == "q8") return new_q8();
  if (name == "q4") return new_q4();
  if (name == "kivi2") return new_kivi2(residual);
  if (name == "zstd") return new_zstd(std::stoi(level));
  if (name == "cachegen-ref") return new_cachegen_ref();
  return new_cachegen(std::stoi(level), delta_mode);
}

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
