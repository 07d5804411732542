/** Symbols shared inside the socket layer; not exported from the package. */
export const kStream = Symbol("socketkit.stream");
export const kTimeoutMs = Symbol("socketkit.timeoutMs");
export const kConnectFrom = Symbol("socketkit.connectFrom");
export const kConnectTls = Symbol("socketkit.connectTls");
/** A file made by `makefile` is closed: the socket may close for real (Python's io refs). */
export const kFileClosed = Symbol("socketkit.fileClosed");
/** Closes the socket now, its files or not (a server ending a request, a transfer cut). */
export const kCloseNow = Symbol("socketkit.closeNow");
export const kReadiness = Symbol("socketkit.readiness");
