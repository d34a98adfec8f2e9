// One hiredis connection to a Redis server, and the names a store uses on it.
// hiredis contexts are not thread-safe: the owner serializes calls. A failed
// call drops the connection so the next one reconnects (a restarted server is
// picked up again); every error is an IOError naming the store URL.
#pragma once
#include <hiredis/hiredis.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kvforge/core/status.h"

namespace kvforge::store {

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

// The keys of the store named `prefix` (docs/STORE.md).
struct RedisKeys {
  std::string prefix;
  std::string blob(const std::string& hex) const { return prefix + ":c:" + hex; }
  std::string blob_prefix() const { return prefix + ":c:"; }
  std::string lru() const { return prefix + ":lru"; }
  std::string size() const { return prefix + ":size"; }
  std::string bytes() const { return prefix + ":bytes"; }
  std::string evictions() const { return prefix + ":evictions"; }
};

class RedisConnection {
 public:
  RedisConnection(std::string url, std::string host, int port, int timeout_ms)
      : url_(std::move(url)), host_(std::move(host)), port_(port), timeout_ms_(timeout_ms) {}

  const std::string& url() const { return url_; }
  Status ensure_connected();
  // A command's reply; a Redis error reply is an IOError naming the command.
  Result<Reply> command(const std::vector<std::string>& args);
  Result<Reply> eval(const char* script, const std::vector<std::string>& keys, const std::vector<std::string>& args);
  // Sends every command, then reads every reply (one round trip).
  Result<std::vector<Reply>> pipeline(const std::vector<std::vector<std::string>>& commands);
  Status unexpected(const char* what) const;

 private:
  struct ContextDeleter {
    void operator()(redisContext* c) const { redisFree(c); }
  };
  Status failed(const std::string& what);

  std::string url_, host_;
  int port_;
  int timeout_ms_;
  std::unique_ptr<redisContext, ContextDeleter> ctx_;
};

// The string a reply carries (status or bulk string), or "" for others.
std::string reply_text(const redisReply& r);

}  // namespace kvforge::store
