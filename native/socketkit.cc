// socketkit's native addon: the socket types Node.js cannot make (Unix datagram and
// SOCK_SEQPACKET sockets, raw and ICMP ping sockets, SO_REUSEPORT), as thin non-blocking
// calls on file descriptors plus a libuv poll handle to learn when to call again. All the
// waiting, timeouts and errors live in TypeScript (src/native/, src/socket/native-socket.ts).
//
// Every call either succeeds, returns "would block" (null or -1, the caller then polls),
// or throws an Error whose `code` is the errno name (EPERM, ENOENT, ...) and `errno` its
// negative number, which socketkit maps to its typed errors.
#include <napi.h>
#include <openssl/evp.h>
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <dirent.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <system_error>
#include <thread>
#include <string>
#include <vector>

#include "common.h"

#ifdef __linux__
#include <sys/syscall.h>
#if !defined(RESOLVE_BENEATH) && __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#endif
#ifndef RESOLVE_BENEATH  // headers older than Linux 5.6: the ABI is fixed, so spell it out
struct open_how {
  uint64_t flags;
  uint64_t mode;
  uint64_t resolve;
};
#define RESOLVE_NO_MAGICLINKS 0x02
#define RESOLVE_NO_SYMLINKS 0x04
#define RESOLVE_BENEATH 0x08
#endif
#ifndef SYS_openat2
#define SYS_openat2 437  // the same number on every architecture
#endif
#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#endif

namespace socketkit {

Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall) {
  Napi::Error e = Napi::Error::New(env, std::string(uv_err_name(-err)) + ": " + uv_strerror(-err) + ", " + syscall);
  e.Set("code", Napi::String::New(env, uv_err_name(-err)));
  e.Set("errno", Napi::Number::New(env, -err));
  e.Set("syscall", Napi::String::New(env, syscall));
  return e;
}

bool WouldBlock(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == EINPROGRESS; }

// An address from JS: { family: "unix", path: Buffer } | { family: "inet"|"inet6", host, port }.
bool ToSockaddr(Napi::Env env, Napi::Value value, sockaddr_storage* ss, socklen_t* len) {
  if (!value.IsObject()) {
    Napi::TypeError::New(env, "address must be an object").ThrowAsJavaScriptException();
    return false;
  }
  Napi::Object o = value.As<Napi::Object>();
  std::string family = o.Get("family").As<Napi::String>().Utf8Value();
  memset(ss, 0, sizeof(*ss));
  if (family == "unix") {
    Napi::Buffer<char> path = o.Get("path").As<Napi::Buffer<char>>();
    sockaddr_un* un = reinterpret_cast<sockaddr_un*>(ss);
    // A path needs room for its NUL; an abstract name may take all of sun_path.
    bool abstractName = path.Length() > 0 && path.Data()[0] == '\0';
    if (path.Length() > sizeof(un->sun_path) || (!abstractName && path.Length() == sizeof(un->sun_path))) {
      ErrnoError(env, ENAMETOOLONG, "bind").ThrowAsJavaScriptException();
      return false;
    }
    un->sun_family = AF_UNIX;
    memcpy(un->sun_path, path.Data(), path.Length());
    // Abstract names (a leading NUL) are exactly their bytes; paths end at their NUL; no
    // name at all binds to a free abstract name the kernel picks (unix(7), autobind).
    *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.Length() +
                                  (path.Length() > 0 && path.Data()[0] != '\0' ? 1 : 0));
    return true;
  }
  std::string host = o.Get("host").As<Napi::String>().Utf8Value();
  // The socket layer checks ports first; a value that still does not fit is refused here
  // rather than cut to 16 bits (70000 would be port 4464).
  double given = o.Get("port").As<Napi::Number>().DoubleValue();
  if (!(given >= 0 && given <= 65535) || given != static_cast<double>(static_cast<int>(given))) {
    ErrnoError(env, EINVAL, "port").ThrowAsJavaScriptException();
    return false;
  }
  int port = static_cast<int>(given);
  if (family == "inet") {
    sockaddr_in* in = reinterpret_cast<sockaddr_in*>(ss);
    in->sin_family = AF_INET;
    in->sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, host.c_str(), &in->sin_addr) != 1) {
      ErrnoError(env, EINVAL, "inet_pton").ThrowAsJavaScriptException();
      return false;
    }
    *len = sizeof(sockaddr_in);
    return true;
  }
  sockaddr_in6* in6 = reinterpret_cast<sockaddr_in6*>(ss);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(static_cast<uint16_t>(port));
  // Python's 4-tuple: flowinfo and scope_id, when given (the socket layer checks them).
  Napi::Value flowinfo = o.Get("flowinfo");
  if (flowinfo.IsNumber()) in6->sin6_flowinfo = htonl(flowinfo.As<Napi::Number>().Uint32Value());
  Napi::Value scope = o.Get("scopeId");
  if (scope.IsNumber()) in6->sin6_scope_id = scope.As<Napi::Number>().Uint32Value();
  if (inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) != 1) {
    ErrnoError(env, EINVAL, "inet_pton").ThrowAsJavaScriptException();
    return false;
  }
  *len = sizeof(sockaddr_in6);
  return true;
}

Napi::Value FromSockaddr(Napi::Env env, const sockaddr_storage* ss, socklen_t len) {
  Napi::Object o = Napi::Object::New(env);
  if (ss->ss_family == AF_UNIX) {
    const sockaddr_un* un = reinterpret_cast<const sockaddr_un*>(ss);
    size_t n = len > offsetof(sockaddr_un, sun_path) ? len - offsetof(sockaddr_un, sun_path) : 0;
    if (n > 0 && un->sun_path[0] != '\0') n = strnlen(un->sun_path, n);  // a path: up to its NUL
    o.Set("family", "unix");
    o.Set("path", Napi::Buffer<char>::Copy(env, un->sun_path, n));
    return o;
  }
  char text[INET6_ADDRSTRLEN] = {0};
  if (ss->ss_family == AF_INET) {
    const sockaddr_in* in = reinterpret_cast<const sockaddr_in*>(ss);
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
    o.Set("family", "inet");
    o.Set("port", ntohs(in->sin_port));
  } else {
    const sockaddr_in6* in6 = reinterpret_cast<const sockaddr_in6*>(ss);
    inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
    o.Set("family", "inet6");
    o.Set("port", ntohs(in6->sin6_port));
    o.Set("flowinfo", Napi::Number::New(env, ntohl(in6->sin6_flowinfo)));
    o.Set("scopeId", Napi::Number::New(env, in6->sin6_scope_id));
  }
  o.Set("host", text);
  return o;
}

}  // namespace socketkit

namespace {

using socketkit::ErrnoError;
using socketkit::FromSockaddr;
using socketkit::ToSockaddr;
using socketkit::WouldBlock;

int Fd(const Napi::CallbackInfo& info, size_t i = 0) { return info[i].As<Napi::Number>().Int32Value(); }

Napi::Value Socket(const Napi::CallbackInfo& info) {
  int fd = socket(info[0].As<Napi::Number>().Int32Value(),
                  info[1].As<Napi::Number>().Int32Value() | SOCK_NONBLOCK | SOCK_CLOEXEC,
                  info[2].As<Napi::Number>().Int32Value());
  if (fd < 0) throw ErrnoError(info.Env(), errno, "socket");
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value Bind(const Napi::CallbackInfo& info) {
  sockaddr_storage ss;
  socklen_t len;
  if (!ToSockaddr(info.Env(), info[1], &ss, &len)) return info.Env().Undefined();
  if (bind(Fd(info), reinterpret_cast<sockaddr*>(&ss), len) < 0) throw ErrnoError(info.Env(), errno, "bind");
  return info.Env().Undefined();
}

// Returns true when connected, false when in progress (poll for writable, then SoError).
Napi::Value Connect(const Napi::CallbackInfo& info) {
  sockaddr_storage ss;
  socklen_t len;
  if (!ToSockaddr(info.Env(), info[1], &ss, &len)) return info.Env().Undefined();
  if (connect(Fd(info), reinterpret_cast<sockaddr*>(&ss), len) < 0) {
    if (errno == EINPROGRESS) return Napi::Boolean::New(info.Env(), false);
    throw ErrnoError(info.Env(), errno, "connect");
  }
  return Napi::Boolean::New(info.Env(), true);
}

Napi::Value Listen(const Napi::CallbackInfo& info) {
  if (listen(Fd(info), info[1].As<Napi::Number>().Int32Value()) < 0) throw ErrnoError(info.Env(), errno, "listen");
  return info.Env().Undefined();
}

// [fd, address] or null when no connection is waiting.
Napi::Value Accept(const Napi::CallbackInfo& info) {
  sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  int fd = accept4(Fd(info), reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) {
    if (WouldBlock(errno)) return info.Env().Null();
    throw ErrnoError(info.Env(), errno, "accept");
  }
  Napi::Array out = Napi::Array::New(info.Env(), 2);
  out.Set(0u, Napi::Number::New(info.Env(), fd));
  out.Set(1u, FromSockaddr(info.Env(), &ss, len));
  return out;
}

// Bytes sent, or -1 when the socket would block. info[2]: address or null (connected).
Napi::Value SendTo(const Napi::CallbackInfo& info) {
  Napi::Buffer<char> data = info[1].As<Napi::Buffer<char>>();
  ssize_t n;
  if (info[2].IsNull() || info[2].IsUndefined()) {
    n = send(Fd(info), data.Data(), data.Length(), MSG_NOSIGNAL);
  } else {
    sockaddr_storage ss;
    socklen_t len;
    if (!ToSockaddr(info.Env(), info[2], &ss, &len)) return info.Env().Undefined();
    n = sendto(Fd(info), data.Data(), data.Length(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&ss), len);
  }
  if (n < 0) {
    if (WouldBlock(errno)) return Napi::Number::New(info.Env(), -1);
    throw ErrnoError(info.Env(), errno, "sendto");
  }
  return Napi::Number::New(info.Env(), static_cast<double>(n));
}

// [data, address|null, truncatedLength] or null when nothing is waiting. The datagram is
// read whole (MSG_TRUNC tells its real size), then cut to `size`, as Python's recv does.
Napi::Value RecvFrom(const Napi::CallbackInfo& info) {
  size_t size = info[1].As<Napi::Number>().Uint32Value();
  Napi::Buffer<char> buf = Napi::Buffer<char>::New(info.Env(), size > 0 ? size : 1);
  sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  memset(&ss, 0, sizeof(ss));
  ssize_t n = recvfrom(Fd(info), buf.Data(), size, MSG_TRUNC, reinterpret_cast<sockaddr*>(&ss), &len);
  if (n < 0) {
    if (WouldBlock(errno)) return info.Env().Null();
    throw ErrnoError(info.Env(), errno, "recvfrom");
  }
  size_t got = static_cast<size_t>(n) < size ? static_cast<size_t>(n) : size;
  Napi::Array out = Napi::Array::New(info.Env(), 3);
  out.Set(0u, Napi::Buffer<char>::Copy(info.Env(), buf.Data(), got));
  out.Set(1u, len > 0 && ss.ss_family != AF_UNSPEC ? FromSockaddr(info.Env(), &ss, len) : info.Env().Null());
  out.Set(2u, Napi::Number::New(info.Env(), static_cast<double>(n)));
  return out;
}

// setsockopt(fd, level, option, value): an int, or a Buffer's bytes (a struct such as
// SO_LINGER's, as Python's setsockopt takes bytes).
Napi::Value SetSockOpt(const Napi::CallbackInfo& info) {
  int value = 0;
  const void* data = &value;
  socklen_t size = sizeof(value);
  if (info[3].IsBuffer()) {
    Napi::Buffer<char> bytes = info[3].As<Napi::Buffer<char>>();
    data = bytes.Data();
    size = static_cast<socklen_t>(bytes.Length());
  } else {
    value = info[3].As<Napi::Number>().Int32Value();
  }
  if (setsockopt(Fd(info), info[1].As<Napi::Number>().Int32Value(), info[2].As<Napi::Number>().Int32Value(), data,
                 size) < 0) {
    throw ErrnoError(info.Env(), errno, "setsockopt");
  }
  return info.Env().Undefined();
}

Napi::Value GetSockOpt(const Napi::CallbackInfo& info) {
  int value = 0;
  socklen_t len = sizeof(value);
  if (getsockopt(Fd(info), info[1].As<Napi::Number>().Int32Value(), info[2].As<Napi::Number>().Int32Value(), &value,
                 &len) < 0) {
    throw ErrnoError(info.Env(), errno, "getsockopt");
  }
  return Napi::Number::New(info.Env(), value);
}

Napi::Value GetSockName(const Napi::CallbackInfo& info) {
  sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  memset(&ss, 0, sizeof(ss));
  int rc = info[1].ToBoolean() ? getpeername(Fd(info), reinterpret_cast<sockaddr*>(&ss), &len)
                               : getsockname(Fd(info), reinterpret_cast<sockaddr*>(&ss), &len);
  if (rc < 0) throw ErrnoError(info.Env(), errno, info[1].ToBoolean() ? "getpeername" : "getsockname");
  return FromSockaddr(info.Env(), &ss, len);
}

Napi::Value Shutdown(const Napi::CallbackInfo& info) {
  if (shutdown(Fd(info), info[1].As<Napi::Number>().Int32Value()) < 0) throw ErrnoError(info.Env(), errno, "shutdown");
  return info.Env().Undefined();
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  close(Fd(info));
  return info.Env().Undefined();
}

// `dup(fd)`: a new descriptor of the same open socket (close-on-exec), as Python's dup().
Napi::Value Dup(const Napi::CallbackInfo& info) {
  int fd = fcntl(Fd(info), F_DUPFD_CLOEXEC, 0);
  if (fd < 0) throw ErrnoError(info.Env(), errno, "dup");
  return Napi::Number::New(info.Env(), fd);
}

// Which of `events` (UV_READABLE | UV_WRITABLE) the fd is ready for now: poll(2) with no
// wait, read as select(2) reads it (a hang-up or an error is ready for reading, an error for
// writing too, since the next call then fails at once). For socketkit/select.
Napi::Value PollNow(const Napi::CallbackInfo& info) {
  int want = info[1].As<Napi::Number>().Int32Value();
  pollfd p = {Fd(info), 0, 0};
  if (want & UV_READABLE) p.events |= POLLIN;
  if (want & UV_WRITABLE) p.events |= POLLOUT;
  int rc;
  do {
    rc = poll(&p, 1, 0);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) throw ErrnoError(info.Env(), errno, "poll");
  if (p.revents & POLLNVAL) throw ErrnoError(info.Env(), EBADF, "poll");
  int ready = 0;
  if (p.revents & (POLLIN | POLLHUP | POLLERR)) ready |= UV_READABLE;
  if (p.revents & (POLLOUT | POLLERR)) ready |= UV_WRITABLE;
  return Napi::Number::New(info.Env(), ready & want);
}

// A uv_poll_t on an fd: calls back with (status, events) when it is readable/writable.
class Poller : public Napi::ObjectWrap<Poller> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Poller",
                       {InstanceMethod("start", &Poller::Start), InstanceMethod("stop", &Poller::Stop),
                        InstanceMethod("close", &Poller::Close)});
  }

  explicit Poller(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Poller>(info) {
    callback_ = Napi::Persistent(info[1].As<Napi::Function>());
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(info.Env(), &loop);
    handle_ = new uv_poll_t;
    int rc = uv_poll_init_socket(loop, handle_, Fd(info));
    if (rc < 0) {
      delete handle_;
      handle_ = nullptr;
      throw ErrnoError(info.Env(), -rc, "uv_poll_init");
    }
    handle_->data = this;
  }

  ~Poller() override { Release(); }

 private:
  static void OnEvent(uv_poll_t* handle, int status, int events) {
    Poller* self = static_cast<Poller*>(handle->data);
    if (self == nullptr) return;
    Napi::Env env = self->callback_.Env();
    Napi::HandleScope scope(env);
    try {
      self->callback_.MakeCallback(env.Global(), {Napi::Number::New(env, status), Napi::Number::New(env, events)});
    } catch (const Napi::Error& e) {
      // Thrown by the callback: to 'uncaughtException', as from any I/O callback, instead of
      // a C++ exception out of libuv's callback (which would abort the process).
      napi_fatal_exception(env, e.Value());
    }
  }

  Napi::Value Start(const Napi::CallbackInfo& info) {
    if (handle_ == nullptr) return info.Env().Undefined();
    int rc = uv_poll_start(handle_, info[0].As<Napi::Number>().Int32Value(), OnEvent);
    if (rc < 0) throw ErrnoError(info.Env(), -rc, "uv_poll_start");
    if (!referenced_) {
      Ref();  // keep the JS object alive while polling
      referenced_ = true;
    }
    return info.Env().Undefined();
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    if (handle_ != nullptr) uv_poll_stop(handle_);
    if (referenced_) {
      Unref();
      referenced_ = false;
    }
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Stop(info);
    Release();
    return info.Env().Undefined();
  }

  void Release() {
    if (handle_ == nullptr) return;
    handle_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(handle_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    handle_ = nullptr;
  }

  Napi::FunctionReference callback_;
  uv_poll_t* handle_ = nullptr;
  bool referenced_ = false;
};

// A call on the libuv thread pool over `buffer[offset, offset+length)` and a descriptor,
// resolving with a number or rejecting with the errno of its system call. It works on a
// dup() of the descriptor: when JavaScript closes the original meanwhile, the call cannot
// touch a reused descriptor number. Subclasses do the work in Execute(), counting `done_`
// and setting `err_`.
class PoolCall : public Napi::AsyncWorker {
 public:
  // The arguments every such call starts with: (fd, buffer, offset, length).
  struct Args {
    int fd;  // the dup()
    Napi::Buffer<uint8_t> buffer;
    size_t offset;
    size_t length;
  };

  static Args TakeArgs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Buffer<uint8_t> buffer = info[1].As<Napi::Buffer<uint8_t>>();
    int64_t offset = info[2].As<Napi::Number>().Int64Value();
    int64_t length = info[3].As<Napi::Number>().Int64Value();
    if (offset < 0 || length < 0 || static_cast<uint64_t>(offset + length) > buffer.Length()) {
      throw Napi::RangeError::New(env, "offset and length must lie within the buffer");
    }
    int fd = fcntl(Fd(info), F_DUPFD_CLOEXEC, 0);
    if (fd < 0) throw ErrnoError(env, errno, "dup");
    return {fd, buffer, static_cast<size_t>(offset), static_cast<size_t>(length)};
  }

  // Queues the call and returns its promise (the call deletes itself once settled).
  Napi::Promise Start() {
    Napi::Promise promise = deferred_.Promise();
    Queue();
    return promise;
  }

 protected:
  PoolCall(Napi::Env env, const Args& args, const char* syscall)
      : Napi::AsyncWorker(env), fd_(args.fd), data_(args.buffer.Data() + args.offset), length_(args.length),
        deferred_(Napi::Promise::Deferred::New(env)), syscall_(syscall) {
    buffer_ = Napi::Persistent(args.buffer.As<Napi::Object>());
  }

  ~PoolCall() override { close(fd_); }

  // What the promise resolves with when no error was recorded.
  virtual double Result() const { return static_cast<double>(done_); }

  void OnOK() override {
    if (err_ != 0) {
      deferred_.Reject(ErrnoError(Env(), err_, syscall_).Value());
      return;
    }
    deferred_.Resolve(Napi::Number::New(Env(), Result()));
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

  int fd_;
  uint8_t* data_;
  size_t length_;
  size_t done_ = 0;
  int err_ = 0;

 private:
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference buffer_;
  const char* syscall_;
};

// Bulk transfer on a stream socket's descriptor, on the thread pool, so the event loop
// only hashes and schedules: `recvInto(fd, buffer, offset, length, ms)` and
// `sendFrom(...)` move bytes between the socket and `buffer[offset, offset+length)` until
// it is full (all sent), the peer ends the stream, or `ms` pass (with nothing moved: -1
// from recvInto, 0 from sendFrom), so no call holds a pool thread longer than that. With
// `ms` 0 a call returns at EAGAIN with what it moved, and the caller waits for the peer on
// the event loop (the reactor's whenReady), which is what socketkit does where it can. The
// caller owns the ordering: Node.js must neither read (recvInto) nor write (sendFrom) on
// the socket while a call runs.
// Waits for `events` on `fd` for what is left of `ms` since `start`: false when the time
// is up, or when poll fails (then with `*err` set).
bool WaitWithin(int fd, short events, const timespec& start, int ms, int* err) {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  long left = ms - ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000);
  if (left <= 0) return false;
  pollfd p = {fd, events, 0};
  if (poll(&p, 1, static_cast<int>(left)) < 0 && errno != EINTR) {
    *err = errno;
    return false;
  }
  return true;
}

class BulkIo : public PoolCall {
 public:
  BulkIo(Napi::Env env, const Args& args, bool sending, int ms)
      : PoolCall(env, args, sending ? "send" : "recv"), sending_(sending), ms_(ms) {}

  void Execute() override {
    timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (done_ < length_) {
      ssize_t n = sending_ ? send(fd_, data_ + done_, length_ - done_, MSG_DONTWAIT | MSG_NOSIGNAL)
                           : recv(fd_, data_ + done_, length_ - done_, MSG_DONTWAIT);
      if (n > 0) {
        done_ += static_cast<size_t>(n);
        continue;
      }
      if (n == 0) {  // recv: end of stream
        eof_ = true;
        return;
      }
      if (errno == EINTR) continue;
      if (!WouldBlock(errno)) {
        // Bytes moved before the error are reported; the error shows on the next call.
        if (done_ == 0) err_ = errno;
        return;
      }
      if (!WaitWithin(fd_, static_cast<short>(sending_ ? POLLOUT : POLLIN), start, ms_, &err_)) return;
    }
  }

 protected:
  double Result() const override {
    return !sending_ && done_ == 0 && !eof_ ? -1 : static_cast<double>(done_);
  }

 private:
  bool sending_;
  int ms_;
  bool eof_ = false;
};

Napi::Value StartBulkIo(const Napi::CallbackInfo& info, bool sending) {
  PoolCall::Args args = PoolCall::TakeArgs(info);
  return (new BulkIo(info.Env(), args, sending, info[4].As<Napi::Number>().Int32Value()))->Start();
}

Napi::Value RecvInto(const Napi::CallbackInfo& info) { return StartBulkIo(info, false); }
Napi::Value SendFrom(const Napi::CallbackInfo& info) { return StartBulkIo(info, true); }

// `sendFile(sockfd, filefd, offset, count, ms)`: sendfile(2) from a file to a stream
// socket on the thread pool (the kernel copies, no byte passes through JavaScript), from
// `offset`, until `count` bytes are sent, the file ends, or `ms` pass: bytes sent, 0 at
// the file's end, -1 when `ms` passed with nothing sent. As with sendFrom, Node.js must
// not write on the socket meanwhile.
class SendFileCall : public Napi::AsyncWorker {
 public:
  SendFileCall(Napi::Env env, int sock, int file, int64_t offset, int64_t count, int ms)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), sock_(sock), file_(file),
        offset_(offset), count_(count), ms_(ms) {}
  ~SendFileCall() override {
    close(sock_);
    close(file_);
  }

  Napi::Promise Start() {
    Napi::Promise promise = deferred_.Promise();
    Queue();
    return promise;
  }

  void Execute() override {
    timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (done_ < count_) {
      off_t at = static_cast<off_t>(offset_ + done_);
      ssize_t n = sendfile(sock_, file_, &at, static_cast<size_t>(std::min<int64_t>(count_ - done_, 1 << 30)));
      if (n > 0) {
        done_ += n;
        continue;
      }
      if (n == 0) {  // the file ended
        eof_ = true;
        return;
      }
      if (errno == EINTR) continue;
      if (!WouldBlock(errno)) {
        if (done_ == 0) err_ = errno;
        return;
      }
      // What was sent goes back at once; with nothing sent yet, wait for room.
      if (done_ > 0 || !WaitWithin(sock_, POLLOUT, start, ms_, &err_)) return;
    }
  }

  void OnOK() override {
    if (err_ != 0) deferred_.Reject(ErrnoError(Env(), err_, "sendfile").Value());
    else deferred_.Resolve(Napi::Number::New(Env(), done_ == 0 && !eof_ ? -1.0 : static_cast<double>(done_)));
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  int sock_, file_;
  int64_t offset_, count_, done_ = 0;
  int ms_;
  int err_ = 0;
  bool eof_ = false;
};

Napi::Value SendFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int sock = fcntl(info[0].As<Napi::Number>().Int32Value(), F_DUPFD_CLOEXEC, 0);
  if (sock < 0) throw ErrnoError(env, errno, "dup");
  int file = fcntl(info[1].As<Napi::Number>().Int32Value(), F_DUPFD_CLOEXEC, 0);
  if (file < 0) {
    int err = errno;
    close(sock);
    throw ErrnoError(env, err, "dup");
  }
  return (new SendFileCall(env, sock, file, info[2].As<Napi::Number>().Int64Value(),
                           info[3].As<Napi::Number>().Int64Value(), info[4].As<Napi::Number>().Int32Value()))
      ->Start();
}

// `writeFile(fd, buffer, offset, length, slice)`: writes `buffer[offset, offset+length)`
// at the file's position (or its end, opened to append) on the thread pool, in write()
// calls of at most `slice` bytes, and resolves with the bytes written. The size of each
// write is the size of the page-cache folio the kernel allocates for it (see
// src/socket/bulk.ts, writeInSlices).
class FileWrite : public PoolCall {
 public:
  FileWrite(Napi::Env env, const Args& args, size_t slice) : PoolCall(env, args, "write"), slice_(slice) {}

  void Execute() override {
    while (done_ < length_) {
      size_t want = length_ - done_ < slice_ ? length_ - done_ : slice_;
      ssize_t n = write(fd_, data_ + done_, want);
      if (n > 0) {
        done_ += static_cast<size_t>(n);
      } else if (n == 0 || errno != EINTR) {
        err_ = n == 0 ? EIO : errno;  // a file that takes nothing would loop forever
        return;
      }
    }
  }

 private:
  size_t slice_;
};

Napi::Value WriteFile(const Napi::CallbackInfo& info) {
  int64_t slice = info[4].As<Napi::Number>().Int64Value();
  if (slice <= 0) throw Napi::RangeError::New(info.Env(), "slice must be > 0");
  PoolCall::Args args = PoolCall::TakeArgs(info);
  return (new FileWrite(info.Env(), args, static_cast<size_t>(slice)))->Start();
}

// Files beneath a directory descriptor, for a receiver writing into a folder that a local
// process may change under it: every path is relative to `dirfd` and resolved by the
// kernel without following any symbolic link and without leaving the folder (openat2 with
// RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS, Linux 5.6+). Where
// openat2 is missing (ENOSYS) or filtered (EPERM from seccomp), the path is walked one
// component at a time with openat(O_NOFOLLOW | O_DIRECTORY) from the directory before,
// which holds the same way: each step starts from a descriptor, not from a path. A
// symbolic link in the way fails with ELOOP, a way out of the folder with EXDEV.
//
// Paths are relative, '/'-separated, with no empty, "." or ".." component (socketkit
// checks received names before; these calls refuse such a path again, with EXDEV).

#ifdef O_PATH
constexpr int kDirFlags = O_PATH | O_DIRECTORY;  // needs no read permission on the folder
#else
constexpr int kDirFlags = O_RDONLY | O_DIRECTORY;
#endif

// Once openat2 answered ENOSYS or E2BIG, this kernel has none: walk from then on.
std::atomic<bool> openat2Missing{false};

bool ValidRelative(const std::string& path) {
  if (path.empty() || path[0] == '/' || path.find('\0') != std::string::npos) return false;
  size_t start = 0;
  for (;;) {
    size_t slash = path.find('/', start);
    size_t n = (slash == std::string::npos ? path.size() : slash) - start;
    if (n == 0 || (n == 1 && path[start] == '.') || (n == 2 && path.compare(start, 2, "..") == 0)) return false;
    if (slash == std::string::npos) return true;
    start = slash + 1;
  }
}

// openat() of one component without following a link there: -errno on failure. A link
// is ELOOP whatever the flags (O_DIRECTORY | O_NOFOLLOW on a link gives ENOTDIR, and
// O_PATH | O_NOFOLLOW opens the link itself).
int OpenComponent(int dirfd, const char* name, int flags, mode_t mode) {
  int fd;
  do fd = openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC, mode);
  while (fd < 0 && errno == EINTR);
  struct stat st;
  if (fd < 0) {
    int err = errno;
    if (err == ENOTDIR && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) return -ELOOP;
    return -err;
  }
#ifdef O_PATH
  if ((flags & O_PATH) != 0 && fstat(fd, &st) == 0 && S_ISLNK(st.st_mode)) {
    close(fd);
    return -ELOOP;
  }
#endif
  return fd;
}

// Opens `path` beneath `dirfd` following no link: a descriptor, or -errno. `*call`
// names the call that failed.
int OpenBeneathPath(int dirfd, const std::string& path, int flags, mode_t mode, const char** call) {
  *call = "openat2";
  if (!ValidRelative(path)) return -EXDEV;
#ifdef __linux__
  if (!openat2Missing.load(std::memory_order_relaxed)) {
    open_how how;
    memset(&how, 0, sizeof(how));
    how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
    how.mode = (flags & O_CREAT) != 0 ? mode : 0;  // openat2 refuses a mode it would not use
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    for (int tries = 0;; tries++) {
      long fd = syscall(SYS_openat2, dirfd, path.c_str(), &how, sizeof(how));
      if (fd >= 0) return static_cast<int>(fd);
      // EAGAIN: a rename elsewhere raced the lookup; the kernel asks to try again.
      if (errno == EINTR || (errno == EAGAIN && tries < 8)) continue;
      if (errno == ENOSYS || errno == E2BIG) {
        openat2Missing.store(true, std::memory_order_relaxed);
        break;
      }
      if (errno == EPERM) break;  // seccomp, or a real EPERM the walk will meet again
      return -errno;
    }
  }
#endif
  *call = "openat";
  int cur = dirfd;
  size_t start = 0;
  for (size_t slash; (slash = path.find('/', start)) != std::string::npos; start = slash + 1) {
    int next = OpenComponent(cur, path.substr(start, slash - start).c_str(), kDirFlags, 0);
    if (cur != dirfd) close(cur);
    if (next < 0) return next;
    cur = next;
  }
  int fd = OpenComponent(cur, path.c_str() + start, flags, mode);
  if (cur != dirfd) close(cur);
  return fd;
}

// The folder holding `path` (a descriptor of it, beneath `dirfd`) and the name in it.
int OpenParent(int dirfd, const std::string& path, std::string* leaf, const char** call) {
  *call = "openat2";
  if (!ValidRelative(path)) return -EXDEV;
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) {
    *leaf = path;
    *call = "dup";
    int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
    return fd < 0 ? -errno : fd;
  }
  *leaf = path.substr(slash + 1);
  return OpenBeneathPath(dirfd, path.substr(0, slash), kDirFlags, 0, call);
}

// Renames `fromLeaf` in the folder `from` to `toLeaf` in `to`: 0, or -errno with `*call`
// naming the call that failed. With noReplace, never over anything (renameat2
// RENAME_NOREPLACE, or link then unlink where the file system lacks it): EEXIST. Without,
// only over a regular file: a link there is ELOOP, a folder EISDIR, anything else EEXIST
// (rename replaces a link, never follows it).
int RenameLeaf(int from, const char* fromLeaf, int to, const char* toLeaf, bool noReplace, const char** call) {
  if (!noReplace) {
    *call = "renameat";
    struct stat st;
    if (fstatat(to, toLeaf, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode))
      return S_ISLNK(st.st_mode) ? -ELOOP : S_ISDIR(st.st_mode) ? -EISDIR : -EEXIST;
    // Swapped for a folder since: rename fails (EISDIR); for a link: the link is replaced.
    return renameat(from, fromLeaf, to, toLeaf) < 0 ? -errno : 0;
  }
#if defined(__linux__) && defined(SYS_renameat2)
  *call = "renameat2";
  if (syscall(SYS_renameat2, from, fromLeaf, to, toLeaf, RENAME_NOREPLACE) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS) return -errno;
#endif
  // A hard link fails with EEXIST when anything is there, and never follows a link.
  *call = "linkat";
  if (linkat(from, fromLeaf, to, toLeaf, 0) < 0) return -errno;
  *call = "unlinkat";
  return unlinkat(from, fromLeaf, 0) < 0 ? -errno : 0;
}

// A call on the thread pool on a path beneath a directory, resolving with Result() or
// rejecting with the errno of the system call that failed. Like PoolCall, it works on a
// dup() of the directory's descriptor, so JavaScript may close the original meanwhile.
// Subclasses set `err_` (positive errno) and `syscall_` in Execute().
class BeneathCall : public Napi::AsyncWorker {
 public:
  Napi::Promise Start() {
    Napi::Promise promise = deferred_.Promise();
    Queue();
    return promise;
  }

 protected:
  // (dirfd, path, ...) from JavaScript.
  BeneathCall(const Napi::CallbackInfo& info) : BeneathCall(info, info[1].As<Napi::String>().Utf8Value()) {}

  // (dirfd, ...) from JavaScript, for a call on several paths.
  BeneathCall(const Napi::CallbackInfo& info, std::string path)
      : Napi::AsyncWorker(info.Env()), path_(std::move(path)), deferred_(Napi::Promise::Deferred::New(info.Env())) {
    dirfd_ = fcntl(Fd(info), F_DUPFD_CLOEXEC, 0);
    if (dirfd_ < 0) throw ErrnoError(info.Env(), errno, "dup");
  }

  ~BeneathCall() override { close(dirfd_); }

  // What the promise resolves with when no error was recorded.
  virtual Napi::Value Result() { return Env().Undefined(); }

  // Records the outcome of a call that returned -errno (or >= 0 for success).
  bool Failed(int rc, const char* call) {
    if (rc >= 0) return false;
    err_ = -rc;
    syscall_ = call;
    return true;
  }

  void OnOK() override {
    if (err_ != 0) {
      deferred_.Reject(ErrnoError(Env(), err_, syscall_).Value());
      return;
    }
    deferred_.Resolve(Result());
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

  int dirfd_;
  std::string path_;
  int err_ = 0;
  const char* syscall_ = "";

 private:
  Napi::Promise::Deferred deferred_;
};

// `openBeneath(dirfd, path, flags, mode)`: a descriptor of `path` opened with `flags`
// (O_CLOEXEC added), no link followed on the way or at the end.
class OpenBeneathCall : public BeneathCall {
 public:
  explicit OpenBeneathCall(const Napi::CallbackInfo& info)
      : BeneathCall(info), flags_(info[2].As<Napi::Number>().Int32Value()),
        mode_(static_cast<mode_t>(info[3].As<Napi::Number>().Uint32Value())) {}

  void Execute() override {
    const char* call;
    int fd = OpenBeneathPath(dirfd_, path_, flags_, mode_, &call);
    if (!Failed(fd, call)) fd_ = fd;
  }

 protected:
  Napi::Value Result() override { return Napi::Number::New(Env(), fd_); }

 private:
  int flags_;
  mode_t mode_;
  int fd_ = -1;
};

// `mkdirsBeneath(dirfd, path, mode)`: makes each missing folder of `path` in turn, from a
// descriptor of the one before. A folder that exists is fine; a link there is ELOOP, a
// file ENOTDIR.
class MkdirsBeneathCall : public BeneathCall {
 public:
  explicit MkdirsBeneathCall(const Napi::CallbackInfo& info)
      : BeneathCall(info), mode_(static_cast<mode_t>(info[2].As<Napi::Number>().Uint32Value())) {}

  void Execute() override {
    if (!ValidRelative(path_)) {
      Failed(-EXDEV, "mkdirat");
      return;
    }
    int cur = dirfd_;
    size_t start = 0;
    for (;;) {
      size_t slash = path_.find('/', start);
      std::string name = path_.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
      const char* call = "openat";
      int next = OpenComponent(cur, name.c_str(), kDirFlags, 0);
      if (next == -ENOENT) {
        // EEXIST: made meanwhile by someone else; what it is, the open below tells.
        if (mkdirat(cur, name.c_str(), mode_) < 0 && errno != EEXIST) {
          next = -errno;
          call = "mkdirat";
        } else {
          next = OpenComponent(cur, name.c_str(), kDirFlags, 0);
        }
      }
      if (cur != dirfd_) close(cur);
      if (Failed(next, call)) return;
      cur = next;
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
    if (cur != dirfd_) close(cur);
  }

 private:
  mode_t mode_;
};

// `renameBeneath(dirfd, from, to, noReplace)`: renames `from` to `to`, both beneath. With
// noReplace, never over anything (renameat2 RENAME_NOREPLACE, or link then unlink where
// the file system lacks it): EEXIST. Without, only over a regular file: a link there is
// ELOOP, a folder EISDIR, anything else EEXIST (rename replaces a link, never follows it).
class RenameBeneathCall : public BeneathCall {
 public:
  explicit RenameBeneathCall(const Napi::CallbackInfo& info)
      : BeneathCall(info), to_(info[2].As<Napi::String>().Utf8Value()), noReplace_(info[3].ToBoolean()) {}

  void Execute() override {
    std::string fromLeaf, toLeaf;
    const char* call;
    int from = OpenParent(dirfd_, path_, &fromLeaf, &call);
    if (Failed(from, call)) return;
    int to = OpenParent(dirfd_, to_, &toLeaf, &call);
    if (!Failed(to, call)) {
      Failed(RenameLeaf(from, fromLeaf.c_str(), to, toLeaf.c_str(), noReplace_, &call), call);
      close(to);
    }
    close(from);
  }

 private:
  std::string to_;
  bool noReplace_;
};

// `unlinkBeneath(dirfd, path)`: removes the file `path` (a link itself, never its target).
class UnlinkBeneathCall : public BeneathCall {
 public:
  explicit UnlinkBeneathCall(const Napi::CallbackInfo& info) : BeneathCall(info) {}

  void Execute() override {
    std::string leaf;
    const char* call;
    int dir = OpenParent(dirfd_, path_, &leaf, &call);
    if (Failed(dir, call)) return;
    Failed(unlinkat(dir, leaf.c_str(), 0) < 0 ? -errno : 0, "unlinkat");
    close(dir);
  }
};

// `statBeneath(dirfd, path)`: what is at `path`, not following a link there (lstat), or
// null when nothing is (nor its folder).
class StatBeneathCall : public BeneathCall {
 public:
  explicit StatBeneathCall(const Napi::CallbackInfo& info) : BeneathCall(info) {}

  void Execute() override {
    std::string leaf;
    const char* call;
    int dir = OpenParent(dirfd_, path_, &leaf, &call);
    if (dir == -ENOENT) return;
    if (Failed(dir, call)) return;
    if (fstatat(dir, leaf.c_str(), &st_, AT_SYMLINK_NOFOLLOW) == 0) found_ = true;
    else if (errno != ENOENT) Failed(-errno, "fstatat");
    close(dir);
  }

 protected:
  Napi::Value Result() override {
    Napi::Env env = Env();
    if (!found_) return env.Null();
    Napi::Object o = Napi::Object::New(env);
    o.Set("size", Napi::Number::New(env, static_cast<double>(st_.st_size)));
    o.Set("nlink", Napi::Number::New(env, static_cast<double>(st_.st_nlink)));
    o.Set("mode", Napi::Number::New(env, static_cast<double>(st_.st_mode)));
    o.Set("uid", Napi::Number::New(env, static_cast<double>(st_.st_uid)));
    o.Set("isFile", Napi::Boolean::New(env, S_ISREG(st_.st_mode)));
    o.Set("isDir", Napi::Boolean::New(env, S_ISDIR(st_.st_mode)));
    o.Set("isLink", Napi::Boolean::New(env, S_ISLNK(st_.st_mode)));
    return o;
  }

 private:
  struct stat st_;
  bool found_ = false;
};

// The SHA-256 of [data, data + n) as 64 lowercase hex digits, written to `out`.
void Sha256HexInto(const char* data, size_t n, char* out) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data, n, md, &len, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  for (unsigned int i = 0; i < len; i++) {
    out[2 * i] = hex[md[i] >> 4];
    out[2 * i + 1] = hex[md[i] & 15];
  }
}

std::string Sha256Hex(const char* data, size_t n) {
  std::string out(64, '0');
  Sha256HexInto(data, n, out.data());
  return out;
}

// `storeBeneath(dirfd, { finals, data, sums, modes }, noReplace, listFd, staleStaged)`:
// small files received whole, stored in one call on the pool (a call per file costs two
// thread wake-ups, which dominate the time of a small file). File i is named finals[i]
// (relative, checked by the caller), holds data[i] (a Buffer), which must have the
// SHA-256 sums[i] (64 hex digits; if one has not, nothing of the batch is written and
// the outcomes are [{ corrupt: "<its sum>", index }]),
// and gets modes[i]. If something is at its name and noReplace is set (or it is not a
// regular file), nothing is written: { exists: true } (or ELOOP, EISDIR). Else the data
// is written: with noReplace, to a nameless file in the folder it goes to (O_TMPFILE),
// where the file system can; else to its staged file, STAGING_DIR/<40 hex digits of
// SHA-256("socketkit partial\n" NAME)>.part (made anew with O_EXCL, or, if one is there,
// taken only when it is a regular file with one link: else { refused: { nlink, isFile } }
// and it is left as it is). Its line goes to the received list (JSON: path, sha256,
// inode, size, mtime; one write to `listFd` for up to kChunk files), then the file gets
// its name: the nameless one linked (never replacing; with staleStaged, a staged file an
// earlier run left for the name is removed), the staged one renamed as renameBeneath
// does: { ino, size, mtime }. A file that fails ends the call: its outcome is { error }
// (an Error with `code`), and the files after it are not tried. Resolves with the
// outcomes, in order.
//
// `order`, an optional Int32Array of 3 shared by the calls of one receiver, makes its
// calls run one at a time in the order they were made, so that a call can be queued while
// the one before it runs (the thread pool never waits for the event loop between
// batches, and two batches never contend for the same folder): [0] is set once a call
// failed, and the calls after it then try nothing (their outcomes are empty); [1] is
// the turn, the number of the call that may run; [2] the number the next call gets.
// A call waits on its thread until its turn: it was queued after the one before it, so
// that one has a thread already, and nothing waits forever.
class StoreBeneathCall : public BeneathCall {
 public:
  explicit StoreBeneathCall(const Napi::CallbackInfo& info)
      : BeneathCall(info, ""), noReplace_(info[2].ToBoolean()), listFd_(info[3].As<Napi::Number>().Int32Value()),
        staleStaged_(info[4].ToBoolean()) {
    Napi::Object batch = info[1].As<Napi::Object>();
    files_ = Napi::Persistent(batch);
    Napi::Array finals = batch.Get("finals").As<Napi::Array>();
    Napi::Array data = batch.Get("data").As<Napi::Array>();
    Napi::Array sums = batch.Get("sums").As<Napi::Array>();
    Napi::Uint32Array modes = batch.Get("modes").As<Napi::Uint32Array>();
    uint32_t n = finals.Length();
    if (data.Length() != n || sums.Length() != n || modes.ElementLength() != n)
      throw Napi::TypeError::New(info.Env(), "storeBeneath: finals, data, sums and modes differ in length");
    items_.resize(n);
    for (uint32_t i = 0; i < n; i++) {
      Item& item = items_[i];
      Napi::Buffer<char> bytes = data.Get(i).As<Napi::Buffer<char>>();
      item.final = finals.Get(i).As<Napi::String>().Utf8Value();
      item.sum = sums.Get(i).As<Napi::String>().Utf8Value();
      item.data = bytes.Data();
      item.length = bytes.Length();
      item.mode = static_cast<mode_t>(modes[i]);
    }
    if (info.Length() > 5 && info[5].IsTypedArray()) {
      Napi::Int32Array order = info[5].As<Napi::Int32Array>();
      if (order.ElementLength() < 3) throw Napi::TypeError::New(info.Env(), "storeBeneath: order needs 3 numbers");
      order_ = Napi::Persistent(order);
      state_ = order.Data();
      // Numbered last, once nothing can throw: every number given is a call queued.
      ticket_ = state_[2]++;
    }
  }

  // In three passes a chunk, so the received list takes one write for a chunk, made before
  // any of its files has its name: the files written, the list noted, the names given.
  // Folders are opened once a call. Without replacing, a file is written nameless where it
  // goes (O_TMPFILE) and linked to its name: one entry made a file, none left by a crash;
  // where the file system cannot, through a staged file and a rename.
  void Execute() override {
    if (state_ == nullptr) {
      Store();
      return;
    }
    {
      std::unique_lock<std::mutex> lock(turnMutex);
      turnChanged.wait(lock, [this] { return state_[1] == ticket_; });
    }
    // After a failure, the later calls try nothing: a failed file stops the files after it.
    bool stopped = state_[0] != 0;
    if (!stopped) Store();
    {
      std::lock_guard<std::mutex> lock(turnMutex);
      if (!stopped && Failed()) state_[0] = 1;
      state_[1] = ticket_ + 1;
    }
    turnChanged.notify_all();
  }

 private:
  // Whether this call failed: a file refused, in error, or not what the sender hashed.
  bool Failed() const {
    if (corrupt_ != nullptr) return true;
    for (const Item& item : items_)
      if (item.err != 0 || item.refused) return true;
    return false;
  }

  void Store() {
    // Nothing is written of a batch with a file that is not what the sender hashed.
    for (Item& item : items_) {
      std::string ours = Sha256Hex(item.data, item.length);
      if (ours == item.sum) continue;
      item.sum = ours;
      corrupt_ = &item;
      return;
    }
    for (size_t start = 0; start < items_.size(); start += kChunk) {
      size_t end = std::min(items_.size(), start + kChunk);
      size_t staged = start;
      while (staged < end && Stage(items_[staged])) staged++;
      std::string lines;
      for (size_t i = start; i < staged; i++) {
        const Item& item = items_[i];
        if (item.exists) continue;
        lines += "{\"path\":" + JsonString(item.final) + ",\"sha256\":\"" + item.sum + "\",\"ino\":\"" +
                 std::to_string(item.st.st_ino) + "\",\"size\":" +
                 std::to_string(static_cast<long long>(item.st.st_size)) + ",\"mtime\":\"" + Mtime(item.st) +
                 "\"}\n";
      }
      // Nothing gets its name without its line: a failed write fails the chunk at its first file.
      bool ok = listFd_ < 0 || lines.empty() || Write(items_[start], listFd_, lines.data(), lines.size());
      for (size_t i = start; ok && i < staged; i++) {
        Item& item = items_[i];
        if (!item.exists) ok = Commit(item);
      }
      for (size_t i = start; i < staged; i++) {
        if (items_[i].fd >= 0) close(items_[i].fd);
        items_[i].fd = -1;
      }
      if (!ok || staged < end) break;
    }
    CloseFolders();
  }

 protected:
  Napi::Value Result() override {
    Napi::Env env = Env();
    Napi::Array out = Napi::Array::New(env);
    uint32_t n = 0;
    if (corrupt_ != nullptr) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("corrupt", Napi::String::New(env, corrupt_->sum));
      o.Set("index", Napi::Number::New(env, static_cast<double>(corrupt_ - items_.data())));
      out.Set(n, o);
      return out;
    }
    for (const Item& item : items_) {
      Napi::Object o = Napi::Object::New(env);
      if (item.err != 0) {
        o.Set("error", ErrnoError(env, item.err, item.syscall).Value());
      } else if (item.exists) {
        o.Set("exists", Napi::Boolean::New(env, true));
      } else if (item.refused) {
        Napi::Object r = Napi::Object::New(env);
        r.Set("nlink", Napi::Number::New(env, static_cast<double>(item.st.st_nlink)));
        r.Set("isFile", Napi::Boolean::New(env, S_ISREG(item.st.st_mode)));
        o.Set("refused", r);
      } else if (item.stored) {
        o.Set("ino", Napi::String::New(env, std::to_string(item.st.st_ino)));
        o.Set("size", Napi::Number::New(env, static_cast<double>(item.st.st_size)));
        o.Set("mtime", Napi::String::New(env, Mtime(item.st)));
      } else {
        break;  // not tried: an earlier file failed
      }
      out.Set(n++, o);
    }
    return out;
  }

 private:
  struct Item {
    std::string final, sum;
    const char* data = nullptr;
    size_t length = 0;
    mode_t mode = 0;
    std::string staged;  // made when needed: StagedFolder()
    std::string stagedLeaf, finalLeaf;
    int from = -1, to = -1;  // folders, from folders_
    int fd = -1;             // the nameless file (O_TMPFILE) until it is linked
    struct stat st;
    int err = 0;
    const char* syscall = "";
    bool exists = false, refused = false, stored = false;
  };

  static std::string Mtime(const struct stat& st) {
    return std::to_string(static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec);
  }

  static bool Fail(Item& item, int rc, const char* call) {
    if (rc >= 0) return false;
    item.err = -rc;
    item.syscall = call;
    return true;
  }

  // A descriptor of the folder holding `path` (opened once a batch), and its last name.
  int Folder(const std::string& path, std::string* leaf, const char** call) {
    size_t slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? "" : path.substr(0, slash);
    *leaf = slash == std::string::npos ? path : path.substr(slash + 1);
    *call = "openat2";
    if (!ValidRelative(path)) return -EXDEV;
    auto found = folders_.find(dir);
    if (found != folders_.end()) return found->second;
    int fd = dir.empty() ? dirfd_ : OpenBeneathPath(dirfd_, dir, kDirFlags, 0, call);
    if (fd >= 0) folders_.emplace(dir, fd);
    return fd;
  }

  void CloseFolders() {
    for (auto& [dir, fd] : folders_)
      if (fd != dirfd_) close(fd);
    folders_.clear();
  }

  // Writes the staged file of `item`: true when it is written (or `exists` is set), false
  // with the error or the refusal recorded.
  bool Stage(Item& item) {
    const char* call;
    int to = Folder(item.final, &item.finalLeaf, &call);
    if (Fail(item, to, call)) return false;
    item.to = to;
    struct stat there;
    if (fstatat(to, item.finalLeaf.c_str(), &there, AT_SYMLINK_NOFOLLOW) == 0) {
      // Only a regular file is replaced, and only when asked (Commit checks again).
      if (!S_ISREG(there.st_mode))
        return !Fail(item, S_ISLNK(there.st_mode) ? -ELOOP : S_ISDIR(there.st_mode) ? -EISDIR : -EEXIST, "fstatat");
      if (noReplace_) {
        item.exists = true;
        return true;
      }
    } else if (errno != ENOENT) {
      return !Fail(item, -errno, "fstatat");
    }
    if (noReplace_ && nameless_) {
      int fd = openat(to, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, item.mode);
      if (fd >= 0) {
        item.fd = fd;
        if (staleStaged_ && !StagedFolder(item)) return false;
        return Fill(item, fd);
      }
      // The file system cannot make nameless files (or links to them): staged, below.
      if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) return !Fail(item, -errno, "openat");
      nameless_ = false;
    }
    if (!StagedFolder(item)) return false;
    int from = item.from;
    const int flags = O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
    int fd = OpenComponent(from, item.stagedLeaf.c_str(), flags | O_CREAT | O_EXCL, item.mode);
    if (fd == -EEXIST) {
      // An earlier run's: ours only if it is a regular file with no other link.
      fd = OpenComponent(from, item.stagedLeaf.c_str(), flags, 0);
      if (fd >= 0) {
        int rc = fstat(fd, &item.st) < 0 ? -errno : 0;
        if (rc == 0 && (!S_ISREG(item.st.st_mode) || item.st.st_nlink != 1)) item.refused = true;
        else if (rc == 0 && ftruncate(fd, 0) < 0) rc = -errno;
        if (rc < 0 || item.refused) {
          Fail(item, rc, "ftruncate");
          close(fd);
          return false;
        }
      }
    }
    if (Fail(item, fd, "openat")) return false;
    bool ok = Fill(item, fd);
    if (close(fd) < 0 && ok) ok = !Fail(item, -errno, "close");
    return ok;
  }

  // Writes the item's bytes to `fd`, sets its mode and reads its identity into `st`.
  bool Fill(Item& item, int fd) {
    bool ok = Write(item, fd, item.data, item.length) && !Fail(item, fstat(fd, &item.st) < 0 ? -errno : 0, "fstat");
    // Made with `mode` less the umask: set it exactly when the umask took bits away.
    if (ok && (item.st.st_mode & 07777) != item.mode) {
      ok = !Fail(item, fchmod(fd, item.mode) < 0 ? -errno : 0, "fchmod") &&
           !Fail(item, fstat(fd, &item.st) < 0 ? -errno : 0, "fstat");
    }
    return ok;
  }

  // The staged name of `item` and a descriptor of its folder (item.from): false, with the
  // error recorded, when the folder cannot be opened.
  bool StagedFolder(Item& item) {
    item.staged = std::string(kStagingDir) + "/" + Sha256Hex(("socketkit partial\n" + item.final).data(),
                                                             item.final.size() + 18).substr(0, 40) + ".part";
    const char* call;
    int from = Folder(item.staged, &item.stagedLeaf, &call);
    if (Fail(item, from, call)) return false;
    item.from = from;
    return true;
  }

  // `s` (UTF-8) as a JSON string: quotes, backslashes and control characters escaped.
  static std::string JsonString(const std::string& s) {
    std::string out = "\"";
    for (unsigned char c : s) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += static_cast<char>(c);
      } else if (c < 0x20 || c == 0x7f) {
        char esc[8];
        snprintf(esc, sizeof esc, "\\u%04x", c);
        out += esc;
      } else {
        out += static_cast<char>(c);
      }
    }
    return out + "\"";
  }

  // Gives the nameless file of `item` its name; never replaces. Through /proc when linking
  // by descriptor needs a privilege (CAP_DAC_READ_SEARCH) the process does not have.
  int LinkNameless(Item& item) {
    if (linkat(item.fd, "", item.to, item.finalLeaf.c_str(), AT_EMPTY_PATH) == 0) return 0;
    if (errno != ENOENT && errno != EPERM) return -errno;
    std::string proc = "/proc/self/fd/" + std::to_string(item.fd);
    return linkat(AT_FDCWD, proc.c_str(), item.to, item.finalLeaf.c_str(), AT_SYMLINK_FOLLOW) == 0 ? 0 : -errno;
  }

  // Gives a staged file its name. Without replacing, a file that appeared since Stage looked
  // is found by the rename: then the staged file goes, and a regular file there is
  // `exists` (its line in the list names the staged file, so it is never taken for one
  // socketkit received: the conservative side), anything else the refusal renameBeneath
  // gives.
  bool Commit(Item& item) {
    const char* call = "linkat";
    int rc = item.fd >= 0 ? LinkNameless(item)
                          : RenameLeaf(item.from, item.stagedLeaf.c_str(), item.to, item.finalLeaf.c_str(), noReplace_, &call);
    // A staged file an earlier run left for this name is not needed any more.
    if (item.fd >= 0 && rc == 0 && staleStaged_) unlinkat(item.from, item.stagedLeaf.c_str(), 0);
    if (rc == -EEXIST && noReplace_) {
      if (item.fd < 0) unlinkat(item.from, item.stagedLeaf.c_str(), 0);
      struct stat there;
      if (fstatat(item.to, item.finalLeaf.c_str(), &there, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(there.st_mode)) {
        item.exists = true;
        return true;
      }
      rc = fstatat(item.to, item.finalLeaf.c_str(), &there, AT_SYMLINK_NOFOLLOW) < 0 ? -EEXIST
           : S_ISLNK(there.st_mode)                                                  ? -ELOOP
           : S_ISDIR(there.st_mode)                                                  ? -EISDIR
                                                                                     : -EEXIST;
    }
    if (Fail(item, rc, call)) return false;
    item.stored = true;
    return true;
  }

  // Writes all of [data, data + n) to fd: false (with the error recorded) on failure.
  static bool Write(Item& item, int fd, const char* data, size_t n) {
    while (n > 0) {
      ssize_t w = write(fd, data, n);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return !Fail(item, -errno, "write");
      if (w == 0) return !Fail(item, -EIO, "write");
      data += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  }

  // Files a chunk: the nameless ones stay open until they have their names.
  static constexpr size_t kChunk = 256;
  static constexpr const char* kStagingDir = ".socketkit-partial";
  bool noReplace_;
  int listFd_;
  bool staleStaged_;
  bool nameless_ = true;
  const Item* corrupt_ = nullptr;  // the first file of the batch that is not what was hashed
  Napi::Reference<Napi::Object> files_;
  Napi::Reference<Napi::Int32Array> order_;
  int32_t* state_ = nullptr;  // order_'s numbers: stopped, turn, next number
  int32_t ticket_ = 0;
  static std::mutex turnMutex;
  static std::condition_variable turnChanged;
  std::vector<Item> items_;
  std::map<std::string, int> folders_;
};

std::mutex StoreBeneathCall::turnMutex;
std::condition_variable StoreBeneathCall::turnChanged;

// Files read whole and hashed for a sender of many small files, a pack at a time on the
// thread pool: the event loop sends the last pack meanwhile. Paths are absolute and
// followed as open(2) follows them, as fs.openSync does.

// `readFiles(paths, sizes)`: resolves with { data, sums }: the files' bytes one after
// another in one Buffer, and each file's SHA-256 (64 hex digits); each file must still
// have the size it was listed with. A file that cannot be read rejects with an errno
// Error with `index` (its place in `paths`) and `path`; one that ended early, with the
// code "ESHORT". A file is opened without blocking (a FIFO put where a file was listed
// fails with EAGAIN instead of waiting for a writer).
class ReadFilesCall : public Napi::AsyncWorker {
 public:
  explicit ReadFilesCall(const Napi::CallbackInfo& info)
      : Napi::AsyncWorker(info.Env()), deferred_(Napi::Promise::Deferred::New(info.Env())) {
    Napi::Array paths = info[0].As<Napi::Array>();
    Napi::Array sizes = info[1].As<Napi::Array>();
    uint32_t n = paths.Length();
    if (sizes.Length() != n) throw Napi::TypeError::New(info.Env(), "readFiles: paths and sizes differ in length");
    paths_.reserve(n);
    sizes_.reserve(n);
    for (uint32_t i = 0; i < n; i++) {
      paths_.push_back(paths.Get(i).As<Napi::String>().Utf8Value());
      int64_t size = sizes.Get(i).As<Napi::Number>().Int64Value();
      if (size < 0) throw Napi::TypeError::New(info.Env(), "readFiles: a size is negative");
      sizes_.push_back(static_cast<size_t>(size));
      total_ += static_cast<size_t>(size);
    }
  }

  Napi::Promise Start() {
    Napi::Promise promise = deferred_.Promise();
    Queue();
    return promise;
  }

  void Execute() override {
    data_.resize(total_);
    sums_.resize(64 * paths_.size());
    char* at = data_.data();
    for (size_t i = 0; i < paths_.size(); i++) {
      size_t want = sizes_[i];
      int fd = open(paths_[i].c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
      int err = fd < 0 ? errno : 0;
      call_ = "open";
      size_t got = 0;
      while (err == 0 && got < want) {
        ssize_t r = read(fd, at + got, want - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
          err = errno;
          call_ = "read";
        } else if (r == 0) {
          break;
        } else {
          got += static_cast<size_t>(r);
        }
      }
      if (fd >= 0) close(fd);
      if (err != 0 || got < want) {
        err_ = err;
        failed_ = static_cast<int64_t>(i);
        return;
      }
      Sha256HexInto(at, want, sums_.data() + 64 * i);
      at += want;
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (failed_ >= 0) {
      Napi::Error e = err_ != 0 ? ErrnoError(env, err_, call_) : Napi::Error::New(env, "the file got shorter");
      if (err_ == 0) e.Set("code", Napi::String::New(env, "ESHORT"));
      e.Set("index", Napi::Number::New(env, static_cast<double>(failed_)));
      e.Set("path", Napi::String::New(env, paths_[static_cast<size_t>(failed_)]));
      deferred_.Reject(e.Value());
      return;
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("data", Napi::Buffer<char>::Copy(env, data_.data(), data_.size()));
    Napi::Array sums = Napi::Array::New(env, paths_.size());
    for (size_t i = 0; i < paths_.size(); i++)
      sums.Set(static_cast<uint32_t>(i), Napi::String::New(env, sums_.data() + 64 * i, 64));
    out.Set("sums", sums);
    deferred_.Resolve(out);
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::vector<std::string> paths_;
  std::vector<size_t> sizes_;
  size_t total_ = 0;
  std::vector<char> data_;
  std::string sums_;
  int err_ = 0;
  const char* call_ = "open";
  int64_t failed_ = -1;
};

// Whether [s, s + n) is valid UTF-8 (no overlong forms, surrogates or code points past
// U+10FFFF): what a JavaScript string can carry back to the same bytes.
bool ValidUtf8(const unsigned char* s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned char c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (len == 0 || i + len > n) return false;
    for (size_t k = 1; k < len; k++)
      if ((s[i + k] & 0xc0) != 0x80) return false;
    unsigned char d = s[i + 1];
    if ((c == 0xe0 && d < 0xa0) || (c == 0xed && d > 0x9f) || (c == 0xf0 && d < 0x90) || (c == 0xf4 && d > 0x8f))
      return false;
    i += len;
  }
  return true;
}

// Folders of at least this many names are looked up by two threads.
constexpr size_t kListSplit = 2048;

// `listFolder(dir)`: the names in the folder `dir` (not "." and ".."), sorted by their
// bytes (code point order), and for each, not following a link there, its st_mode and
// st_size (two numbers a name, in a Float64Array `stats`). A name that cannot be looked
// up gets -errno as its mode; one that is not valid UTF-8 (a JavaScript string would not
// give its bytes back) gets -EILSEQ. A folder that cannot be opened or read throws.
Napi::Value ListFolder(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string dir = info[0].As<Napi::String>().Utf8Value();
  int dirfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0) throw ErrnoError(env, errno, "open");
  DIR* d = fdopendir(dirfd);
  if (d == nullptr) {
    int err = errno;
    close(dirfd);
    throw ErrnoError(env, err, "fdopendir");
  }
  struct Entry {
    std::string name;
    double mode, size;
  };
  std::vector<Entry> entries;
  for (;;) {
    errno = 0;
    struct dirent* e = readdir(d);
    if (e == nullptr) {
      if (errno != 0) {
        int err = errno;
        closedir(d);
        throw ErrnoError(env, err, "readdir");
      }
      break;
    }
    const char* name = e->d_name;
    if (name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0))) continue;
    entries.push_back({name, 0, 0});
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.name < b.name; });
  auto look = [dirfd, &entries](size_t from, size_t to) {
    for (size_t i = from; i < to; i++) {
      Entry& entry = entries[i];
      struct stat st;
      if (!ValidUtf8(reinterpret_cast<const unsigned char*>(entry.name.data()), entry.name.size())) {
        entry.mode = -static_cast<double>(EILSEQ);
      } else if (fstatat(dirfd, entry.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
        entry.mode = static_cast<double>(st.st_mode);
        entry.size = static_cast<double>(st.st_size);
      } else {
        entry.mode = -static_cast<double>(errno);
      }
    }
  };
  // A big folder's names are looked up by two threads, half each: a sender lists before
  // it connects, when nothing else runs (10,000 lookups take 12 ms of a core).
  size_t half = entries.size() / 2;
  std::thread other;
  if (entries.size() >= kListSplit) {
    try {
      other = std::thread(look, half, entries.size());
    } catch (const std::system_error&) {
      half = entries.size();  // no thread to be had: all on this one
    }
  } else {
    half = entries.size();
  }
  look(0, half);
  if (other.joinable()) other.join();
  closedir(d);
  Napi::Array names = Napi::Array::New(env, entries.size());
  Napi::Float64Array stats = Napi::Float64Array::New(env, entries.size() * 2);
  for (size_t i = 0; i < entries.size(); i++) {
    names.Set(static_cast<uint32_t>(i), Napi::String::New(env, entries[i].name));
    stats[2 * i] = entries[i].mode;
    stats[2 * i + 1] = entries[i].size;
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("names", names);
  out.Set("stats", stats);
  return out;
}

template <typename Call>
Napi::Value StartBeneath(const Napi::CallbackInfo& info) {
  return (new Call(info))->Start();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("socket", Napi::Function::New(env, Socket));
  exports.Set("bind", Napi::Function::New(env, Bind));
  exports.Set("connect", Napi::Function::New(env, Connect));
  exports.Set("listen", Napi::Function::New(env, Listen));
  exports.Set("accept", Napi::Function::New(env, Accept));
  exports.Set("sendto", Napi::Function::New(env, SendTo));
  exports.Set("recvfrom", Napi::Function::New(env, RecvFrom));
  exports.Set("setsockopt", Napi::Function::New(env, SetSockOpt));
  exports.Set("getsockopt", Napi::Function::New(env, GetSockOpt));
  exports.Set("getsockname", Napi::Function::New(env, GetSockName));
  exports.Set("shutdown", Napi::Function::New(env, Shutdown));
  exports.Set("close", Napi::Function::New(env, Close));
  exports.Set("dup", Napi::Function::New(env, Dup));
  exports.Set("sendFile", Napi::Function::New(env, SendFile));
  exports.Set("Poller", Poller::Define(env));
  exports.Set("poll", Napi::Function::New(env, PollNow));
  exports.Set("recvInto", Napi::Function::New(env, RecvInto));
  exports.Set("sendFrom", Napi::Function::New(env, SendFrom));
  exports.Set("writeFile", Napi::Function::New(env, WriteFile));
  exports.Set("openBeneath", Napi::Function::New(env, StartBeneath<OpenBeneathCall>));
  exports.Set("mkdirsBeneath", Napi::Function::New(env, StartBeneath<MkdirsBeneathCall>));
  exports.Set("renameBeneath", Napi::Function::New(env, StartBeneath<RenameBeneathCall>));
  exports.Set("unlinkBeneath", Napi::Function::New(env, StartBeneath<UnlinkBeneathCall>));
  exports.Set("statBeneath", Napi::Function::New(env, StartBeneath<StatBeneathCall>));
  exports.Set("storeBeneath", Napi::Function::New(env, StartBeneath<StoreBeneathCall>));
  exports.Set("readFiles", Napi::Function::New(env, StartBeneath<ReadFilesCall>));
  exports.Set("listFolder", Napi::Function::New(env, ListFolder));
  Napi::Value reactor = socketkit::DefineReactor(env);
  if (!reactor.IsUndefined()) exports.Set("Reactor", reactor);
  Napi::Object constants = Napi::Object::New(env);
  constants.Set("UV_READABLE", static_cast<int>(UV_READABLE));
  constants.Set("UV_WRITABLE", static_cast<int>(UV_WRITABLE));
  constants.Set("SO_REUSEPORT", SO_REUSEPORT);
  constants.Set("SO_ERROR", SO_ERROR);
  exports.Set("constants", constants);
  return exports;
}

}  // namespace

NODE_API_MODULE(socketkit, Init)
