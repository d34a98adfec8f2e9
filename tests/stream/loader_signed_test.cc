// A loader holding the store secret uses a fetched level only when its MAC signs
// the tokens it is loading at that place: another text's KV, even signed with
// another secret, and unsigned chunks are recomputed; signed ones are used, from a
// local store or through a server's X-Kvf-Mac (issue 17).
#include <gtest/gtest.h>

#include "kvforge/store/chunk_signer.h"
#include "server/server_fixture.h"
#include "stream/loader_fixture.h"

namespace kvforge::stream {
namespace {

using namespace loader_testing;  // NOLINT: the fixture is this file's vocabulary

const store::ChunkSigner& secret() {
  static const store::ChunkSigner s = *store::ChunkSigner::make("the loader tests' store secret");
  return s;
}

// The fixture's chunks copied into `to`, signed with the secret, except: chunk
// `unsigned_chunk` stays unsigned and chunk `foreign` is signed with another secret.
void copy_signed(store::Backend& to, size_t unsigned_chunk, size_t foreign) {
  const auto other = *store::ChunkSigner::make("somebody else's secret, also long");
  for (size_t i = 0; i < keys().size(); ++i) {
    auto chunk = store::get_chunk(*fixture().backend, keys()[i]);
    KVF_CHECK(chunk.ok());
    if (i == foreign) {
      other.sign(&*chunk);
    } else if (i != unsigned_chunk) {
      secret().sign(&*chunk);
    }
    KVF_CHECK(store::put_chunk(to, *chunk).ok());
  }
}

void expect_only_these_recomputed(const LoadReport& r, std::vector<size_t> recomputed) {
  for (size_t i = 0; i < r.chunks.size(); ++i) {
    const bool expected = std::find(recomputed.begin(), recomputed.end(), i) != recomputed.end();
    EXPECT_EQ(r.chunks[i].choice == "recompute", expected) << "chunk " << i << ": " << r.chunks[i].note;
  }
  EXPECT_LT(max_abs_diff(r.logits, full_prefill_logits()), 2e-2);
}

TEST(LoaderSigned, UnsignedAndForeignSignedChunksAreRecomputed) {
  auto backend = store::open_backend("mem://");
  ASSERT_TRUE(backend.ok());
  copy_signed(**backend, 3, 1);
  BackendSource source(**backend);
  LoadOptions o = options("fp16");
  o.signer = &secret();
  const LoadReport r = load(source, o);
  expect_only_these_recomputed(r, {1, 3});
  EXPECT_NE(r.chunks[1].note.find("signature mismatch"), std::string::npos) << r.chunks[1].note;
  EXPECT_NE(r.chunks[3].note.find("unsigned"), std::string::npos) << r.chunks[3].note;
  // Without the secret the same store is used as it is.
  const LoadReport open = load(source, options("fp16"));
  expect_only_these_recomputed(open, {});
}

TEST(LoaderSigned, MacsArriveThroughTheServer) {
  auto r = server::testing::start("mem://");  // a server without the secret serves what it has
  copy_signed(*r.backend, 2, SIZE_MAX);
  ClientSource<server::StoreClient> source(*r.client);
  LoadOptions o = options("fp16");
  o.signer = &secret();
  const LoadReport report = load(source, o);
  expect_only_these_recomputed(report, {2});
  EXPECT_NE(report.chunks[2].note.find("unsigned"), std::string::npos) << report.chunks[2].note;
}

}  // namespace
}  // namespace kvforge::stream
