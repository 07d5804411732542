// socketkit's native I/O reactor: the addon owns non-blocking sockets on one epoll
// instance, which one libuv poll handle watches. On each wake-up it reads every ready
// socket into buffers it reuses, accepts what listeners have waiting, takes datagrams with
// recvmmsg (a Unix datagram socket's with one recvmsg each, so a long one comes whole),
// and hands JavaScript the whole lot in one call: a table of records (an
// Int32Array) and one new Buffer holding every byte read. Writes go straight to the kernel
// from the calling JavaScript (send, sendto, sendmmsg) and say how much it took.
//
// JavaScript (src/native/reactor.ts) picks a small integer id for each socket and owns its
// descriptor: the reactor never closes one, except the accepted descriptors it hands over
// (they are JavaScript's from the record on) and, when the Node.js environment ends (a
// worker stops), those still registered. The order for closing a registered socket is
// remove(id), then close(fd): epoll forgets a descriptor only when its open file goes, and
// until remove() the reactor reads and writes the descriptor number it was given, which
// the system may give to another file once it is closed. A registration whose descriptor was
// closed first while a dup keeps the socket open cannot be taken out of epoll any more; the
// first time it reports, the reactor replaces its epoll instance with one holding only what
// it knows (each registration is tagged with a generation, so a stale one is recognised
// even under a reused id).
//
// Level-triggered, not edge-triggered, for three reasons. A socket read once and left with
// bytes (the per-socket bound) is reported again by the next epoll_wait with no list of our
// own to keep. A read that returns fewer bytes than asked has emptied the queue, so no
// second read is spent learning EAGAIN, which edge-triggering needs for every socket on
// every wake-up. And pausing a socket is just taking EPOLLIN out of its interest; its
// bytes show again when it is put back. libuv watches the epoll descriptor level-triggered
// too, so a wake-up that left work (bounds reached) is followed by another on the next
// loop iteration, after timers and other handles had their turn.
//
// Nothing a peer does can stop the loop or crash the process: a stream's reset or error becomes
// an ERROR record (the socket is then no longer watched), a hang-up or an error the kernel
// keeps reporting is never left in the interest set once it has been delivered (so it
// cannot wake the loop forever), and a listener out of descriptors stops accepting until
// JavaScript asks again.
#ifdef __linux__

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common.h"

namespace socketkit {
namespace {

// What a registered socket is (add's `kind`).
constexpr int kStream = 1;    // a connected TCP or Unix stream socket
constexpr int kListener = 2;  // a listening socket
constexpr int kDatagram = 3;  // a UDP (or Unix datagram) socket

// add's `flags`.
constexpr int kFlagReading = 1;     // read (accept, receive) from the start
constexpr int kFlagRef = 2;         // keeps the event loop alive while registered
constexpr int kFlagConnecting = 4;  // a stream whose connect() is under way: CONNECT when it ends
constexpr int kFlagNoDelay = 8;     // a listener whose accepted sockets get TCP_NODELAY
// A datagram socket whose datagrams may be longer than kSlot (a Unix one: up to twice
// net.core.wmem_max): each is read whole, one recvmsg a datagram, into the batch's bytes.
constexpr int kFlagWhole = 16;

// Records of a batch: kStride int32 each, [kind, id, a, b, c, d].
constexpr int kEvData = 1;      // a = offset in data, b = length
constexpr int kEvEnd = 2;       // the peer ended the stream (read returned 0): once
constexpr int kEvError = 3;     // a = index in errors
constexpr int kEvWritable = 4;  // what wantWritable asked for (then no longer watched)
constexpr int kEvConnect = 5;   // a = index in errors, or -1 when connected
constexpr int kEvAccept = 6;    // a = new descriptor, c = address offset in data, d = its length
constexpr int kEvDatagram = 7;  // a = offset, b = length, c = address offset, d = its length
constexpr int kEvReadable = 8;  // what wantReadable asked for (then no longer watched): nothing is read
constexpr int kStride = 6;

// Bounds of one wake-up. A stream gives at most kStreamRead bytes, a datagram socket at
// most kMaxMessages datagrams (each up to kSlot bytes, or whole with kFlagWhole), a
// listener at most kAcceptBound connections. Once a batch
// holds kBatchBytes, the sockets still to read are served first on the next wake-up.
constexpr size_t kStreamRead = 64 * 1024;
constexpr size_t kBatchBytes = 1024 * 1024;
// A stream read of at least kOwnRead bytes is handed over in the block it was read into, a
// kStreamRead-byte Buffer that JavaScript gave the reactor (feed), with no copy; a shorter
// one is copied into the batch's bytes and the block used again. JavaScript's own Buffers,
// not memory of the addon's: V8 frees them in its young-generation collections, where
// Buffers with finalizers would wait for full ones.
constexpr size_t kOwnRead = kStreamRead / 2;
// The size of the slab that small batches' bytes are handed over in (Node.js's Buffer pool's).
constexpr size_t kSlab = 8 * 1024;
constexpr int kMaxMessages = 32;
constexpr size_t kSlot = 64 * 1024;
constexpr int kAcceptBound = 64;
constexpr int kMaxEvents = 256;
constexpr uint32_t kMaxId = 1u << 20;  // ids index a table: 1M sockets, at most 32 MiB of it
constexpr size_t kAddrRoom = sizeof(sockaddr_storage);
// Room for the soft bound plus the most one socket can add past it (malloc'd, so pages
// never written to cost no memory).
constexpr size_t kStaging = kBatchBytes + std::max({kStreamRead, kMaxMessages * (kSlot + kAddrRoom),
                                                    kAcceptBound * kAddrRoom});

struct Entry {
  int fd = -1;  // -1: the id is free
  int kind = 0;
  bool reading = false;
  bool writeWanted = false;
  bool readWanted = false;  // one EV_READABLE, the bytes left to whoever reads the descriptor
  bool connecting = false;
  bool keepAlive = false;
  bool noDelay = false;
  bool whole = false;   // datagrams read whole, however long (kFlagWhole)
  bool eof = false;     // END delivered: no more reading
  bool failed = false;  // a fatal error delivered: nothing more is watched
  bool inEpoll = false;
  bool notSocket = false;  // a stream that recv refuses (ENOTSOCK): read instead
  uint32_t mask = 0;  // the interest epoll has
  uint32_t wake = 0;  // the wake-up that last served it
  uint32_t gen = 0;   // which registration under this id (epoll's data holds it beside the id)
};

// The poll handle and the environment's cleanup hook, which outlive the Reactor until
// libuv has closed the handle.
struct Handle {
  uv_poll_t poll;
  napi_async_cleanup_hook_handle hook = nullptr;
  class Reactor* owner = nullptr;
};

class Reactor : public Napi::ObjectWrap<Reactor> {
 public:
  static Napi::Function Define(Napi::Env env) {
    Napi::Object c = Napi::Object::New(env);
    const std::pair<const char*, double> values[] = {
        {"KIND_STREAM", kStream},
        {"KIND_LISTENER", kListener},
        {"KIND_DATAGRAM", kDatagram},
        {"FLAG_READING", kFlagReading},
        {"FLAG_REF", kFlagRef},
        {"FLAG_CONNECTING", kFlagConnecting},
        {"FLAG_NODELAY", kFlagNoDelay},
        {"FLAG_WHOLE", kFlagWhole},
        {"EV_DATA", kEvData},
        {"EV_END", kEvEnd},
        {"EV_ERROR", kEvError},
        {"EV_WRITABLE", kEvWritable},
        {"EV_CONNECT", kEvConnect},
        {"EV_ACCEPT", kEvAccept},
        {"EV_DATAGRAM", kEvDatagram},
        {"EV_READABLE", kEvReadable},
        {"STRIDE", kStride},
        {"STREAM_READ", static_cast<double>(kStreamRead)},
        {"SLAB", static_cast<double>(kSlab)},
        {"BATCH_BYTES", static_cast<double>(kBatchBytes)},
        {"MAX_MESSAGES", kMaxMessages},
        {"MAX_DATAGRAM", static_cast<double>(kSlot)},
        {"ACCEPT_BOUND", kAcceptBound},
        {"MAX_ID", kMaxId - 1},
    };
    for (const auto& [name, value] : values) c.Set(name, Napi::Number::New(env, value));
    return DefineClass(env, "Reactor",
                       {InstanceMethod("add", &Reactor::Add), InstanceMethod("remove", &Reactor::Remove),
                        InstanceMethod("setReading", &Reactor::SetReading),
                        InstanceMethod("wantWritable", &Reactor::WantWritable),
                        InstanceMethod("wantReadable", &Reactor::WantReadable),
                        InstanceMethod("setKeepAlive", &Reactor::SetKeepAlive),
                        InstanceMethod("write", &Reactor::Write), InstanceMethod("writeEach", &Reactor::WriteEach),
                        InstanceMethod("sendto", &Reactor::SendTo),
                        InstanceMethod("sendmmsg", &Reactor::SendMmsg), InstanceMethod("close", &Reactor::Close),
                        InstanceMethod("stats", &Reactor::Stats), InstanceMethod("feed", &Reactor::Feed),
                        StaticValue("constants", c), StaticMethod("encodeAddress", &Reactor::EncodeAddress),
                        StaticMethod("decodeAddress", &Reactor::DecodeAddress)});
  }

  // new Reactor(onBatch): onBatch(events, count, data, errors) on each wake-up with records.
  explicit Reactor(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Reactor>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsFunction()) throw Napi::TypeError::New(env, "Reactor needs a batch callback");
    callback_ = Napi::Persistent(info[0].As<Napi::Function>());
    context_ = std::make_unique<Napi::AsyncContext>(env, "socketkit.Reactor");
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0) throw ErrnoError(env, errno, "epoll_create1");
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    Handle* h = new Handle;
    int rc = uv_poll_init(loop, &h->poll, epfd_);
    if (rc < 0) {
      delete h;
      close(epfd_);
      throw ErrnoError(env, -rc, "uv_poll_init");
    }
    h->owner = this;
    h->poll.data = h;
    rc = uv_poll_start(&h->poll, UV_READABLE, OnPoll);
    if (rc < 0) {
      handle_ = h;
      Shutdown(false);
      throw ErrnoError(env, -rc, "uv_poll_start");
    }
    // Nothing registered yet keeps the loop alive.
    uv_unref(reinterpret_cast<uv_handle_t*>(&h->poll));
    handle_ = h;
    napi_add_async_cleanup_hook(env, OnEnvCleanup, h, &h->hook);
    staging_.reset(new char[kStaging]);
    records_.reserve(kStride * 64);
    // The calls made once or more per message, as functions of the instance's own that
    // carry the Reactor as their data: a method of the class would first look the Reactor
    // up in its object (napi_unwrap), a tenth of what such a call costs. Each function
    // holds the object (non-enumerable `owner`), so the Reactor outlives it.
    Napi::Object self = info.This().As<Napi::Object>();
    const std::pair<const char*, Napi::Function::Callback> direct[] = {
        {"write", Direct<&Reactor::Write>},
        {"sendto", Direct<&Reactor::SendTo>},
        {"setReading", Direct<&Reactor::SetReading>},
        {"wantWritable", Direct<&Reactor::WantWritable>},
    };
    for (const auto& [name, call] : direct) {
      Napi::Function fn = Napi::Function::New(env, call, name, this);
      fn.DefineProperty(Napi::PropertyDescriptor::Value("owner", self, napi_default));
      self.DefineProperty(Napi::PropertyDescriptor::Value(name, fn, napi_default));
    }
  }

  ~Reactor() override { Shutdown(false); }

 private:
  template <Napi::Value (Reactor::*M)(const Napi::CallbackInfo&)>
  static Napi::Value Direct(const Napi::CallbackInfo& info) {
    return (static_cast<Reactor*>(info.Data())->*M)(info);
  }

  // --- the wake-up ---

  static void OnPoll(uv_poll_t* poll, int status, int events) {
    (void)status;  // an error on the epoll descriptor itself shows in epoll_wait
    (void)events;
    Handle* h = static_cast<Handle*>(poll->data);
    if (h != nullptr && h->owner != nullptr) h->owner->Wake();
  }

  void Wake() {
    wake_++;
    stats_.wakes++;
    // Sockets the last wake-up had no room for go first.
    if (!carry_.empty()) {
      carried_.swap(carry_);
      carry_.clear();
      for (uint32_t id : carried_) {
        if (id < entries_.size() && entries_[id].fd >= 0 && entries_[id].wake != wake_) Serve(id, EPOLLIN);
      }
      carried_.clear();
    }
    epoll_event ready[kMaxEvents];
    int n;
    do {
      n = epoll_wait(epfd_, ready, kMaxEvents, 0);
    } while (n < 0 && errno == EINTR);
    bool stale = false;
    for (int i = 0; i < n; i++) {
      uint32_t id = static_cast<uint32_t>(ready[i].data.u64);
      uint32_t gen = static_cast<uint32_t>(ready[i].data.u64 >> 32);
      if (id >= entries_.size() || !entries_[id].inEpoll || entries_[id].gen != gen) {
        stale = true;
        continue;
      }
      if (entries_[id].wake != wake_) Serve(id, ready[i].events);
    }
    // A registration the reactor let go of still reports: its descriptor was closed before
    // remove() while another descriptor keeps the socket open (a dup), so epoll_ctl could no
    // longer take it out. Level-triggered, it would wake the loop for ever.
    if (stale) Rebuild();
    Deliver();
  }

  // A new epoll instance holding just the registrations the reactor knows, in place of the
  // old one (same descriptor number, so the poll handle only has to be started again).
  void Rebuild() {
    int fresh = epoll_create1(EPOLL_CLOEXEC);
    if (fresh < 0) return;
    for (uint32_t id = 0; id < entries_.size(); id++) {
      Entry& e = entries_[id];
      if (!e.inEpoll) continue;
      epoll_event ev;
      ev.events = e.mask;
      ev.data.u64 = (static_cast<uint64_t>(e.gen) << 32) | id;
      if (epoll_ctl(fresh, EPOLL_CTL_ADD, e.fd, &ev) < 0) {
        e.inEpoll = false;
        e.mask = 0;
        e.failed = true;
        Record(kEvError, id, AddError(errno, "epoll_ctl"));
      }
    }
    if (dup3(fresh, epfd_, O_CLOEXEC) < 0) {
      close(fresh);
      return;
    }
    close(fresh);
    uv_poll_stop(&handle_->poll);
    uv_poll_start(&handle_->poll, UV_READABLE, OnPoll);
    stats_.rebuilds++;
  }

  void Serve(uint32_t id, uint32_t events) {
    Entry& e = entries_[id];
    e.wake = wake_;
    if (e.failed) return;
    if (e.connecting) {
      if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(e.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
        e.connecting = false;
        e.failed = err != 0;
        Record(kEvConnect, id, err != 0 ? AddError(err, "connect") : -1);
        Fix(id, e);
      }
      return;
    }
    // A hang-up or an error wakes a writer too: its next write reports what happened.
    if (e.writeWanted && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
      e.writeWanted = false;
      Record(kEvWritable, id);
    }
    if (e.readWanted && (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))) {
      e.readWanted = false;
      Record(kEvReadable, id);
    }
    if (e.reading && !e.eof && (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))) {
      if (used_ + owned_bytes_ >= kBatchBytes) {
        carry_.push_back(id);
      } else if (e.kind == kListener) {
        AcceptSome(id, e);
      } else if (e.kind == kStream) {
        ReadStream(id, e, events);
      } else if (e.whole) {
        ReadWhole(id, e, events);
      } else {
        ReadDatagrams(id, e, events);
      }
    }
    Fix(id, e);
  }

  void ReadStream(uint32_t id, Entry& e, uint32_t events) {
    size_t room = kStreamRead;
    // One read, unless the peer has hung up and the read was short: then a second one sees
    // the end of the stream in this batch rather than on the next wake-up.
    for (int tries = 0; tries < 2; tries++) {
      // Into a block when there is one (none fed yet: straight into staging_).
      char* into = blocks_.empty() ? staging_.get() + used_ : blocks_.back().second;
      ssize_t n;
      // recv, not read: a socket's read goes through the VFS layer first (its file
      // position lock and checks), which costs a tenth of the call for small reads.
      do {
        n = e.notSocket ? read(e.fd, into, room) : recv(e.fd, into, room, 0);
      } while (n < 0 && errno == EINTR);
      if (n < 0 && errno == ENOTSOCK) {
        e.notSocket = true;  // a pipe, say: read it is
        tries--;
        continue;
      }
      if (n > 0) {
        if (blocks_.empty()) {
          AddData(id, static_cast<size_t>(n));
        } else if (static_cast<size_t>(n) >= kOwnRead) {
          owned_.push_back(blocks_.back().first);
          blocks_.pop_back();
          owned_bytes_ += static_cast<size_t>(n);
          Record(kEvData, id, 0, static_cast<int32_t>(n), static_cast<int32_t>(owned_.size()));
        } else {
          memcpy(staging_.get() + used_, into, static_cast<size_t>(n));
          AddData(id, static_cast<size_t>(n));
        }
        room -= static_cast<size_t>(n);
        if (room == 0 || !(events & (EPOLLRDHUP | EPOLLHUP))) return;
        continue;
      }
      if (n == 0 || (WouldBlock(errno) && tries == 0 && (events & EPOLLHUP))) {
        // A hang-up with nothing to read is an end too (never reported again).
        e.eof = true;
        Record(kEvEnd, id);
        return;
      }
      if (!WouldBlock(errno)) {
        e.failed = true;
        Record(kEvError, id, AddError(errno, "read"));
      }
      return;
    }
  }

  // Bytes just read to staging_ + used_: a DATA record, or the last one grown when it is
  // this socket's and ends where they begin.
  void AddData(uint32_t id, size_t n) {
    size_t r = records_.size();
    if (r >= kStride && records_[r - kStride] == kEvData && records_[r - kStride + 1] == static_cast<int32_t>(id) &&
        static_cast<size_t>(records_[r - kStride + 2] + records_[r - kStride + 3]) == used_) {
      records_[r - kStride + 3] += static_cast<int32_t>(n);
    } else {
      Record(kEvData, id, static_cast<int32_t>(used_), static_cast<int32_t>(n));
    }
    used_ += n;
  }

  static bool TransientAcceptError(int err) {
    // accept(2): Linux passes errors of the pending connection on (retry as for EAGAIN);
    // a firewall may refuse one; a connection may be aborted before it is taken.
    switch (err) {
      case ECONNABORTED:
      case EPROTO:
      case ENETDOWN:
      case ENOPROTOOPT:
      case EHOSTDOWN:
      case ENONET:
      case EHOSTUNREACH:
      case EOPNOTSUPP:
      case ENETUNREACH:
      case EPERM:
      case ETIMEDOUT:
        return true;
      default:
        return false;
    }
  }

  void AcceptSome(uint32_t id, Entry& e) {
    for (int k = 0; k < kAcceptBound; k++) {
      sockaddr_storage ss;
      socklen_t len = sizeof(ss);
      int fd = accept4(e.fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        int err = errno;
        if (err == EINTR || TransientAcceptError(err)) continue;
        if (WouldBlock(err)) return;
        // Out of descriptors or memory: a level-triggered listener would wake the loop for
        // ever, so it stops accepting until JavaScript resumes it (setReading).
        e.reading = false;
        Record(kEvError, id, AddError(err, "accept"));
        return;
      }
      if (e.noDelay) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));  // not TCP (Unix): no matter
      }
      size_t at = used_;
      size_t alen = std::min<size_t>(len, sizeof(ss));
      memcpy(staging_.get() + used_, &ss, alen);
      used_ += alen;
      Record(kEvAccept, id, fd, 0, static_cast<int32_t>(at), static_cast<int32_t>(alen));
    }
  }

  void ReadDatagrams(uint32_t id, Entry& e, uint32_t events) {
    if (slots_ == nullptr) {
      slots_.reset(new char[kMaxMessages * kSlot]);
      for (int i = 0; i < kMaxMessages; i++) {
        iov_[i].iov_base = slots_.get() + i * kSlot;
        iov_[i].iov_len = kSlot;
      }
    }
    for (int i = 0; i < kMaxMessages; i++) {
      msghdr& m = msgs_[i].msg_hdr;
      memset(&m, 0, sizeof(m));
      m.msg_iov = &iov_[i];
      m.msg_iovlen = 1;
      m.msg_name = &names_[i];
      m.msg_namelen = sizeof(names_[i]);
    }
    int n;
    do {
      n = recvmmsg(e.fd, msgs_, kMaxMessages, MSG_DONTWAIT, nullptr);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (!WouldBlock(errno)) {
        // An ICMP error on a connected socket, say: reported, and the socket goes on.
        Record(kEvError, id, AddError(errno, "recvmmsg"));
      } else if (events & EPOLLHUP) {
        // Shut down both ways: nothing will come again, and the hang-up would be reported
        // for ever.
        e.eof = true;
        Record(kEvEnd, id);
      }
      return;
    }
    for (int i = 0; i < n; i++) {
      size_t len = std::min<size_t>(msgs_[i].msg_len, kSlot);
      size_t at = used_;
      memcpy(staging_.get() + used_, slots_.get() + i * kSlot, len);
      used_ += len;
      size_t addrAt = used_;
      size_t alen = std::min<size_t>(msgs_[i].msg_hdr.msg_namelen, sizeof(sockaddr_storage));
      memcpy(staging_.get() + used_, &names_[i], alen);
      used_ += alen;
      Record(kEvDatagram, id, static_cast<int32_t>(at), static_cast<int32_t>(len), static_cast<int32_t>(addrAt),
             static_cast<int32_t>(alen));
    }
  }

  // A Unix datagram socket's datagrams, each whole: recvmmsg's slots would cut one longer
  // than kSlot, and what a slot cut is lost. One recvmsg a datagram, its first kSlot bytes
  // straight into staging_, the rest into spill_ (room for the longest datagram the system
  // lets a sender make without privileges) and then after them. Ends when the batch holds
  // kBatchBytes: what is left is reported again on the next wake-up (level-triggered).
  void ReadWhole(uint32_t id, Entry& e, uint32_t events) {
    if (spill_ == nullptr) {
      spillSize_ = SpillSize();
      spill_.reset(new char[spillSize_]);  // malloc'd: pages never written to cost no memory
    }
    for (int k = 0; k < kMaxMessages && used_ < kBatchBytes; k++) {
      Room(kSlot + kAddrRoom);
      sockaddr_storage ss;
      iovec iov[2] = {{staging_.get() + used_, kSlot}, {spill_.get(), spillSize_}};
      msghdr m;
      memset(&m, 0, sizeof(m));
      m.msg_name = &ss;
      m.msg_namelen = sizeof(ss);
      m.msg_iov = iov;
      m.msg_iovlen = 2;
      ssize_t n;
      do {
        n = recvmsg(e.fd, &m, MSG_DONTWAIT);
      } while (n < 0 && errno == EINTR);
      if (n < 0) {
        if (!WouldBlock(errno)) {
          Record(kEvError, id, AddError(errno, "recvmsg"));
        } else if (k == 0 && (events & (EPOLLRDHUP | EPOLLHUP))) {
          // Shut down for receiving and empty: the kernel says readable for ever and
          // recvmsg would block (as Python's recv does), so it is watched no more.
          e.eof = true;
          Record(kEvEnd, id);
        }
        return;
      }
      size_t len = static_cast<size_t>(n);
      if (len > kSlot) {
        Room(len + kAddrRoom, kSlot);  // keeping the datagram's first kSlot bytes, read already
        memcpy(staging_.get() + used_ + kSlot, spill_.get(), len - kSlot);
      }
      size_t at = used_;
      used_ += len;
      size_t addrAt = used_;
      size_t alen = std::min<size_t>(m.msg_namelen, sizeof(ss));
      memcpy(staging_.get() + used_, &ss, alen);
      used_ += alen;
      Record(kEvDatagram, id, static_cast<int32_t>(at), static_cast<int32_t>(len), static_cast<int32_t>(addrAt),
             static_cast<int32_t>(alen));
      // Longer than even spill_ (a sender with SO_SNDBUFFORCE): cut, and said, never silently.
      if (m.msg_flags & MSG_TRUNC) Record(kEvError, id, AddError(EMSGSIZE, "recvmsg"));
    }
  }

  // Bytes for spill_: twice net.core.wmem_max (SO_SNDBUF's most, doubled as the kernel
  // does), the longest datagram an unprivileged sender can make; 4 MiB if it cannot be read.
  static size_t SpillSize() {
    size_t most = 2 * 1024 * 1024;
    FILE* f = fopen("/proc/sys/net/core/wmem_max", "re");
    if (f != nullptr) {
      unsigned long v = 0;
      if (fscanf(f, "%lu", &v) == 1 && v > 0) most = static_cast<size_t>(v);
      fclose(f);
    }
    return std::max<size_t>(2 * most, kSlot);
  }

  // Makes room in staging_ for `need` more bytes after used_, keeping the `pending` bytes
  // already written after used_ (it grows for a long datagram; Deliver gives the memory back).
  void Room(size_t need, size_t pending = 0) {
    if (used_ + need <= stagingSize_) return;
    size_t size = std::max(used_ + need, 2 * stagingSize_);
    std::unique_ptr<char[]> grown(new char[size]);
    memcpy(grown.get(), staging_.get(), used_ + pending);
    staging_ = std::move(grown);
    stagingSize_ = size;
  }

  void Record(int32_t kind, uint32_t id, int32_t a = 0, int32_t b = 0, int32_t c = 0, int32_t d = 0) {
    records_.insert(records_.end(), {kind, static_cast<int32_t>(id), a, b, c, d});
  }

  int32_t AddError(int err, const char* syscall) {
    errors_.push_back({err, syscall});
    return static_cast<int32_t>(errors_.size() - 1);
  }

  // Brings the epoll interest in line with the entry after a wake-up served it.
  void Fix(uint32_t id, Entry& e) {
    int err = Update(id, e);
    if (err == 0) return;
    // The descriptor cannot be watched any more (closed before remove(), say): said once.
    e.failed = true;
    Record(kEvError, id, AddError(err, "epoll_ctl"));
    Update(id, e);
  }

  static constexpr size_t kNoRoom = static_cast<size_t>(-1);

  // Where `n` bytes (at most kSlab) go in the slab, 8-aligned, a new slab made when the
  // current one has no room; kNoRoom when no Buffer could be made.
  size_t SlabRoom(Napi::Env env, size_t n) {
    size_t at = (slabUsed_ + 7) & ~static_cast<size_t>(7);
    if (slab_ == nullptr || at + n > kSlab) {
      void* mem;
      napi_value buf;
      if (napi_create_buffer(env, kSlab, &mem, &buf) != napi_ok) return kNoRoom;
      if (slab_ != nullptr) napi_delete_reference(env, slab_);
      napi_create_reference(env, buf, 1, &slab_);
      slabMem_ = static_cast<char*>(mem);
      slabCount_++;
      at = 0;
    }
    slabUsed_ = at + n;
    return at;
  }

  napi_value SlabValue(Napi::Env env) {
    napi_value buf;
    napi_get_reference_value(env, slab_, &buf);
    return buf;
  }

  // Moves the batch's small stream reads (at most half a slab each) to slabs, rewriting
  // their records (a: offset in the slab, d: 1 + the slab's index in the list returned);
  // sets allSlabbed_ when no record is left pointing into the batch's bytes.
  Napi::Value SlabSmallReads(Napi::Env env) {
    allSlabbed_ = true;
    Napi::Array list;
    uint32_t listed = 0;
    uint64_t listedSlab = 0;
    for (size_t r = 0; r < records_.size(); r += kStride) {
      int32_t* rec = &records_[r];
      int32_t kind = rec[0];
      if (kind == kEvData && rec[4] == 0 && static_cast<size_t>(rec[3]) * 2 <= kSlab) {
        size_t n = static_cast<size_t>(rec[3]);
        size_t at = SlabRoom(env, n);
        if (at != kNoRoom) {
          memcpy(slabMem_ + at, staging_.get() + rec[2], n);
          if (listed == 0 || listedSlab != slabCount_) {
            if (listed == 0) list = Napi::Array::New(env);
            list.Set(listed++, Napi::Value(env, SlabValue(env)));
            listedSlab = slabCount_;
          }
          rec[2] = static_cast<int32_t>(at);
          rec[5] = static_cast<int32_t>(listed);
          continue;
        }
      }
      if (kind == kEvData ? rec[4] == 0 : (kind == kEvAccept || kind == kEvDatagram)) allSlabbed_ = false;
    }
    if (listed == 0) return env.Undefined();
    return list;
  }

  // The batch to JavaScript: the records, the bytes (copied once, into a Buffer of their
  // own, so nothing JavaScript keeps shares memory with staging_), the errors.
  void Deliver() {
    size_t words = records_.size();
    if (words == 0) return;
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (events_.IsEmpty() || eventsLength_ < words) {
      eventsLength_ = std::max(words, std::max<size_t>(eventsLength_ * 2, kStride * 256));
      events_ = Napi::Persistent(Napi::Int32Array::New(env, eventsLength_));
    }
    Napi::Int32Array events = events_.Value();
    Napi::Value data = env.Null();
    size_t base = 0;
    Napi::Value slabs = env.Undefined();
    allSlabbed_ = false;
    if (used_ > 0 && used_ <= kSlab) {
      // A small batch goes after the last in the slab, a Buffer of kSlab bytes shared by
      // the batches until it is full: no Buffer made per batch, and a view kept holds at
      // most kSlab bytes, as a copy from Node.js's own Buffer pool does.
      size_t at = SlabRoom(env, used_);
      if (at != kNoRoom) {
        memcpy(slabMem_ + at, staging_.get(), used_);
        base = at;
        data = Napi::Value(env, SlabValue(env));
      }
    } else if (used_ > kSlab) {
      // A larger batch (many sockets with a little each, as a server of many connections
      // gets): each small stream read goes to the slab on its own (record's d: 1 + the
      // index of its slab in `slabs`, a its offset there), so that a view of a few bytes
      // holds no more than a slab, not the whole batch, and the socket need not copy it
      // out. What else the batch holds (large reads, datagrams, addresses) stays in `data`.
      slabs = SlabSmallReads(env);
    }
    if (used_ > 0 && data.IsNull() && !allSlabbed_) {
      // Buffer::Copy, not a new ArrayBuffer: V8 would zero the ArrayBuffer's memory first.
      data = Napi::Buffer<char>::Copy(env, staging_.get(), used_);
      base = 0;
    }
    memcpy(events.Data(), records_.data(), words * sizeof(int32_t));
    Napi::Value owned = env.Undefined();
    if (!owned_.empty()) {
      Napi::Array list = Napi::Array::New(env, owned_.size());
      for (size_t i = 0; i < owned_.size(); i++) {
        napi_value block;
        napi_get_reference_value(env, owned_[i], &block);
        napi_delete_reference(env, owned_[i]);
        list.Set(static_cast<uint32_t>(i), Napi::Value(env, block));
      }
      owned = list;
      owned_.clear();
      owned_bytes_ = 0;
    }
    Napi::Value errors = env.Undefined();
    if (!errors_.empty()) {
      Napi::Array list = Napi::Array::New(env, errors_.size());
      for (size_t i = 0; i < errors_.size(); i++) {
        list.Set(static_cast<uint32_t>(i), ErrnoError(env, errors_[i].first, errors_[i].second).Value());
      }
      errors = list;
    }
    stats_.batches++;
    stats_.records += static_cast<double>(words / kStride);
    records_.clear();
    errors_.clear();
    used_ = 0;
    if (stagingSize_ > kStaging) {  // grown for a long datagram: back to its usual size
      staging_.reset(new char[kStaging]);
      stagingSize_ = kStaging;
    }
    try {
      callback_.MakeCallback(
          Value(),
          {events, Napi::Number::New(env, static_cast<double>(words / kStride)), data, errors, owned,
           Napi::Number::New(env, static_cast<double>(base)), slabs},
          *context_);
    } catch (const Napi::Error& e) {
      // Thrown by the callback: to 'uncaughtException', as an error in any I/O callback.
      napi_fatal_exception(env, e.Value());
    }
  }

  // --- registration ---

  // The interest a socket needs now. Empty means "not in epoll at all": a socket left there
  // with no events would still report hang-ups and errors, level-triggered, for ever.
  static uint32_t Interest(const Entry& e) {
    if (e.failed) return 0;
    if (e.connecting) return EPOLLOUT;
    uint32_t m = 0;
    uint32_t rdhup = e.kind == kStream || e.whole ? static_cast<uint32_t>(EPOLLRDHUP) : 0u;
    if (e.reading && !e.eof) m |= EPOLLIN | rdhup;
    if (e.writeWanted) m |= EPOLLOUT;
    if (e.readWanted) m |= EPOLLIN | rdhup;
    return m;
  }

  // 0, or the errno of epoll_ctl.
  int Update(uint32_t id, Entry& e) {
    uint32_t want = Interest(e);
    if (e.inEpoll ? want == e.mask : want == 0) return 0;
    epoll_event ev;
    ev.events = want;
    ev.data.u64 = (static_cast<uint64_t>(e.gen) << 32) | id;
    int op = !e.inEpoll ? EPOLL_CTL_ADD : want == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
    if (epoll_ctl(epfd_, op, e.fd, &ev) < 0) {
      int err = errno;
      if (op == EPOLL_CTL_DEL) {  // already gone with its descriptor: nothing is watched
        e.inEpoll = false;
        e.mask = 0;
        return 0;
      }
      return err;
    }
    e.inEpoll = want != 0;
    e.mask = want;
    return 0;
  }

  void Ensure(Napi::Env env) {
    if (handle_ == nullptr) throw ErrnoError(env, EBADF, "reactor (closed)");
  }

  uint32_t Id(const Napi::CallbackInfo& info) {
    double v = info[0].As<Napi::Number>().DoubleValue();
    if (!(v >= 0 && v < kMaxId) || v != static_cast<double>(static_cast<uint32_t>(v))) {
      throw Napi::RangeError::New(info.Env(), "id must be an integer in 0-" + std::to_string(kMaxId - 1));
    }
    return static_cast<uint32_t>(v);
  }

  // The registered socket `info[0]`, or an EBADF error naming `call`.
  Entry& Registered(const Napi::CallbackInfo& info, const char* call) {
    Ensure(info.Env());
    uint32_t id = Id(info);
    if (id >= entries_.size() || entries_[id].fd < 0) throw ErrnoError(info.Env(), EBADF, call);
    return entries_[id];
  }

  void KeepAlive(Entry& e, bool on) {
    if (e.keepAlive == on) return;
    e.keepAlive = on;
    refs_ += on ? 1 : -1;
    uv_handle_t* h = reinterpret_cast<uv_handle_t*>(&handle_->poll);
    if (refs_ > 0) uv_ref(h);
    else uv_unref(h);
  }

  // add(id, fd, kind, flags)
  Napi::Value Add(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Ensure(env);
    uint32_t id = Id(info);
    int fd = info[1].As<Napi::Number>().Int32Value();
    int kind = info[2].As<Napi::Number>().Int32Value();
    int flags = info[3].As<Napi::Number>().Int32Value();
    if (kind != kStream && kind != kListener && kind != kDatagram) throw Napi::RangeError::New(env, "unknown kind");
    if (fd < 0 || fcntl(fd, F_GETFD) < 0) throw ErrnoError(env, EBADF, "reactor.add");
    if (id >= entries_.size()) {
      entries_.resize(std::min<size_t>(kMaxId, std::max<size_t>(id + 1, entries_.size() * 2)));
    }
    Entry& e = entries_[id];
    if (e.fd >= 0) throw ErrnoError(env, EEXIST, "reactor.add");
    e = Entry();
    e.fd = fd;
    e.gen = ++gen_;
    e.kind = kind;
    e.reading = (flags & kFlagReading) != 0;
    e.connecting = kind == kStream && (flags & kFlagConnecting) != 0;
    e.noDelay = kind == kListener && (flags & kFlagNoDelay) != 0;
    e.whole = kind == kDatagram && (flags & kFlagWhole) != 0;
    int err = Update(id, e);
    if (err != 0) {
      e = Entry();
      throw ErrnoError(env, err, "epoll_ctl");
    }
    KeepAlive(e, (flags & kFlagRef) != 0);
    return env.Undefined();
  }

  // remove(id): true when it was registered. Records of this batch for it stay in the
  // batch: the dispatcher drops them.
  Napi::Value Remove(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (handle_ == nullptr) return Napi::Boolean::New(env, false);
    uint32_t id = Id(info);
    if (id >= entries_.size() || entries_[id].fd < 0) return Napi::Boolean::New(env, false);
    Entry& e = entries_[id];
    // Closed first, EBADF: gone with its socket, or, when a dup keeps the socket open, still
    // registered; then its next report has Wake() rebuild the epoll instance without it.
    if (e.inEpoll) epoll_ctl(epfd_, EPOLL_CTL_DEL, e.fd, nullptr);
    KeepAlive(e, false);
    e = Entry();
    return Napi::Boolean::New(env, true);
  }

  Napi::Value SetReading(const Napi::CallbackInfo& info) {
    Entry& e = Registered(info, "setReading");
    e.reading = info[1].ToBoolean();
    int err = Update(Id(info), e);
    if (err != 0) throw ErrnoError(info.Env(), err, "epoll_ctl");
    return info.Env().Undefined();
  }

  Napi::Value WantWritable(const Napi::CallbackInfo& info) {
    Entry& e = Registered(info, "wantWritable");
    e.writeWanted = info.Length() < 2 || info[1].ToBoolean();
    int err = Update(Id(info), e);
    if (err != 0) throw ErrnoError(info.Env(), err, "epoll_ctl");
    return info.Env().Undefined();
  }

  Napi::Value WantReadable(const Napi::CallbackInfo& info) {
    Entry& e = Registered(info, "wantReadable");
    e.readWanted = info.Length() < 2 || info[1].ToBoolean();
    int err = Update(Id(info), e);
    if (err != 0) throw ErrnoError(info.Env(), err, "epoll_ctl");
    return info.Env().Undefined();
  }

  Napi::Value SetKeepAlive(const Napi::CallbackInfo& info) {
    KeepAlive(Registered(info, "setKeepAlive"), info[1].ToBoolean());
    return info.Env().Undefined();
  }

  // buffer[offset, offset + length) of a Uint8Array argument at `i`.
  static const char* Span(const Napi::CallbackInfo& info, size_t i, size_t* length) {
    Napi::Buffer<char> buf = info[i].As<Napi::Buffer<char>>();
    int64_t offset = info[i + 1].As<Napi::Number>().Int64Value();
    int64_t n = info[i + 2].As<Napi::Number>().Int64Value();
    if (offset < 0 || n < 0 || static_cast<uint64_t>(offset + n) > buf.Length()) {
      throw Napi::RangeError::New(info.Env(), "offset and length must lie within the buffer");
    }
    *length = static_cast<size_t>(n);
    return buf.Data() + offset;
  }

  // write(id, buffer, offset, length): bytes the kernel took, or -1 when it took none and
  // would block. Throws the errno of send (EPIPE, ECONNRESET...).
  Napi::Value Write(const Napi::CallbackInfo& info) {
    Entry& e = Registered(info, "send");
    size_t length;
    const char* data = Span(info, 1, &length);
    ssize_t n;
    do {
      n = send(e.fd, data, length, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (WouldBlock(errno)) return Napi::Number::New(info.Env(), -1);
      throw ErrnoError(info.Env(), errno, "send");
    }
    return Napi::Number::New(info.Env(), static_cast<double>(n));
  }

  // writeEach(ids, count, buffer, offset, length, results): the same bytes to each stream
  // ids[0, count) in one loop (a message fanned out to many members costs one call from
  // JavaScript, not one per member): results[i] is what send(2) took for ids[i] (0 when it
  // would block), or the negative errno of its failure (-EBADF for an id that is not a
  // registered stream). Nothing is thrown for one socket's failure: its caller deals with
  // it as with a write of its own. Returns how many took every byte.
  Napi::Value WriteEach(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Ensure(env);
    if (!info[0].IsTypedArray() || !info[5].IsTypedArray()) {
      throw Napi::TypeError::New(env, "writeEach needs Int32Arrays of ids and results");
    }
    Napi::Int32Array ids = info[0].As<Napi::Int32Array>();
    Napi::Int32Array results = info[5].As<Napi::Int32Array>();
    if (ids.TypedArrayType() != napi_int32_array || results.TypedArrayType() != napi_int32_array) {
      throw Napi::TypeError::New(env, "writeEach needs Int32Arrays of ids and results");
    }
    double c = info[1].As<Napi::Number>().DoubleValue();
    if (!(c >= 0) || c > static_cast<double>(ids.ElementLength()) || c > static_cast<double>(results.ElementLength())) {
      throw Napi::RangeError::New(env, "count must lie within ids and results");
    }
    size_t count = static_cast<size_t>(c);
    size_t length;
    const char* data = Span(info, 2, &length);
    if (length > INT32_MAX) throw Napi::RangeError::New(env, "writeEach sends at most 2 GiB");
    const int32_t* in = ids.Data();
    int32_t* out = results.Data();
    size_t whole = 0;
    for (size_t i = 0; i < count; i++) {
      int32_t id = in[i];
      if (id < 0 || static_cast<size_t>(id) >= entries_.size() || entries_[id].fd < 0 || entries_[id].kind != kStream) {
        out[i] = -EBADF;
        continue;
      }
      ssize_t n;
      do {
        n = send(entries_[id].fd, data, length, MSG_NOSIGNAL | MSG_DONTWAIT);
      } while (n < 0 && errno == EINTR);
      if (n < 0) {
        out[i] = WouldBlock(errno) ? 0 : -errno;
        continue;
      }
      out[i] = static_cast<int32_t>(n);
      if (static_cast<size_t>(n) == length) whole++;
    }
    return Napi::Number::New(env, static_cast<double>(whole));
  }

  // sendto(id, buffer, offset, length, address): one datagram to `address` (the raw
  // sockaddr bytes, as a batch gives them or encodeAddress makes them; null: connected).
  // Bytes sent, or -1 when it would block.
  Napi::Value SendTo(const Napi::CallbackInfo& info) {
    Entry& e = Registered(info, "sendto");
    size_t length;
    const char* data = Span(info, 1, &length);
    sockaddr_storage ss;
    socklen_t alen = 0;
    if (!info[4].IsNull() && !info[4].IsUndefined()) {
      Napi::Buffer<char> a = info[4].As<Napi::Buffer<char>>();
      if (a.Length() > sizeof(ss)) throw ErrnoError(info.Env(), EINVAL, "sendto");
      memcpy(&ss, a.Data(), a.Length());
      alen = static_cast<socklen_t>(a.Length());
    }
    ssize_t n;
    do {
      n = sendto(e.fd, data, length, MSG_NOSIGNAL | MSG_DONTWAIT, alen > 0 ? reinterpret_cast<sockaddr*>(&ss) : nullptr,
                 alen);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (WouldBlock(errno)) return Napi::Number::New(info.Env(), -1);
      throw ErrnoError(info.Env(), errno, "sendto");
    }
    return Napi::Number::New(info.Env(), static_cast<double>(n));
  }

  // sendmmsg(id, data, spans, count): `count` datagrams in one call; spans holds four
  // int32 a datagram, [offset, length, addressOffset, addressLength], all within `data`
  // (addressLength 0: connected). The number sent from the first on; -1 when not even the
  // first could go (would block); the errno of the first when it fails. An error after the
  // first ends the count there, and the next call reports it.
  Napi::Value SendMmsg(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Entry& e = Registered(info, "sendmmsg");
    Napi::Buffer<char> data = info[1].As<Napi::Buffer<char>>();
    Napi::Int32Array spans = info[2].As<Napi::Int32Array>();
    int64_t count = info[3].As<Napi::Number>().Int64Value();
    if (count < 0 || static_cast<uint64_t>(count) * 4 > spans.ElementLength()) {
      throw Napi::RangeError::New(env, "count must be within spans");
    }
    size_t n = static_cast<size_t>(count);
    if (out_.size() < n) {
      out_.resize(n);
      outIov_.resize(n);
    }
    const int32_t* s = spans.Data();
    for (size_t i = 0; i < n; i++, s += 4) {
      int64_t off = s[0], len = s[1], aoff = s[2], alen = s[3];
      if (off < 0 || len < 0 || static_cast<uint64_t>(off + len) > data.Length() || aoff < 0 || alen < 0 ||
          static_cast<uint64_t>(aoff + alen) > data.Length() || static_cast<size_t>(alen) > sizeof(sockaddr_storage)) {
        throw Napi::RangeError::New(env, "every span must lie within the data");
      }
      outIov_[i].iov_base = data.Data() + off;
      outIov_[i].iov_len = static_cast<size_t>(len);
      msghdr& m = out_[i].msg_hdr;
      memset(&m, 0, sizeof(m));
      m.msg_iov = &outIov_[i];
      m.msg_iovlen = 1;
      m.msg_name = alen > 0 ? data.Data() + aoff : nullptr;  // the kernel copies it: alignment does not matter
      m.msg_namelen = static_cast<socklen_t>(alen);
    }
    size_t sent = 0;
    while (sent < n) {
      unsigned chunk = static_cast<unsigned>(std::min<size_t>(n - sent, 1024));  // UIO_MAXIOV
      int r = sendmmsg(e.fd, out_.data() + sent, chunk, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (r < 0) {
        if (errno == EINTR) continue;
        if (sent > 0) break;
        if (WouldBlock(errno)) return Napi::Number::New(env, -1);
        throw ErrnoError(env, errno, "sendmmsg");
      }
      sent += static_cast<size_t>(r);
      if (static_cast<unsigned>(r) < chunk) break;
    }
    return Napi::Number::New(env, static_cast<double>(sent));
  }

  // feed(block): a Buffer of at least STREAM_READ bytes for a large stream read to land in
  // (and be handed back in, with the batch). JavaScript must not use it until then.
  Napi::Value Feed(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Ensure(env);
    Napi::Buffer<char> block = info[0].As<Napi::Buffer<char>>();
    if (block.Length() < kStreamRead) throw Napi::RangeError::New(env, "a block must hold STREAM_READ bytes");
    napi_ref ref;
    NAPI_THROW_IF_FAILED(env, napi_create_reference(env, block, 1, &ref), env.Undefined());
    blocks_.push_back({ref, block.Data()});
    return env.Undefined();
  }

  // stats(): wake-ups, batches delivered, records in them, epoll instances rebuilt.
  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("wakes", stats_.wakes);
    o.Set("batches", stats_.batches);
    o.Set("records", stats_.records);
    o.Set("rebuilds", stats_.rebuilds);
    return o;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Shutdown(false);
    return info.Env().Undefined();
  }

  // encodeAddress({ family, host, port, ... }): the raw sockaddr bytes sendto and sendmmsg take.
  static Napi::Value EncodeAddress(const Napi::CallbackInfo& info) {
    sockaddr_storage ss;
    socklen_t len;
    if (!ToSockaddr(info.Env(), info[0], &ss, &len)) return info.Env().Undefined();
    return Napi::Buffer<char>::Copy(info.Env(), reinterpret_cast<char*>(&ss), len);
  }

  // decodeAddress(raw): the address as the rest of the addon gives it.
  static Napi::Value DecodeAddress(const Napi::CallbackInfo& info) {
    Napi::Buffer<char> raw = info[0].As<Napi::Buffer<char>>();
    sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    size_t len = std::min(raw.Length(), sizeof(ss));
    memcpy(&ss, raw.Data(), len);
    if (len < sizeof(sa_family_t) || (ss.ss_family == AF_INET && len < sizeof(sockaddr_in)) ||
        (ss.ss_family == AF_INET6 && len < sizeof(sockaddr_in6)) ||
        (ss.ss_family != AF_INET && ss.ss_family != AF_INET6 && ss.ss_family != AF_UNIX)) {
      throw ErrnoError(info.Env(), EAFNOSUPPORT, "decodeAddress");
    }
    return FromSockaddr(info.Env(), &ss, static_cast<socklen_t>(len));
  }

  // --- the end ---

  // Stops watching, closes the epoll descriptor and the poll handle; with `closeFds` (the
  // environment is going away), closes the registered descriptors too.
  void Shutdown(bool closeFds) {
    if (handle_ == nullptr) return;
    for (Entry& e : entries_) {
      if (e.fd >= 0 && closeFds) close(e.fd);
      e = Entry();
    }
    refs_ = 0;
    for (auto& [ref, data] : blocks_) napi_delete_reference(Env(), ref);
    for (napi_ref ref : owned_) napi_delete_reference(Env(), ref);
    if (slab_ != nullptr) napi_delete_reference(Env(), slab_);
    slab_ = nullptr;
    blocks_.clear();
    owned_.clear();
    close(epfd_);
    epfd_ = -1;
    Handle* h = handle_;
    handle_ = nullptr;
    h->owner = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&h->poll), [](uv_handle_t* p) {
      Handle* done = reinterpret_cast<Handle*>(p);
      if (done->hook != nullptr) napi_remove_async_cleanup_hook(done->hook);
      delete done;
    });
  }

  // The environment ends (a worker stops, or the process exits): the handle must be closed
  // before libuv's loop is, and nobody is left to close what is registered.
  static void OnEnvCleanup(napi_async_cleanup_hook_handle, void* arg) {
    Handle* h = static_cast<Handle*>(arg);
    if (h->owner != nullptr) h->owner->Shutdown(true);  // else closing already: its callback removes the hook
  }

  Napi::FunctionReference callback_;
  std::unique_ptr<Napi::AsyncContext> context_;  // for async_hooks and AsyncLocalStorage, as Node's own handles
  Handle* handle_ = nullptr;
  int epfd_ = -1;
  int refs_ = 0;
  uint32_t wake_ = 0;
  uint32_t gen_ = 0;
  struct {
    double wakes = 0, batches = 0, records = 0, rebuilds = 0;
  } stats_;
  std::vector<Entry> entries_;
  std::vector<uint32_t> carry_, carried_;
  // The batch being built.
  std::unique_ptr<char[]> staging_;
  size_t stagingSize_ = kStaging;
  // Where the part of a whole datagram past kSlot lands (see ReadWhole), made on first use.
  std::unique_ptr<char[]> spill_;
  size_t spillSize_ = 0;
  size_t used_ = 0;
  // The slab small batches are copied to (see Deliver).
  napi_ref slab_ = nullptr;
  char* slabMem_ = nullptr;
  size_t slabUsed_ = 0;
  uint64_t slabCount_ = 0;  // slabs made: tells a new slab from the one before
  bool allSlabbed_ = false;  // this batch's records all point into slabs (no `data` needed)
  // Blocks fed by JavaScript (a reference and the memory), and those of this batch's large
  // reads, handed back with it.
  std::vector<std::pair<napi_ref, char*>> blocks_;
  std::vector<napi_ref> owned_;
  size_t owned_bytes_ = 0;
  std::vector<int32_t> records_;
  std::vector<std::pair<int, const char*>> errors_;
  Napi::Reference<Napi::Int32Array> events_;
  size_t eventsLength_ = 0;
  // recvmmsg's and sendmmsg's vectors, reused.
  std::unique_ptr<char[]> slots_;
  iovec iov_[kMaxMessages];
  mmsghdr msgs_[kMaxMessages];
  sockaddr_storage names_[kMaxMessages];
  std::vector<mmsghdr> out_;
  std::vector<iovec> outIov_;
};

}  // namespace

Napi::Value DefineReactor(Napi::Env env) { return Reactor::Define(env); }

}  // namespace socketkit

#else  // no epoll

#include "common.h"

namespace socketkit {
Napi::Value DefineReactor(Napi::Env env) { return env.Undefined(); }
}  // namespace socketkit

#endif
