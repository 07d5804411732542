/**
 * The README's Quick start: `npm start` runs the chat server on 127.0.0.1:5000 and says
 * how to join. Skipped, with the reason, when something else holds port 5000.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";
import { describe, it } from "node:test";
import { RawMember } from "../helpers/chat.ts";
import { ROOT } from "../helpers/proc.ts";

async function port5000Free(): Promise<boolean> {
  const probe = createServer();
  probe.listen(5000, "127.0.0.1");
  const [event] = await Promise.race([once(probe, "listening"), once(probe, "error")]).then(
    () => ["listening"],
    () => ["error"],
  );
  if (event === "listening" && probe.listening) {
    probe.close();
    await once(probe, "close");
    return true;
  }
  return false;
}

const free = await port5000Free();

describe("npm start", { skip: free ? false : "port 127.0.0.1:5000 is in use" }, () => {
  it("runs the chat server on 127.0.0.1:5000 and prints how to join", {
    timeout: 60_000,
  }, async (t) => {
    // Its own process group, so the whole npm → tsx → node chain it starts can be ended.
    const npm = spawn("npm", ["start"], {
      cwd: ROOT,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let err = "";
    npm.stderr.on("data", (c: Buffer) => {
      err += c.toString();
    });
    const exited = once(npm, "exit");
    t.after(async () => {
      if (npm.exitCode === null && npm.signalCode === null) {
        process.kill(-(npm.pid as number), "SIGTERM");
        await exited;
      }
    });
    while (!err.includes("join with:")) {
      if (npm.exitCode !== null) throw new Error(`npm start exited: ${err}`);
      await Promise.race([once(npm.stderr, "data"), exited]);
    }
    assert.match(err, /listening on 127\.0\.0\.1:5000 \(tcp\)/);
    assert.match(
      err,
      /join with: npx socketkit chat join 127\.0\.0\.1 5000 {3}\(or: telnet 127\.0\.0\.1 5000, nc 127\.0\.0\.1 5000\)/,
    );
    const member = await RawMember.join(t, 5000, "first");
    member.send("/who\n");
    await member.waitFor("*** Online (1): first");
  });
});
