#include "kvforge/pq/tier.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <numeric>

namespace kvforge::pq {

namespace {

std::atomic<uint64_t> g_tier_counter{0};


}  // namespace

KvTier::KvTier(const TierOptions& options, kv::KvShape shape) : options_(options), shape_(shape) {}

size_t KvTier::block_bytes() const {
  return static_cast<size_t>(options_.block_tokens) * 2 * static_cast<size_t>(shape_.head_dim) * sizeof(float);
}

size_t KvTier::row_bytes() const {
  return block_bytes() * static_cast<size_t>(shape_.n_layers) * static_cast<size_t>(shape_.n_kv_heads);
}

Result<std::unique_ptr<KvTier>> KvTier::create(const TierOptions& options, kv::KvShape shape) {
  if (options.block_tokens < 1 || options.cache_blocks < 1) {
    return Status::InvalidArgument("tier: block_tokens and cache_blocks must be >= 1");
  }
  std::unique_ptr<KvTier> t(new KvTier(options, shape));
  std::error_code ec;
  const std::filesystem::path dir =
      options.directory.empty() ? std::filesystem::temp_directory_path(ec) : std::filesystem::path(options.directory);
  t->path_ = (dir / ("kvforge-tier-" + std::to_string(::getpid()) + "-" + std::to_string(g_tier_counter++))).string();
  t->fd_ = ::open(t->path_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (t->fd_ < 0) return Status::IOError("tier: cannot create " + t->path_ + ": " + std::strerror(errno));
  t->entries_.resize(options.cache_blocks);
  t->slots_.resize(options.cache_blocks * t->block_bytes() / sizeof(float));
  KVF_RETURN_IF_ERROR(t->grow(1));
  return t;
}

KvTier::~KvTier() {
  if (map_ != nullptr) ::munmap(map_, mapped_blocks_ * row_bytes());
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
}

Status KvTier::grow(size_t blocks) {
  if (blocks <= mapped_blocks_) return Status::OK();
  const size_t want = std::max(blocks, mapped_blocks_ * 2);
  if (::ftruncate(fd_, static_cast<off_t>(want * row_bytes())) != 0) {
    return Status::IOError("tier: cannot grow " + path_ + ": " + std::strerror(errno));
  }
  if (map_ != nullptr) ::munmap(map_, mapped_blocks_ * row_bytes());
  void* p = ::mmap(nullptr, want * row_bytes(), PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
  if (p == MAP_FAILED) {
    map_ = nullptr;
    mapped_blocks_ = 0;
    return Status::IOError("tier: cannot map " + path_ + ": " + std::strerror(errno));
  }
  map_ = static_cast<uint8_t*>(p);
  mapped_blocks_ = want;
  return Status::OK();
}

Status KvTier::store(int layer, int kv_head, int32_t position, const float* k, const float* v) {
  std::lock_guard<std::mutex> lock(mu_);
  const size_t bt = static_cast<size_t>(options_.block_tokens), hd = static_cast<size_t>(shape_.head_dim);
  const size_t block = static_cast<size_t>(position) / bt, tok = static_cast<size_t>(position) % bt;
  KVF_RETURN_IF_ERROR(grow(block + 1));
  const size_t head = static_cast<size_t>(layer) * static_cast<size_t>(shape_.n_kv_heads) + static_cast<size_t>(kv_head);
  float* dst = reinterpret_cast<float*>(map_ + block * row_bytes() + head * block_bytes()) + tok * 2 * hd;
  std::memcpy(dst, k, hd * sizeof(float));
  std::memcpy(dst + hd, v, hd * sizeof(float));
  auto it = where_.find((static_cast<uint64_t>(block) << 32) | head);
  if (it != where_.end()) std::memcpy(&slots_[it->second * block_bytes() / sizeof(float) + tok * 2 * hd], dst, 2 * hd * sizeof(float));
  return Status::OK();
}

void KvTier::fetch(int layer, int kv_head, std::span<const int32_t> positions, float* k_out, float* v_out) {
  // The order is sorted before taking the lock that every head's fetch shares.
  thread_local std::vector<uint32_t> by_position;
  by_position.resize(positions.size());
  std::iota(by_position.begin(), by_position.end(), 0u);
  std::sort(by_position.begin(), by_position.end(),
            [&](uint32_t a, uint32_t b) { return positions[a] < positions[b] || (positions[a] == positions[b] && a < b); });
  std::lock_guard<std::mutex> lock(mu_);
  const size_t bt = static_cast<size_t>(options_.block_tokens), hd = static_cast<size_t>(shape_.head_dim);
  const size_t head = static_cast<size_t>(layer) * static_cast<size_t>(shape_.n_kv_heads) + static_cast<size_t>(kv_head);
  for (const uint32_t i : by_position) {
    const size_t block = static_cast<size_t>(positions[i]) / bt, tok = static_cast<size_t>(positions[i]) % bt;
    const uint64_t key = (static_cast<uint64_t>(block) << 32) | head;
    size_t e;
    auto it = where_.find(key);
    if (it != where_.end()) {
      e = it->second;
      ++stats_.hits;
    } else {
      ++stats_.misses;
      ++stats_.block_loads;
      // The least frequently used block leaves (ties: the least recently used).
      e = 0;
      for (size_t j = 1; j < entries_.size(); ++j) {
        const Entry& a = entries_[j];
        const Entry& b = entries_[e];
        if (!a.used || (b.used && (a.freq < b.freq || (a.freq == b.freq && a.last_use < b.last_use)))) e = j;
        if (!entries_[e].used) break;
      }
      if (entries_[e].used) where_.erase(entries_[e].key);
      entries_[e] = {key, 0, 0, true};
      where_[key] = e;
      const uint8_t* src = block < mapped_blocks_ ? map_ + block * row_bytes() + head * block_bytes() : nullptr;
      float* dst = &slots_[e * block_bytes() / sizeof(float)];
      if (src != nullptr) {
        std::memcpy(dst, src, block_bytes());
      } else {
        std::fill(dst, dst + block_bytes() / sizeof(float), 0.0f);
      }
    }
    Entry& en = entries_[e];
    ++en.freq;
    en.last_use = ++tick_;
    const float* t = &slots_[e * block_bytes() / sizeof(float) + tok * 2 * hd];
    std::memcpy(k_out + i * hd, t, hd * sizeof(float));
    std::memcpy(v_out + i * hd, t + hd, hd * sizeof(float));
  }
}

TierStats KvTier::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

size_t KvTier::file_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return mapped_blocks_ * row_bytes();
}

}  // namespace kvforge::pq
