#include "kvforge/store/chunk_signer.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <memory>

#include "kvforge/core/file_io.h"
#include "kvforge/core/little_endian.h"

namespace kvforge::store {

namespace {

struct MacDeleter {
  void operator()(EVP_MAC* m) const { EVP_MAC_free(m); }
  void operator()(EVP_MAC_CTX* c) const { EVP_MAC_CTX_free(c); }
};

// HMAC-SHA256 of the concatenated parts. OpenSSL failing here means the
// library is broken; it is reported as an empty MAC, which never verifies.
std::string hmac_sha256(std::string_view secret, std::initializer_list<std::string_view> parts) {
  std::unique_ptr<EVP_MAC, MacDeleter> mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  if (!mac) return {};
  std::unique_ptr<EVP_MAC_CTX, MacDeleter> ctx(EVP_MAC_CTX_new(mac.get()));
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                               OSSL_PARAM_construct_end()};
  if (!ctx || EVP_MAC_init(ctx.get(), reinterpret_cast<const unsigned char*>(secret.data()), secret.size(),
                           params) != 1) {
    return {};
  }
  for (const std::string_view p : parts) {
    if (EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(p.data()), p.size()) != 1) return {};
  }
  std::string out(ChunkSigner::kMacBytes, '\0');
  size_t n = 0;
  if (EVP_MAC_final(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &n, out.size()) != 1 ||
      n != out.size()) {
    return {};
  }
  return out;
}

}  // namespace

Result<ChunkSigner> ChunkSigner::make(std::string secret) {
  if (secret.size() < kMinSecretBytes) {
    return Status::InvalidArgument("store secret: at least " + std::to_string(kMinSecretBytes) + " bytes, got " +
                                   std::to_string(secret.size()));
  }
  return ChunkSigner(std::move(secret));
}

Result<std::string> read_secret_file(const std::string& path) {
  KVF_ASSIGN_OR_RETURN(std::string secret, core::read_file(path));
  if (!secret.empty() && secret.back() == '\n') secret.pop_back();
  return secret;
}

Result<ChunkSigner> ChunkSigner::from_file(const std::string& path) {
  KVF_ASSIGN_OR_RETURN(std::string secret, read_secret_file(path));
  auto signer = make(std::move(secret));
  if (!signer.ok()) return signer.status().with_context(path);
  return signer;
}

std::string ChunkSigner::level_mac(const ChunkKey& key, uint32_t chunk_index, uint32_t first_position,
                                   std::span<const int32_t> tokens, std::string_view level,
                                   std::string_view frame) const {
  std::string head;
  core::put_u32(&head, chunk_index);
  core::put_u32(&head, first_position);
  core::put_u32(&head, static_cast<uint32_t>(tokens.size()));
  std::string ids;
  ids.reserve(4 * tokens.size());
  for (const int32_t t : tokens) core::put_u32(&ids, static_cast<uint32_t>(t));
  std::string name_length;
  core::put_u16(&name_length, static_cast<uint16_t>(level.size()));
  return hmac_sha256(secret_, {key.bytes(), head, ids, name_length, level, frame});
}

void ChunkSigner::sign(StoredChunk* chunk) const {
  for (LevelFrame& l : chunk->levels) {
    l.mac = level_mac(chunk->key, chunk->chunk_index, chunk->first_position, chunk->tokens, l.level, l.frame);
  }
}

Status ChunkSigner::verify_level(const ChunkKey& key, uint32_t chunk_index, uint32_t first_position,
                                 std::span<const int32_t> tokens, std::string_view level, std::string_view frame,
                                 std::string_view mac) const {
  const std::string where = "chunk " + key.hex() + " level " + std::string(level);
  if (mac.empty()) return Status::Corruption(where + " is unsigned, and this store requires signed chunks");
  const std::string want = level_mac(key, chunk_index, first_position, tokens, level, frame);
  if (want.size() != kMacBytes || mac.size() != want.size() || CRYPTO_memcmp(mac.data(), want.data(), want.size()) != 0) {
    return Status::Corruption(where + ": signature mismatch (not written by a holder of the store secret, or altered)");
  }
  return Status::OK();
}

Status ChunkSigner::verify(const StoredChunk& chunk) const {
  for (const LevelFrame& l : chunk.levels) {
    KVF_RETURN_IF_ERROR(
        verify_level(chunk.key, chunk.chunk_index, chunk.first_position, chunk.tokens, l.level, l.frame, l.mac));
  }
  return Status::OK();
}

}  // namespace kvforge::store
