// A chunk server on an ephemeral loopback port that misbehaves the ways a
// client's bounds must survive (the audit of issue 17): for the client's and
// the loader's tests.
#pragma once
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "kvforge/core/status.h"

namespace kvforge::server::testing {

enum class Misbehavior {
  kSilent,      // accepts connections (the kernel's backlog) and never reads or answers
  kHang,        // answers lookups ("all stored"); chunk GETs never get an answer
  kDrip,        // chunk GETs: headers at once, then 16 bytes per 100 ms, forever
  kGarbage,     // chunk GETs: chunked garbage as fast as the socket takes it, forever
  kHugeLength,  // chunk GETs: Content-Length 1 TiB, then garbage
};

class MisbehavingServer {
 public:
  explicit MisbehavingServer(Misbehavior m) : m_(m) {
    if (m == Misbehavior::kSilent) {
      listen_silently();
      return;
    }
    svr_.Post("/v1/lookup", [](const httplib::Request& req, httplib::Response& res) {
      const auto j = nlohmann::json::parse(req.body, nullptr, false);
      const size_t n = j.is_object() && j.contains("keys") ? j["keys"].size() : 0;
      res.set_content(nlohmann::json{{"prefix", n}}.dump(), "application/json");
    });
    svr_.Get(R"(/v1/chunk/.*)", [this](const httplib::Request&, httplib::Response& res) { answer(res); });
    port_ = svr_.bind_to_any_port("127.0.0.1");
    KVF_CHECK(port_ > 0);
    thread_ = std::thread([this] { svr_.listen_after_bind(); });
    while (!svr_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

  ~MisbehavingServer() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) {
      svr_.stop();
      thread_.join();
    }
    if (silent_fd_ >= 0) close(silent_fd_);
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  uint64_t bytes_sent() const { return sent_.load(); }

 private:
  void listen_silently() {
    silent_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    KVF_CHECK(silent_fd_ >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    KVF_CHECK(bind(silent_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    KVF_CHECK(listen(silent_fd_, 64) == 0);
    socklen_t len = sizeof a;
    KVF_CHECK(getsockname(silent_fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port_ = ntohs(a.sin_port);
  }

  // Waits `d` unless the server is stopping; false once it is.
  bool pause(std::chrono::milliseconds d) {
    std::unique_lock lock(mu_);
    return !cv_.wait_for(lock, d, [this] { return stopping_; });
  }

  bool send(httplib::DataSink& sink, size_t n) {
    static const std::string kGarbage(64 << 10, '\x5a');
    if (!sink.write(kGarbage.data(), n)) return false;
    sent_ += n;
    return true;
  }

  void answer(httplib::Response& res) {
    const auto type = "application/octet-stream";
    switch (m_) {
      case Misbehavior::kHang:
        while (pause(std::chrono::milliseconds(100))) {
        }
        res.status = 500;
        return;
      case Misbehavior::kDrip:
        res.set_chunked_content_provider(type, [this](size_t, httplib::DataSink& sink) {
          return pause(std::chrono::milliseconds(100)) && send(sink, 16);
        });
        return;
      case Misbehavior::kGarbage:
        res.set_chunked_content_provider(type, [this](size_t, httplib::DataSink& sink) {
          return pause(std::chrono::milliseconds(0)) && send(sink, 64 << 10);
        });
        return;
      case Misbehavior::kHugeLength:
        res.set_content_provider(uint64_t{1} << 40, type, [this](size_t, size_t, httplib::DataSink& sink) {
          return pause(std::chrono::milliseconds(0)) && send(sink, 64 << 10);
        });
        return;
      case Misbehavior::kSilent:
        return;
    }
  }

  const Misbehavior m_;
  httplib::Server svr_;
  std::thread thread_;
  int port_ = 0;
  int silent_fd_ = -1;
  std::atomic<uint64_t> sent_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
};

}  // namespace kvforge::server::testing
