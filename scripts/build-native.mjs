// Builds the optional native addon (native/socketkit.cc) with node-gyp during
// `npm install`. It never fails the install: without a compiler, python3 or make, it says
// what is missing and socketkit works without the socket types that need the addon.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
if (process.env.SOCKETKIT_SKIP_NATIVE) {
  console.error("socketkit: SOCKETKIT_SKIP_NATIVE is set: not building the native addon");
  process.exit(0);
}
// The package ships prebuilt binaries (prebuilds/, N-API, one for every Node.js line):
// where one loads, there is nothing to build (`npm run build:native` passes --force).
if (!process.argv.includes("--force") && existsSync(join(root, "prebuilds"))) {
  try {
    createRequire(import.meta.url)("node-gyp-build")(root);
    console.error("socketkit: using the prebuilt native addon");
    process.exit(0);
  } catch {
    // None for this system: built from source below.
  }
}
// npm tells lifecycle scripts where its own node-gyp is; run outside npm, look for the
// node-gyp that comes with npm next to this Node.js.
const candidates = [
  process.env.npm_config_node_gyp,
  join(
    dirname(process.execPath),
    "..",
    "lib",
    "node_modules",
    "npm",
    "node_modules",
    "node-gyp",
    "bin",
    "node-gyp.js",
  ),
];
const gyp = candidates.find((c) => c && existsSync(c));
// Node's own headers, when this Node.js has them (<prefix>/include/node), so node-gyp needs
// no download; npm's nodedir setting, when there is one, wins.
const prefix = join(dirname(process.execPath), "..");
const nodedir =
  process.env.npm_config_nodedir ??
  (existsSync(join(prefix, "include", "node", "node.h")) ? prefix : undefined);
const gypArgs = ["rebuild", ...(nodedir ? [`--nodedir=${nodedir}`] : [])];
const [command, args] = gyp ? [process.execPath, [gyp, ...gypArgs]] : ["node-gyp", gypArgs];
const result = spawnSync(command, args, {
  cwd: root,
  stdio: ["ignore", "pipe", "pipe"],
  encoding: "utf8",
});
if (result.status === 0) {
  console.error(
    "socketkit: native addon built (Unix datagram, SOCK_SEQPACKET, raw/ICMP sockets, SO_REUSEPORT)",
  );
} else {
  const why = (result.error?.message ?? result.stderr ?? "")
    .trim()
    .split("\n")
    .slice(-3)
    .join(" | ");
  console.error(
    `socketkit: the optional native addon was not built (${why || "node-gyp failed"}).\n` +
      "socketkit works without it; Unix datagram, SOCK_SEQPACKET, raw and ICMP sockets need it.\n" +
      "To build it: install a C++ compiler, make and python3, then run `npm run build:native`.",
  );
}
