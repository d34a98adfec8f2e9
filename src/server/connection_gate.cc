#include "server/connection_gate.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "server/http_head.h"

namespace kvforge::server {

namespace {

thread_local Connection* t_current = nullptr;

int bind_listener(const std::string& host, int port, std::string* error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (const int r = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found); r != 0) {
    *error = ::gai_strerror(r);
    return -1;
  }
  int fd = -1;
  for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    const int yes = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) != 0 || ::listen(fd, 1024) != 0) {
      *error = std::strerror(errno);
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(found);
  return fd;
}

int bound_port(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
  if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port);
  return ntohs(reinterpret_cast<const sockaddr_in*>(&addr)->sin_port);
}

// A short answer written by the gate itself, best effort (the socket is
// non-blocking and about to close).
void answer(int fd, int status, const char* reason, const std::string& message) {
  const std::string body = R"({"error":")" + message + R"(","code":"invalid_argument"})";
  const std::string text = "HTTP/1.1 " + std::to_string(status) + " " + reason +
                           "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\n\r\n" + body;
  [[maybe_unused]] const ssize_t n = ::send(fd, text.data(), text.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

std::string json_escaped(std::string_view s) {
  std::string out;
  for (const char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += static_cast<unsigned char>(ch) < 0x20 ? '?' : ch;
  }
  return out;
}

GateClock::time_point after_ms(int ms) { return GateClock::now() + std::chrono::milliseconds(ms); }

}  // namespace

Connection* ConnectionGate::current() { return t_current; }

ConnectionGate::ConnectionGate(GateOptions options, ServeFn serve, ConnectionCounters* counters)
    : options_(std::move(options)), serve_(std::move(serve)), counters_(counters) {}

Result<std::unique_ptr<ConnectionGate>> ConnectionGate::start(GateOptions options, ServeFn serve,
                                                              ConnectionCounters* counters) {
  std::unique_ptr<ConnectionGate> g(new ConnectionGate(std::move(options), std::move(serve), counters));
  const std::string where = g->options_.host + ":" + std::to_string(g->options_.port);
  std::string error;
  g->listen_fd_ = bind_listener(g->options_.host, g->options_.port, &error);
  if (g->listen_fd_ < 0) return Status::IOError("serve: cannot bind " + where + ": " + error);
  g->port_ = bound_port(g->listen_fd_);
  if (::pipe2(g->wake_fds_, O_NONBLOCK | O_CLOEXEC) != 0) return Status::IOError("serve: pipe2 failed");
  g->poller_ = std::thread([p = g.get()] { p->run_poller(); });
  for (int i = 0; i < std::max(1, g->options_.workers); ++i) g->workers_.emplace_back([p = g.get()] { p->run_worker(); });
  return g;
}

ConnectionGate::~ConnectionGate() {
  stop();
  for (const int fd : wake_fds_) {
    if (fd >= 0) ::close(fd);
  }
}

void ConnectionGate::stop() {
  std::lock_guard stop_lock(stop_mu_);
  if (stopped_) return;
  stopped_ = true;
  stopping_ = true;
  wake();
  if (poller_.joinable()) poller_.join();
  {
    std::lock_guard lock(mu_);
    while (!ready_.empty()) ready_.pop_front();  // heads never served: closed
    ready_cv_.notify_all();
  }
  for (auto& w : workers_) w.join();
  std::lock_guard lock(mu_);
  parked_.clear();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  listen_fd_ = -1;
}

void ConnectionGate::wake() {
  const char b = 1;
  [[maybe_unused]] const ssize_t n = ::write(wake_fds_[1], &b, 1);
}

void ConnectionGate::close(std::unique_ptr<Connection> c) {
  if (c) --counters_->open;
}

void ConnectionGate::run_poller() {
  std::vector<pollfd> fds;
  while (!stopping_) {
    {
      std::lock_guard lock(mu_);
      for (auto& c : parked_) waiting_.push_back(std::move(c));
      parked_.clear();
    }
    const bool room = counters_->open < static_cast<uint64_t>(options_.max_connections);
    fds.assign({pollfd{wake_fds_[0], POLLIN, 0}, pollfd{room ? listen_fd_ : -1, POLLIN, 0}});
    auto next = GateClock::now() + std::chrono::seconds(1);
    for (const auto& c : waiting_) {
      fds.push_back({c->fd, POLLIN, 0});
      next = std::min(next, c->deadline);
    }
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next - GateClock::now()).count() + 1;
    if (::poll(fds.data(), fds.size(), static_cast<int>(std::max<int64_t>(0, wait))) < 0 && errno != EINTR) break;
    if (fds[0].revents != 0) {
      char drain[64];
      while (::read(wake_fds_[0], drain, sizeof drain) > 0) {
      }
    }
    const size_t polled = fds.size() - 2;  // waiting_[0, polled) were polled; accept_new appends
    if (fds[1].revents != 0) accept_new();
    std::vector<std::unique_ptr<Connection>> still;
    const auto now = GateClock::now();
    for (size_t i = 0; i < waiting_.size(); ++i) {
      auto& c = waiting_[i];
      const bool ready = i < polled && fds[i + 2].revents != 0;
      if (ready && !(c->lingering ? discard_input(c) : read_head(c))) continue;
      if (now >= c->deadline) {
        if (c->lingering) {
          close(std::move(c));
          continue;
        }
        if (c->head_started) ++counters_->head_timeouts;
        if (c->head_started) answer(c->fd, 408, "Request Timeout", "request head not complete in time");
        close(std::move(c));
        continue;
      }
      still.push_back(std::move(c));
    }
    waiting_ = std::move(still);
  }
  for (auto& c : waiting_) close(std::move(c));
  waiting_.clear();
}

void ConnectionGate::accept_new() {
  while (counters_->open < static_cast<uint64_t>(options_.max_connections)) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN, or the descriptor limit: retried on the next poll
    const int yes = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
    ++counters_->accepted;
    ++counters_->open;
    auto c = std::make_unique<Connection>(fd);
    c->deadline = after_ms(options_.header_timeout_ms);
    c->head_started = true;  // a new connection owes its head from accept on
    waiting_.push_back(std::move(c));
  }
}

bool ConnectionGate::read_head(std::unique_ptr<Connection>& c) {
  char buf[16384];
  for (;;) {
    const ssize_t n = ::recv(c->fd, buf, sizeof buf, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      close(std::move(c));
      return false;
    }
    if (n < 0) break;
    if (!c->head_started) {
      c->head_started = true;
      c->deadline = after_ms(options_.header_timeout_ms);
    }
    c->buffer.append(buf, static_cast<size_t>(n));
    if (head_length(std::string_view(c->buffer).substr(c->read_pos))) {
      dispatch(std::move(c));
      return false;
    }
    if (c->buffer.size() - c->read_pos > kMaxHeadBytes) {
      ++counters_->bad_heads;
      answer(c->fd, 431, "Request Header Fields Too Large", "request head over 64 KiB");
      close(std::move(c));
      return false;
    }
  }
  return true;
}

void ConnectionGate::dispatch(std::unique_ptr<Connection> c) {
  const std::string_view rest = std::string_view(c->buffer).substr(c->read_pos);
  const std::string problem = head_problem(rest.substr(0, *head_length(rest)));
  if (!problem.empty()) {
    ++counters_->bad_heads;
    answer(c->fd, 400, "Bad Request", json_escaped(problem));
    close(std::move(c));
    return;
  }
  std::lock_guard lock(mu_);
  ready_.push_back(std::move(c));
  ready_cv_.notify_one();
}

void ConnectionGate::run_worker() {
  for (;;) {
    std::unique_ptr<Connection> c;
    {
      std::unique_lock lock(mu_);
      ready_cv_.wait(lock, [this] { return stopping_ || !ready_.empty(); });
      if (ready_.empty()) return;
      c = std::move(ready_.front());
      ready_.pop_front();
    }
    serve(std::move(c));
  }
}

void ConnectionGate::serve(std::unique_ptr<Connection> c) {
  for (;;) {
    c->close_after = c->over_budget = c->body_timed_out = false;
    c->request_byte_budget = options_.request_byte_budget;
    ConnectionStream stream(*c, options_.io_timeout_ms, after_ms(options_.body_timeout_ms));
    const bool last = stopping_ || ++c->served >= options_.max_requests_per_connection;
    bool closed = false;
    t_current = c.get();
    const bool ok = serve_(stream, last, closed);
    t_current = nullptr;
    if (c->body_timed_out) ++counters_->body_timeouts;
    if (c->close_after || c->over_budget || c->body_timed_out) return linger(std::move(c));
    if (!ok || closed || last) break;
    c->compact();
    if (!head_length(c->buffer)) return park(std::move(c));
    const std::string problem = head_problem(c->buffer.substr(0, *head_length(c->buffer)));
    if (!problem.empty()) {  // a pipelined head the gate has not seen
      ++counters_->bad_heads;
      answer(c->fd, 400, "Bad Request", json_escaped(problem));
      break;
    }
  }
  close(std::move(c));
}

void ConnectionGate::linger(std::unique_ptr<Connection> c) {
  ::shutdown(c->fd, SHUT_WR);
  c->lingering = true;
  c->buffer.clear();
  c->read_pos = 0;
  c->deadline = after_ms(options_.linger_ms);
  std::lock_guard lock(mu_);
  if (stopping_) return close(std::move(c));
  parked_.push_back(std::move(c));
  wake();
}

bool ConnectionGate::discard_input(std::unique_ptr<Connection>& c) {
  char buf[65536];
  for (int round = 0; round < 16; ++round) {  // bounded: a fast sender must not hold the poller
    const ssize_t n = ::recv(c->fd, buf, sizeof buf, 0);
    if (n > 0 && (c->discarded += static_cast<uint64_t>(n)) <= options_.linger_bytes) continue;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    close(std::move(c));  // the client finished or went away
    return false;
  }
  return true;
}

void ConnectionGate::park(std::unique_ptr<Connection> c) {
  c->head_started = !c->buffer.empty();
  c->deadline = after_ms(c->head_started ? options_.header_timeout_ms : options_.idle_timeout_ms);
  {
    std::lock_guard lock(mu_);
    if (stopping_) return close(std::move(c));
    parked_.push_back(std::move(c));
  }
  wake();
}

}  // namespace kvforge::server
