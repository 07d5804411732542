/** Symbols shared inside the socket layer; not exported from the package. */
export const kStream = Symbol("socketkit.stream");
export const kTimeoutMs = Symbol("socketkit.timeoutMs");
export const kAdopt = Symbol("socketkit.adopt");
export const kBindServer = Symbol("socketkit.bindServer");
export const kConnectFrom = Symbol("socketkit.connectFrom");
export const kConnectTls = Symbol("socketkit.connectTls");
export const kNativeBacked = Symbol("socketkit.nativeBacked");
export const kTakeDatagram = Symbol("socketkit.takeDatagram");
export const kReadiness = Symbol("socketkit.readiness");
