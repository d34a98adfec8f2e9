#include "kvforge/stream/bandwidth_trace.h"

#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <sstream>

namespace kvforge::stream {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
double mbps_to_bytes(double mbps) { return mbps * 1e6 / 8.0; }

std::string fmt(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out.append(", ");
    out.append(s);
  }
  return out;
}

class ConstTrace final : public BandwidthTrace {
 public:
  explicit ConstTrace(double mbps) : mbps_(mbps) {}
  std::string spec() const override { return "const:mbps=" + fmt(mbps_) + common(); }
  std::string common() const { return ",scale=" + fmt(scale_) + ",offset_ms=" + fmt(offset_s_ * 1e3); }

 protected:
  double rate_at(double) const override { return mbps_to_bytes(mbps_); }
  double piece_end(double) const override { return kInf; }

 private:
  double mbps_;
};

class StepTrace final : public BandwidthTrace {
 public:
  StepTrace(double mbps, double drop_at_s, double factor) : mbps_(mbps), drop_s_(drop_at_s), factor_(factor) {}
  std::string spec() const override {
    return "step:mbps=" + fmt(mbps_) + ",drop_at_ms=" + fmt(drop_s_ * 1e3) + ",factor=" + fmt(factor_) +
           ",scale=" + fmt(scale_) + ",offset_ms=" + fmt(offset_s_ * 1e3);
  }

 protected:
  double rate_at(double u) const override { return mbps_to_bytes(u < drop_s_ ? mbps_ : mbps_ / factor_); }
  double piece_end(double u) const override { return u < drop_s_ ? drop_s_ : kInf; }

 private:
  double mbps_, drop_s_, factor_;
};

// splitmix64: a stable hash of (seed, segment), the same on every machine.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

class RandomTrace final : public BandwidthTrace {
 public:
  RandomTrace(uint64_t seed, double min_mbps, double max_mbps, double segment_s)
      : seed_(seed), min_(min_mbps), max_(max_mbps), seg_(segment_s) {}
  std::string spec() const override {
    return "random:seed=" + std::to_string(seed_) + ",min_mbps=" + fmt(min_) + ",max_mbps=" + fmt(max_) +
           ",segment_ms=" + fmt(seg_ * 1e3) + ",scale=" + fmt(scale_) + ",offset_ms=" + fmt(offset_s_ * 1e3);
  }

 protected:
  double rate_at(double u) const override {
    const uint64_t segment = static_cast<uint64_t>(std::floor(u / seg_));
    const double x = static_cast<double>(mix(seed_ * 0x100000001b3ull ^ mix(segment)) >> 11) * 0x1.0p-53;
    return mbps_to_bytes(std::exp(std::log(min_) + x * (std::log(max_) - std::log(min_))));
  }
  double piece_end(double u) const override {
    // (floor(u/seg) + 1) * seg can round to u itself at a boundary: step on.
    double end = (std::floor(u / seg_) + 1) * seg_;
    while (end <= u) end += seg_;
    return end;
  }

 private:
  uint64_t seed_;
  double min_, max_, seg_;
};

struct Params {
  std::string spec;
  std::map<std::string, double> values;
  Status parse(std::string_view body, const std::vector<std::string>& keys) {
    size_t pos = 0;
    while (pos < body.size()) {
      size_t end = body.find(',', pos);
      if (end == std::string_view::npos) end = body.size();
      const std::string_view item = body.substr(pos, end - pos);
      const size_t eq = item.find('=');
      if (eq == std::string_view::npos) {
        std::string why = "'";
        why.append(item);
        why.append("' is not key=value");
        return bad(why);
      }
      const std::string key(item.substr(0, eq)), value(item.substr(eq + 1));
      bool known = false;
      for (const auto& k : keys) known |= (k == key);
      if (!known) return bad("unknown key '" + key + "' (valid: " + join(keys) + ")");
      char* endp = nullptr;
      const double v = std::strtod(value.c_str(), &endp);
      if (value.empty() || *endp != '\0' || !std::isfinite(v)) {
        return bad("key '" + key + "' needs a number, got '" + value + "'");
      }
      values[key] = v;
      pos = end + 1;
    }
    return Status::OK();
  }
  double get(const std::string& key, double def) const {
    auto it = values.find(key);
    return it == values.end() ? def : it->second;
  }
  Status bad(const std::string& why) const { return Status::InvalidArgument("trace '" + spec + "': " + why); }
};

}  // namespace

double BandwidthTrace::bytes_per_second(double t) const { return scale_ * rate_at(std::max(0.0, t) + offset_s_); }

double BandwidthTrace::transfer_seconds(double t, double bytes) const {
  double u = std::max(0.0, t) + offset_s_;
  const double u0 = u;
  double left = bytes;
  while (left > 0) {
    const double rate = scale_ * rate_at(u);
    double end = piece_end(u);
    if (!(end > u)) end = std::nextafter(u, kInf);  // never stall on a boundary
    const double can = (end - u) * rate;
    if (can >= left) return u + left / rate - u0;
    left -= can;
    u = end;
  }
  return u - u0;
}

std::vector<std::string> trace_names() { return {"const", "step", "random"}; }

Result<std::unique_ptr<BandwidthTrace>> make_trace(std::string_view spec) {
  const size_t colon = spec.find(':');
  const std::string name(spec.substr(0, colon));
  const std::string_view body = colon == std::string_view::npos ? std::string_view() : spec.substr(colon + 1);
  Params p{std::string(spec), {}};
  std::unique_ptr<BandwidthTrace> trace;
  if (name == "const") {
    KVF_RETURN_IF_ERROR(p.parse(body, {"mbps", "scale", "offset_ms"}));
    const double mbps = p.get("mbps", 800);
    if (mbps <= 0) return p.bad("mbps must be > 0");
    trace = std::make_unique<ConstTrace>(mbps);
  } else if (name == "step") {
    KVF_RETURN_IF_ERROR(p.parse(body, {"mbps", "drop_at_ms", "factor", "scale", "offset_ms"}));
    const double mbps = p.get("mbps", 800), drop = p.get("drop_at_ms", 200), factor = p.get("factor", 4);
    if (mbps <= 0) return p.bad("mbps must be > 0");
    if (drop < 0) return p.bad("drop_at_ms must be >= 0");
    if (factor < 1) return p.bad("factor must be >= 1");
    trace = std::make_unique<StepTrace>(mbps, drop / 1e3, factor);
  } else if (name == "random") {
    KVF_RETURN_IF_ERROR(p.parse(body, {"seed", "min_mbps", "max_mbps", "segment_ms", "scale", "offset_ms"}));
    const double seed = p.get("seed", 1), lo = p.get("min_mbps", 100), hi = p.get("max_mbps", 10000),
                 seg = p.get("segment_ms", 100);
    if (seed < 0 || seed != std::floor(seed)) return p.bad("seed must be a non-negative integer");
    if (lo <= 0 || hi <= 0) return p.bad("min_mbps and max_mbps must be > 0");
    if (lo > hi) return p.bad("min_mbps must be <= max_mbps");
    if (seg <= 0) return p.bad("segment_ms must be > 0");
    trace = std::make_unique<RandomTrace>(static_cast<uint64_t>(seed), lo, hi, seg / 1e3);
  } else {
    return Status::InvalidArgument("unknown trace '" + name + "' in '" + std::string(spec) +
                                   "' (valid: " + join(trace_names()) + ")");
  }
  const double scale = p.get("scale", 1), offset = p.get("offset_ms", 0);
  if (scale <= 0) return p.bad("scale must be > 0");
  if (offset < 0) return p.bad("offset_ms must be >= 0");
  trace->scale_ = scale;
  trace->offset_s_ = offset / 1e3;
  return trace;
}

}  // namespace kvforge::stream
