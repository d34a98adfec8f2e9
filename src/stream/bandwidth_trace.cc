#include "kvforge/stream/bandwidth_trace.h"

#include <cmath>
#include <cstdlib>
#include <limits>
#include <sstream>

#include "kvforge/core/registry.h"

namespace kvforge::stream {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
double mbps_to_bytes(double mbps) { return mbps * 1e6 / 8.0; }

std::string fmt(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
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

using TracePtr = std::unique_ptr<BandwidthTrace>;
constexpr double kMax = 1e15;  // any finite rate or time a trace may be given

Result<TracePtr> make_const(core::Spec& spec) {
  KVF_ASSIGN_OR_RETURN(const double mbps, spec.get_double("mbps", 800, 0, kMax));
  if (mbps <= 0) return spec.error("mbps must be > 0");
  return TracePtr(std::make_unique<ConstTrace>(mbps));
}

Result<TracePtr> make_step(core::Spec& spec) {
  KVF_ASSIGN_OR_RETURN(const double mbps, spec.get_double("mbps", 800, 0, kMax));
  KVF_ASSIGN_OR_RETURN(const double drop, spec.get_double("drop_at_ms", 200, 0, kMax));
  KVF_ASSIGN_OR_RETURN(const double factor, spec.get_double("factor", 4, 1, kMax));
  if (mbps <= 0) return spec.error("mbps must be > 0");
  return TracePtr(std::make_unique<StepTrace>(mbps, drop / 1e3, factor));
}

Result<TracePtr> make_random(core::Spec& spec) {
  KVF_ASSIGN_OR_RETURN(const int64_t seed, spec.get_int("seed", 1, 0, INT64_MAX));
  KVF_ASSIGN_OR_RETURN(const double lo, spec.get_double("min_mbps", 100, 0, kMax));
  KVF_ASSIGN_OR_RETURN(const double hi, spec.get_double("max_mbps", 10000, 0, kMax));
  KVF_ASSIGN_OR_RETURN(const double seg, spec.get_double("segment_ms", 100, 0, kMax));
  if (lo <= 0 || hi <= 0) return spec.error("min_mbps and max_mbps must be > 0");
  if (lo > hi) return spec.error("min_mbps must be <= max_mbps");
  if (seg <= 0) return spec.error("segment_ms must be > 0");
  return TracePtr(std::make_unique<RandomTrace>(static_cast<uint64_t>(seed), lo, hi, seg / 1e3));
}

const core::Registry<TracePtr>& registry() {
  static const core::Registry<TracePtr> kTraces("trace", {
                                                             {.name = "const", .make = make_const},
                                                             {.name = "step", .make = make_step},
                                                             {.name = "random", .make = make_random},
                                                         });
  return kTraces;
}

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

std::vector<std::string> trace_names() { return registry().names(); }

// scale and offset_ms apply to every trace, so they are read here, before the
// entry's factory, and set through the friendship the factories lack.
Result<std::unique_ptr<BandwidthTrace>> make_trace(std::string_view text) {
  KVF_ASSIGN_OR_RETURN(core::Spec spec, registry().parse(text));
  KVF_ASSIGN_OR_RETURN(const double scale, spec.get_double("scale", 1, 0, kMax));
  KVF_ASSIGN_OR_RETURN(const double offset, spec.get_double("offset_ms", 0, 0, kMax));
  if (scale <= 0) return spec.error("scale must be > 0");
  KVF_ASSIGN_OR_RETURN(TracePtr trace, registry().make(spec));
  trace->scale_ = scale;
  trace->offset_s_ = offset / 1e3;
  return trace;
}

}  // namespace kvforge::stream
