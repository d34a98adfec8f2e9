// What the server and its client agree on besides the routes: error codes in
// JSON error bodies and the headers describing a chunk (docs/SERVER.md).
#pragma once
#include <string_view>

namespace kvforge::server {

inline constexpr const char* kHeaderTokens = "X-Kvf-Tokens";
inline constexpr const char* kHeaderFirstPosition = "X-Kvf-First-Position";
inline constexpr const char* kHeaderChunkIndex = "X-Kvf-Chunk-Index";
inline constexpr const char* kHeaderLevel = "X-Kvf-Level";
// A signed chunk's level MAC (store/chunk_signer.h), 64 hex digits.
inline constexpr const char* kHeaderMac = "X-Kvf-Mac";

inline constexpr std::string_view kCodeNotFound = "not_found";
inline constexpr std::string_view kCodeCorruption = "corruption";
inline constexpr std::string_view kCodeInvalidArgument = "invalid_argument";
inline constexpr std::string_view kCodeNotSupported = "not_supported";
inline constexpr std::string_view kCodeResourceExhausted = "resource_exhausted";
inline constexpr std::string_view kCodeUnauthorized = "unauthorized";
inline constexpr std::string_view kCodeInternal = "internal";

}  // namespace kvforge::server
