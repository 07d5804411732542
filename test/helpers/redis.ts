/**
 * A real redis-server for a test: started on a free loopback port in a temporary folder,
 * with nothing saved, and stopped by its pid when the test ends. Tests skip, saying why,
 * where there is no redis-server.
 */
import { spawnSync } from "node:child_process";
import type { TestContext } from "node:test";
import { closedPort, tempDir } from "./net.ts";
import { outputFrom, type Program, start } from "./proc.ts";

let found: string | null | undefined;
/** The redis-server executable, or null when there is none. */
export function redisServerPath(): string | null {
  if (found === undefined) {
    const candidates = ["/usr/bin/redis-server", "redis-server"];
    found = null;
    for (const path of candidates) {
      if (spawnSync(path, ["--version"]).status === 0) {
        found = path;
        break;
      }
    }
  }
  return found;
}

/** Why the Redis tests skip here, or undefined when they can run. */
export function redisSkip(): string | undefined {
  return redisServerPath() === null
    ? "redis-server is not installed (Debian: apt-get install redis-server)"
    : undefined;
}

/** A running redis-server. */
export interface RedisProcess {
  port: number;
  url: string;
  program: Program;
  /** Stops it (SIGTERM by pid, SIGKILL after 3 s) and waits for its end. */
  stop: () => Promise<void>;
  /** Starts it again on the same port (empty: nothing is saved). */
  restart: () => Promise<void>;
}

/** Starts a redis-server for the test, stopped when the test ends. */
export async function startRedis(t: TestContext): Promise<RedisProcess> {
  const path = redisServerPath();
  if (path === null) throw new Error("redis-server is not installed");
  const dir = await tempDir(t);
  const port = await closedPort();
  const launch = async (): Promise<Program> => {
    const program = start(path, [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--dir",
      dir,
    ]);
    await outputFrom(program, (out) => out.includes("Ready to accept connections"));
    return program;
  };
  const redis: RedisProcess = {
    port,
    url: `redis://127.0.0.1:${port}`,
    program: await launch(),
    stop: () => redis.program.stop(),
    restart: async () => {
      await redis.program.stop();
      redis.program = await launch();
    },
  };
  t.after(() => redis.program.stop());
  return redis;
}
