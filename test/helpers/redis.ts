/**
 * A real redis-server for a test: started on a free loopback port in a temporary folder,
 * with nothing saved, and stopped by its pid when the test ends. Tests skip, saying why,
 * where there is no redis-server.
 */
import { spawnSync } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
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
  return startRedisServer(t, await tempDir(t), []);
}

/**
 * Starts a redis-server on a free port in `dir` with the arguments `extra` (after the
 * port, the address, and no saving), stopped when the test ends; a config file as the
 * first of `extra` is read first, as redis-server wants it. Ready when `ready` holds of
 * its output.
 */
async function startRedisServer(
  t: TestContext,
  dir: string,
  extra: string[],
  ready: (out: string) => boolean = (out) => out.includes("Ready to accept connections"),
): Promise<RedisProcess> {
  const path = redisServerPath();
  if (path === null) throw new Error("redis-server is not installed");
  const port = await closedPort();
  const [conf, rest] =
    extra[0]?.endsWith(".conf") === true ? [[extra[0]], extra.slice(1)] : [[], extra];
  const launch = async (): Promise<Program> => {
    const program = start(
      path,
      [
        ...conf,
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
        ...rest,
      ],
      { cwd: dir },
    );
    await outputFrom(program, ready);
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

let cli: string | null | undefined;
/** The redis-cli executable, or null when there is none. */
export function redisCliPath(): string | null {
  if (cli === undefined) {
    cli = spawnSync("redis-cli", ["--version"]).status === 0 ? "redis-cli" : null;
  }
  return cli;
}

/** Why the Sentinel and Cluster tests skip here, or undefined when they can run. */
export function redisHaSkip(): string | undefined {
  return (
    redisSkip() ??
    (redisCliPath() === null
      ? "redis-cli is not installed (Debian: apt-get install redis-tools)"
      : undefined)
  );
}

/** Runs redis-cli with `args`; its output, or an error with it when it fails. */
export function redisCli(args: string[]): string {
  const r = spawnSync(redisCliPath() ?? "redis-cli", args, { encoding: "utf8", timeout: 20_000 });
  if (r.status !== 0 || /^(ERR|\(error\))/m.test(r.stdout)) {
    throw new Error(`redis-cli ${args.join(" ")} failed: ${r.stdout}${r.stderr}`);
  }
  return r.stdout;
}

/** Waits until `check` holds, asking every 100 ms; fails after `ms`. */
async function until(check: () => boolean, what: string, ms = 20_000): Promise<void> {
  const end = performance.now() + ms;
  while (!check()) {
    if (performance.now() > end) throw new Error(`Waited ${ms} ms for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A master, its replica and a Sentinel watching them as `mymaster`. */
export interface RedisSentinelSet {
  master: RedisProcess;
  replica: RedisProcess;
  sentinel: RedisProcess;
  /** `redis-sentinel://127.0.0.1:PORT/mymaster`. */
  url: string;
  /** The port of the master as the Sentinel names it now. */
  masterPort: () => number;
}

/**
 * Starts a master, a replica of it and one Sentinel (quorum 1, a master down after 1 s)
 * on free ports in a temporary folder, stopped when the test ends; ready once the Sentinel
 * knows the replica (so that `SENTINEL FAILOVER mymaster` has one to promote).
 */
export async function startRedisSentinel(t: TestContext): Promise<RedisSentinelSet> {
  const dir = await tempDir(t);
  const master = await startRedisServer(t, dir, ["--dbfilename", "master.rdb"]);
  const replica = await startRedisServer(
    t,
    dir,
    ["--dbfilename", "replica.rdb", "--replicaof", "127.0.0.1", String(master.port)],
    (out) => out.includes("MASTER <-> REPLICA sync: Finished with success"),
  );
  const conf = join(dir, "sentinel.conf");
  await writeFile(
    conf,
    [
      `sentinel monitor mymaster 127.0.0.1 ${master.port} 1`,
      "sentinel down-after-milliseconds mymaster 1000",
      "sentinel failover-timeout mymaster 10000",
      "",
    ].join("\n"),
  );
  const sentinel = await startRedisServer(t, dir, [conf, "--sentinel"], (out) =>
    out.includes(`+slave slave 127.0.0.1:${replica.port}`),
  );
  const masterPort = () =>
    Number(
      redisCli([
        "-p",
        String(sentinel.port),
        "SENTINEL",
        "get-master-addr-by-name",
        "mymaster",
      ]).split("\n")[1],
    );
  return {
    master,
    replica,
    sentinel,
    url: `redis-sentinel://127.0.0.1:${sentinel.port}/mymaster`,
    masterPort,
  };
}

/** A Redis Cluster of masters without replicas. */
export interface RedisClusterSet {
  nodes: RedisProcess[];
  /** `redis-cluster://127.0.0.1:PORT,...` (every node). */
  url: string;
  /** The port of the node serving `key`'s slot. */
  nodeOf: (key: string) => number;
}

/**
 * Starts `count` (at least 3) cluster-enabled redis-servers on free ports in a temporary
 * folder (each with its cluster bus on another free port), joins them into a cluster of
 * masters with the slots spread evenly (`redis-cli --cluster create`), stopped when the
 * test ends; ready once every node says the cluster is ok.
 */
export async function startRedisCluster(t: TestContext, count = 3): Promise<RedisClusterSet> {
  const dir = await tempDir(t);
  const nodes: RedisProcess[] = [];
  for (let i = 0; i < count; i++) {
    nodes.push(
      await startRedisServer(t, dir, [
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        `nodes-${i}.conf`,
        "--cluster-port",
        String(await closedPort()),
        "--cluster-node-timeout",
        "2000",
        "--dbfilename",
        `node-${i}.rdb`,
      ]),
    );
  }
  redisCli(["--cluster", "create", ...nodes.map((n) => `127.0.0.1:${n.port}`), "--cluster-yes"]);
  await until(
    () =>
      nodes.every((n) =>
        redisCli(["-p", String(n.port), "CLUSTER", "INFO"]).includes("cluster_state:ok"),
      ),
    "every node to say the cluster is ok",
  );
  const nodeOf = (key: string) => {
    const slot = Number(redisCli(["-p", String(nodes[0]?.port), "CLUSTER", "KEYSLOT", key]));
    for (const n of nodes) {
      // The node's own line: ID ADDR FLAGS MASTER PING PONG EPOCH STATE SLOTS...
      const mine = redisCli(["-p", String(n.port), "CLUSTER", "NODES"])
        .split("\n")
        .find((line) => line.includes("myself"));
      for (const range of mine?.split(" ").slice(8) ?? []) {
        const [from, to = from] = range.split("-").map(Number) as [number, number?];
        if (slot >= from && slot <= (to as number)) return n.port;
      }
    }
    throw new Error(`No node serves the slot ${slot} of ${key}`);
  };
  return {
    nodes,
    url: `redis-cluster://${nodes.map((n) => `127.0.0.1:${n.port}`).join(",")}`,
    nodeOf,
  };
}
