// What socketkit.cc shares with the other sources of the addon (reactor.cc): errno errors
// and the conversion of addresses between JavaScript and sockaddr.
#ifndef SOCKETKIT_NATIVE_COMMON_H_
#define SOCKETKIT_NATIVE_COMMON_H_

#include <napi.h>
#include <sys/socket.h>

namespace socketkit {

// An Error whose `code` is the errno name, `errno` its negative number and `syscall` the
// call that failed, which socketkit maps to its typed errors.
Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall);

// Whether `err` means "try again when the descriptor is ready".
bool WouldBlock(int err);

// An address from JS ({ family: "unix", path } | { family: "inet" | "inet6", host, port, ... })
// into `ss`: false, with a JS exception pending, when it is not one.
bool ToSockaddr(Napi::Env env, Napi::Value value, sockaddr_storage* ss, socklen_t* len);

// An address as JS takes it, from `ss`.
Napi::Value FromSockaddr(Napi::Env env, const sockaddr_storage* ss, socklen_t len);

// The Reactor class (reactor.cc), or undefined where there is no epoll.
Napi::Value DefineReactor(Napi::Env env);

}  // namespace socketkit

#endif  // SOCKETKIT_NATIVE_COMMON_H_
