#include "store/redis_connection.h"

namespace kvforge::store {

std::string reply_text(const redisReply& r) {
  if (r.type == REDIS_REPLY_STRING || r.type == REDIS_REPLY_STATUS) return std::string(r.str, r.len);
  if (r.type == REDIS_REPLY_INTEGER) return std::to_string(r.integer);
  return {};
}

Status RedisConnection::unexpected(const char* what) const {
  return Status::IOError("store: " + url_ + ": unexpected reply to " + what);
}

Status RedisConnection::failed(const std::string& what) {
  const std::string why = ctx_ && ctx_->errstr[0] ? ctx_->errstr : "connection lost";
  ctx_.reset();
  return Status::IOError("store: " + url_ + ": " + what + " failed: " + why);
}

Status RedisConnection::ensure_connected() {
  if (ctx_) return Status::OK();
  const timeval tv{timeout_ms_ / 1000, (timeout_ms_ % 1000) * 1000};
  std::unique_ptr<redisContext, ContextDeleter> c(redisConnectWithTimeout(host_.c_str(), port_, tv));
  if (c == nullptr) return Status::IOError("store: " + url_ + ": cannot allocate a connection");
  if (c->err) return Status::IOError("store: " + url_ + ": cannot connect: " + c->errstr);
  redisSetTimeout(c.get(), tv);
  ctx_ = std::move(c);
  return Status::OK();
}

Result<Reply> RedisConnection::command(const std::vector<std::string>& args) {
  KVF_ASSIGN_OR_RETURN(std::vector<Reply> replies, pipeline({args}));
  return std::move(replies.front());
}

Result<Reply> RedisConnection::eval(const char* script, const std::vector<std::string>& keys,
                                    const std::vector<std::string>& args) {
  std::vector<std::string> cmd{"EVAL", script, std::to_string(keys.size())};
  cmd.insert(cmd.end(), keys.begin(), keys.end());
  cmd.insert(cmd.end(), args.begin(), args.end());
  return command(cmd);
}

Result<std::vector<Reply>> RedisConnection::pipeline(const std::vector<std::vector<std::string>>& commands) {
  KVF_RETURN_IF_ERROR(ensure_connected());
  for (const auto& args : commands) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const std::string& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    if (redisAppendCommandArgv(ctx_.get(), static_cast<int>(argv.size()), argv.data(), lens.data()) != REDIS_OK) {
      return failed(args[0]);
    }
  }
  std::vector<Reply> replies;
  Status error;
  for (const auto& args : commands) {
    void* raw = nullptr;
    if (redisGetReply(ctx_.get(), &raw) != REDIS_OK) return failed(args[0]);
    Reply r(static_cast<redisReply*>(raw));
    if (r->type == REDIS_REPLY_ERROR && error.ok()) {
      const std::string text(r->str, r->len);
      error = text.rfind("OOM", 0) == 0
                  ? Status::ResourceExhausted("store: " + url_ + ": the Redis server is at its maxmemory: " + text)
                  : Status::IOError("store: " + url_ + ": " + args[0] + ": " + text);
    }
    replies.push_back(std::move(r));
  }
  if (!error.ok()) return error;
  return replies;
}

}  // namespace kvforge::store
