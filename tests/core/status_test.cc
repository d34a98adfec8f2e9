#include "kvforge/core/status.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace kvforge::core {
namespace {

TEST(Status, OkByDefault) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kOk);
  EXPECT_EQ(s.message(), "");
  EXPECT_EQ(s.to_string(), "OK");
  EXPECT_TRUE(Status::OK().ok());
  EXPECT_TRUE(s.with_context("ctx").ok());
}

TEST(Status, CodesAndMessages) {
  const Status s = Status::Corruption("bad block");
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(s.is_corruption());
  EXPECT_FALSE(s.is_not_found());
  EXPECT_EQ(s.message(), "bad block");
  EXPECT_EQ(s.to_string(), "Corruption: bad block");
  EXPECT_TRUE(Status::InvalidArgument("x").is_invalid_argument());
  EXPECT_TRUE(Status::NotFound("x").is_not_found());
  EXPECT_TRUE(Status::NotSupported("x").is_not_supported());
  EXPECT_TRUE(Status::IOError("x").is_io_error());
  EXPECT_EQ(Status::OutOfRange("x").code(), StatusCode::kOutOfRange);
  EXPECT_EQ(Status::ResourceExhausted("x").code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(Status::Internal("x").code(), StatusCode::kInternal);
  EXPECT_EQ(status_code_name(StatusCode::kIOError), "IO error");
  // An OK code never carries a message.
  EXPECT_TRUE(Status(StatusCode::kOk, "ignored").ok());
}

TEST(Status, WithContextAndCopies) {
  const Status s = Status::NotFound("key 7");
  const Status c = s.with_context("kv lookup");
  EXPECT_EQ(c.code(), StatusCode::kNotFound);
  EXPECT_EQ(c.message(), "kv lookup: key 7");
  EXPECT_EQ(s.message(), "key 7");  // original untouched
  Status copy = c;
  EXPECT_EQ(copy.to_string(), "Not found: kv lookup: key 7");
}

TEST(Result, ValueAndError) {
  Result<int> r = 42;
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 42);
  EXPECT_EQ(r.value(), 42);
  Result<int> e = Status::IOError("disk");
  EXPECT_FALSE(e.ok());
  EXPECT_TRUE(e.status().is_io_error());
  Result<int> bad = Status::OK();  // misuse is reported, not silently OK
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInternal);
}

TEST(Result, MoveOnlyValue) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(5);
  ASSERT_TRUE(r.ok());
  std::unique_ptr<int> p = std::move(r).value();
  EXPECT_EQ(*p, 5);
  Result<std::string> s = std::string("abc");
  EXPECT_EQ(s->size(), 3u);
}

Status fails_if(bool fail) { return fail ? Status::InvalidArgument("nope") : Status::OK(); }
Result<int> half_of(int x) {
  if (x % 2) return Status::InvalidArgument("odd");
  return x / 2;
}
Status chain(bool fail, int* steps) {
  KVF_RETURN_IF_ERROR(fails_if(fail));
  ++*steps;
  return Status::OK();
}
Result<int> quarter(int x) {
  KVF_ASSIGN_OR_RETURN(int h, half_of(x));
  KVF_ASSIGN_OR_RETURN(int q, half_of(h));
  return q;
}

TEST(StatusMacros, ReturnIfError) {
  int steps = 0;
  EXPECT_TRUE(chain(false, &steps).ok());
  EXPECT_EQ(steps, 1);
  const Status s = chain(true, &steps);
  EXPECT_TRUE(s.is_invalid_argument());
  EXPECT_EQ(steps, 1);
}

TEST(StatusMacros, AssignOrReturn) {
  auto r = quarter(12);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 3);
  auto e = quarter(6);  // 6 -> 3 -> odd
  EXPECT_FALSE(e.ok());
  EXPECT_EQ(e.status().message(), "odd");
}

TEST(StatusDeathTest, CheckAborts) { EXPECT_DEATH(KVF_CHECK(1 + 1 == 3), "internal check failed"); }

}  // namespace
}  // namespace kvforge::core
