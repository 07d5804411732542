import { Cluster, Redis, type RedisOptions } from "ioredis";

/** A connection to Redis as the chat uses it: one server (or Sentinel's master), or a Cluster. */
export type RedisClient = Redis | Cluster;

/** Where the chat's Redis is, read from a `--redis` URL by {@link parseRedisUrl}. */
export type RedisTarget =
  | { kind: "single"; url: string }
  | {
      kind: "sentinel";
      url: string;
      sentinels: { host: string; port: number }[];
      name: string;
      username?: string;
      password?: string;
      db: number;
    }
  | {
      kind: "cluster";
      url: string;
      nodes: { host: string; port: number }[];
      username?: string;
      password?: string;
    };

/** The settings of a connection, the same whatever the kind of Redis. */
export interface RedisConnectOptions {
  /** Shown by `CLIENT LIST`. */
  connectionName: string;
  /** Commands wait while the connection is down (true), or fail at once (false). */
  offlineQueue: boolean;
  /** Commands sent and not answered when the connection dropped are sent again. */
  resend: boolean;
  /** Milliseconds a command may take before it fails. @default none */
  commandTimeout?: number;
}

const FORMS =
  "redis://HOST:PORT, rediss://HOST:PORT, redis-sentinel://HOST:PORT[,HOST:PORT...]/MASTER or redis-cluster://HOST:PORT[,HOST:PORT...]";

/**
 * Reads a `--redis` URL: `redis://` or `rediss://` (one server, as ioredis reads it),
 * `redis-sentinel://[[USER]:PASSWORD@]HOST[:PORT][,HOST[:PORT]...]/MASTER[/DB]` (the
 * Sentinels to ask for the master named MASTER; port 26379 by default; the password is the
 * master's and its replicas'), or `redis-cluster://[[USER]:PASSWORD@]HOST[:PORT][,...]`
 * (some nodes of a Redis Cluster; port 6379 by default). Throws an error with a one-line
 * message for anything else.
 *
 * @example
 * ```ts
 * import { parseRedisUrl } from "./redis-connection.ts";
 * parseRedisUrl("redis-sentinel://10.0.0.1,10.0.0.2:26380/mymaster").kind; // "sentinel"
 * ```
 */
export function parseRedisUrl(url: string): RedisTarget {
  if (/^rediss?:\/\/./.test(url)) return { kind: "single", url };
  const m = /^redis-(sentinel|cluster):\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/?#]+)(\/[^?#]*)?$/.exec(
    url,
  );
  if (m === null) throw new Error(`Cannot read the Redis URL "${url}": expected ${FORMS}`);
  const [, kind, user, pass, hostList = "", path = ""] = m;
  const username = user ? decodeURIComponent(user) : undefined;
  const password = pass !== undefined ? decodeURIComponent(pass) : undefined;
  const defaultPort = kind === "sentinel" ? 26379 : 6379;
  const hosts = hostList.split(",").map((part) => parseHostPort(url, part, defaultPort));
  const auth = { ...(username ? { username } : {}), ...(password ? { password } : {}) };
  if (kind === "cluster") {
    if (path !== "" && path !== "/") {
      throw new Error(`Cannot read the Redis URL "${url}": a cluster has no database number`);
    }
    return { kind: "cluster", url, nodes: hosts, ...auth };
  }
  const [, name = "", db = "0"] = path.split("/");
  if (name === "" || !/^\d+$/.test(db)) {
    throw new Error(
      `Cannot read the Redis URL "${url}": expected redis-sentinel://HOST:PORT[,HOST:PORT...]/MASTER[/DB]`,
    );
  }
  return {
    kind: "sentinel",
    url,
    sentinels: hosts,
    name: decodeURIComponent(name),
    db: Number(db),
    ...auth,
  };
}

function parseHostPort(
  url: string,
  part: string,
  defaultPort: number,
): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::(\d+))?$/.exec(part);
  const port = Number(m?.[3] ?? defaultPort);
  if (m === null || port < 1 || port > 65535) {
    throw new Error(`Cannot read the Redis URL "${url}": "${part}" is not HOST[:PORT]`);
  }
  return { host: (m[1] ?? m[2]) as string, port };
}

/**
 * A connection (not connected yet: `connect()` it) to the Redis `target` names: a `Redis`
 * for one server or a Sentinel-managed master, an ioredis `Cluster` for a Cluster.
 * Reconnects by itself; after a failover it finds the new master (Sentinel's
 * `+switch-master`, a `READONLY` answer from a master turned replica, Cluster's `MOVED`).
 */
export function createRedisClient(target: RedisTarget, options: RedisConnectOptions): RedisClient {
  const common: RedisOptions = {
    lazyConnect: true,
    connectionName: options.connectionName,
    maxRetriesPerRequest: options.offlineQueue ? null : 0,
    autoResendUnfulfilledCommands: options.resend,
    ...(options.commandTimeout !== undefined ? { commandTimeout: options.commandTimeout } : {}),
    // A master turned replica by a failover answers writes with READONLY: reconnect (to the
    // new master) and send the command again.
    reconnectOnError: (err) => (err.message.startsWith("READONLY") ? 2 : false),
  };
  const retryStrategy = (attempt: number) => Math.min(attempt * 200, 2000);
  switch (target.kind) {
    case "single":
      return new Redis(target.url, {
        ...common,
        enableOfflineQueue: options.offlineQueue,
        retryStrategy,
      });
    case "sentinel":
      return new Redis({
        ...common,
        enableOfflineQueue: options.offlineQueue,
        retryStrategy,
        sentinels: target.sentinels,
        name: target.name,
        db: target.db,
        ...(target.username !== undefined ? { username: target.username } : {}),
        ...(target.password !== undefined ? { password: target.password } : {}),
        // Told of a failover by the Sentinels at once, rather than when the old master
        // stops answering.
        failoverDetector: true,
        sentinelRetryStrategy: retryStrategy,
      });
    case "cluster":
      return new Cluster(target.nodes, {
        lazyConnect: true,
        enableOfflineQueue: options.offlineQueue,
        clusterRetryStrategy: retryStrategy,
        retryDelayOnFailover: 200,
        retryDelayOnClusterDown: 200,
        redisOptions: {
          ...common,
          ...(target.username !== undefined ? { username: target.username } : {}),
          ...(target.password !== undefined ? { password: target.password } : {}),
        },
      });
  }
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@");
}
