#include "server/connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace kvforge::server {

namespace {

// poll() on one descriptor; true when it became ready for `events`.
bool wait_for(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  for (;;) {
    const int r = ::poll(&p, 1, std::max(0, timeout_ms));
    if (r < 0 && errno == EINTR) continue;
    return r > 0;
  }
}

void address_of(int fd, bool peer, std::string& ip, int& port) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  const int r = peer ? ::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len)
                     : ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  if (r != 0) return;
  char text[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&addr);
    ::inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
    port = ntohs(a->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&addr);
    ::inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
    port = ntohs(a->sin6_port);
  }
  ip = text;
}

}  // namespace

Connection::~Connection() {
  if (fd >= 0) {
    ::shutdown(fd, SHUT_RDWR);
    ::close(fd);
  }
}

void Connection::compact() {
  buffer.erase(0, read_pos);
  read_pos = 0;
}

int ConnectionStream::read_wait_ms() const {
  // Rounded up, so that a wait cut to the deadline ends past it.
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(body_deadline_ - GateClock::now()).count();
  return static_cast<int>(std::min<int64_t>(io_timeout_ms_, std::max<int64_t>(0, left)));
}

bool ConnectionStream::is_readable() const {
  if (c_.read_pos < c_.buffer.size()) return true;
  return wait_for(c_.fd, POLLIN, read_wait_ms());
}

bool ConnectionStream::is_writable() const { return wait_for(c_.fd, POLLOUT, io_timeout_ms_); }

ssize_t ConnectionStream::read(char* ptr, size_t size) {
  if (c_.read_pos < c_.buffer.size()) {
    const size_t n = std::min(size, c_.buffer.size() - c_.read_pos);
    std::memcpy(ptr, c_.buffer.data() + c_.read_pos, n);
    c_.read_pos += n;
    return static_cast<ssize_t>(n);
  }
  for (;;) {
    const ssize_t n = ::recv(c_.fd, ptr, size, 0);
    if (n >= 0) {
      socket_bytes_ += static_cast<uint64_t>(n);
      if (socket_bytes_ > c_.request_byte_budget) {
        c_.over_budget = true;  // the handler answers 413; the rest is never read
        return -1;
      }
      return n;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
    if (GateClock::now() >= body_deadline_) {
      c_.body_timed_out = true;
      return -1;
    }
    if (!wait_for(c_.fd, POLLIN, read_wait_ms()) && GateClock::now() < body_deadline_) return -1;  // idle
  }
}

ssize_t ConnectionStream::write(const char* ptr, size_t size) {
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::send(c_.fd, ptr + done, size - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && wait_for(c_.fd, POLLOUT, io_timeout_ms_)) continue;
    return done > 0 ? static_cast<ssize_t>(done) : -1;
  }
  return static_cast<ssize_t>(done);
}

void ConnectionStream::get_remote_ip_and_port(std::string& ip, int& port) const { address_of(c_.fd, true, ip, port); }

void ConnectionStream::get_local_ip_and_port(std::string& ip, int& port) const { address_of(c_.fd, false, ip, port); }

}  // namespace kvforge::server
