/**
 * A route to a server through fault proxies, whose faults change at random (seeded) from
 * one phase to the next: latency, slicing, bandwidth limits, stalls, cuts and resets at
 * random offsets, half-open connections. It records when a disruptive fault was on, so a
 * client can tell an error it had to expect from one it must never see.
 * @module
 */
import type { Direction, FaultProxy, Faults } from "./fault-proxy.ts";
import type { SeededRandom } from "./seeded-random.ts";

/** What a phase does. */
export type FaultKind =
  | "none"
  | "latency"
  | "slice"
  | "bandwidth"
  | "mixed"
  | "stall"
  | "cut"
  | "reset"
  | "drop"
  | "resetAll";

/** Faults that can lose, hold or end a connection; the others only slow it or split it. */
export const DISRUPTIVE: ReadonlySet<FaultKind> = new Set([
  "stall",
  "cut",
  "reset",
  "drop",
  "resetAll",
]);

/** How a phase is chosen: the weight of each kind, unless a route's scale says otherwise. */
const WEIGHTS: Readonly<Record<FaultKind, number>> = {
  none: 22,
  latency: 14,
  slice: 12,
  bandwidth: 12,
  mixed: 8,
  stall: 8,
  cut: 8,
  reset: 8,
  drop: 5,
  resetAll: 3,
};

/** The ranges faults are drawn from, fitted to the traffic of a route. */
export interface RouteScale {
  /** Cuts and resets fall after 0 to this many bytes of a direction. */
  maxOffset: number;
  /** Bytes per second, [lowest, highest). */
  bandwidth: [number, number];
  /** Milliseconds, [lowest, highest). */
  latency: [number, number];
  /** Longest phase of 1-byte slicing, in ms (each byte is a write: it costs CPU). */
  sliceOneMaxMs: number;
  /**
   * The direction that carries the bulk of the data, if one does: cuts and resets fall on
   * it four times in five (on the other, few connections would ever reach the offset).
   * @default undefined (either direction alike)
   */
  dataDirection?: Direction;
  /** Weights of the kinds of phase, replacing the default ones given. @default {} */
  weights?: Partial<Record<FaultKind, number>>;
}

/** Where a client stood when it started: compare with {@link FaultRoute.hit}. */
export interface FaultMark {
  disruptions: number;
  active: boolean;
}

/** The faults of both directions in a phase. */
interface Phase {
  kind: FaultKind;
  label: string;
  upstream: Faults;
  downstream: Faults;
  ms: number;
}

const DIRECTIONS: readonly Direction[] = ["upstream", "downstream"];

/**
 * The proxies of one route and their schedule. `start()` runs phases one after another,
 * each of a random kind and length; `mark()` and `hit()` say whether a disruptive fault
 * was on at any time between two points.
 *
 * @example
 * ```ts
 * const route = new FaultRoute("echo", random.fork("echo"), scale);
 * route.add(await FaultProxy.start(["127.0.0.1", port]));
 * route.start();
 * const mark = route.mark();
 * // ... a client does its work through the proxy ...
 * if (failed && !route.hit(mark)) throw new Error("failed on a network that only slowed it");
 * ```
 */
export class FaultRoute {
  readonly name: string;
  readonly scale: RouteScale;
  /** Phases started, by kind. */
  readonly injected: Record<FaultKind, number> = {
    none: 0,
    latency: 0,
    slice: 0,
    bandwidth: 0,
    mixed: 0,
    stall: 0,
    cut: 0,
    reset: 0,
    drop: 0,
    resetAll: 0,
  };
  /** Disruptive faults so far (phases, and resets of every connection). */
  disruptions = 0;
  /** The last phases, newest last, for reports. */
  readonly recent: string[] = [];
  #random: SeededRandom;
  #proxies = new Set<FaultProxy>();
  #phase: Phase = { kind: "none", label: "none", upstream: {}, downstream: {}, ms: 0 };
  #timer: NodeJS.Timeout | null = null;

  constructor(name: string, random: SeededRandom, scale: RouteScale) {
    this.name = name;
    this.#random = random;
    this.scale = scale;
  }

  /** Faults injected in all (phases that were not `none`). */
  get faultCount(): number {
    let n = 0;
    for (const [kind, count] of Object.entries(this.injected)) if (kind !== "none") n += count;
    return n;
  }

  /** The phase now, as words. */
  get current(): string {
    return this.#phase.label;
  }

  /** Whether a disruptive fault is on now. */
  get disruptive(): boolean {
    return DISRUPTIVE.has(this.#phase.kind);
  }

  /** Puts `proxy` on the route: it gets the faults of the phase now, and every later one. */
  add(proxy: FaultProxy): void {
    this.#proxies.add(proxy);
    this.#apply(proxy);
  }

  /** Takes `proxy` off the route (closing it is the caller's). */
  remove(proxy: FaultProxy): void {
    this.#proxies.delete(proxy);
  }

  /** The proxies on the route now. */
  proxies(): FaultProxy[] {
    return [...this.#proxies];
  }

  mark(): FaultMark {
    return { disruptions: this.disruptions, active: this.disruptive };
  }

  /** Whether a disruptive fault was on at any time since `mark` was taken. */
  hit(mark: FaultMark): boolean {
    return mark.active || this.disruptive || this.disruptions !== mark.disruptions;
  }

  /** Runs phases until `stop()`. */
  start(): void {
    if (this.#timer === null) this.#next();
  }

  /** No more phases, and every fault off. */
  stop(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#set({ kind: "none", label: "none", upstream: {}, downstream: {}, ms: 0 });
  }

  /** Resets every open connection of the route now (a disruptive fault of its own). */
  resetAll(): void {
    this.disruptions++;
    for (const proxy of this.#proxies) proxy.resetAll();
  }

  #next(): void {
    const phase = this.#choose();
    this.#set(phase);
    this.#timer = setTimeout(() => this.#next(), phase.ms);
  }

  #set(phase: Phase): void {
    this.#phase = phase;
    if (phase.ms > 0) {
      this.injected[phase.kind]++;
      this.recent.push(phase.label);
      if (this.recent.length > 12) this.recent.shift();
    }
    if (DISRUPTIVE.has(phase.kind)) this.disruptions++;
    for (const proxy of this.#proxies) this.#apply(proxy);
    if (phase.kind === "resetAll") for (const proxy of this.#proxies) proxy.resetAll();
  }

  #apply(proxy: FaultProxy): void {
    proxy.clear();
    proxy.set("upstream", this.#phase.upstream);
    proxy.set("downstream", this.#phase.downstream);
  }

  /** A phase of a random kind, direction, strength and length. */
  #choose(): Phase {
    const r = this.#random;
    const s = this.scale;
    const kind = r.weighted({ ...WEIGHTS, ...s.weights });
    const data = s.dataDirection;
    const one =
      data === undefined
        ? r.pick(DIRECTIONS)
        : r.chance(0.8)
          ? data
          : data === "upstream"
            ? "downstream"
            : "upstream";
    const which = r.pick(["upstream", "downstream", "both"] as const);
    const faults: Record<Direction, Faults> = { upstream: {}, downstream: {} };
    const onWhich = (f: Faults) => {
      for (const d of DIRECTIONS) if (which === "both" || which === d) faults[d] = { ...f };
    };
    let ms = r.int(300, 2500);
    let label: string;
    switch (kind) {
      case "none":
        ms = r.int(500, 3000);
        label = "none";
        break;
      case "latency": {
        const latency = r.int(s.latency[0], s.latency[1]);
        onWhich({ latency });
        label = `latency ${latency} ms ${which}`;
        break;
      }
      case "slice": {
        const slice = r.chance(0.6) ? 1 : r.int(2, 1500);
        if (slice === 1) ms = Math.min(ms, r.int(150, s.sliceOneMaxMs));
        onWhich({ slice });
        label = `slice ${slice} B ${which}`;
        break;
      }
      case "bandwidth": {
        const bandwidth = r.int(s.bandwidth[0], s.bandwidth[1]);
        onWhich({ bandwidth });
        label = `bandwidth ${bandwidth} B/s ${which}`;
        break;
      }
      case "mixed": {
        const latency = r.int(s.latency[0], s.latency[1]);
        const bandwidth = r.int(s.bandwidth[0], s.bandwidth[1]);
        const slice = r.int(1, 1500);
        if (slice < 16) ms = Math.min(ms, r.int(150, s.sliceOneMaxMs));
        onWhich({ latency, bandwidth, slice });
        label = `latency ${latency} ms, bandwidth ${bandwidth} B/s, slice ${slice} B ${which}`;
        break;
      }
      case "stall":
        ms = r.int(200, 2500);
        onWhich({ stall: true });
        label = `stall ${which}`;
        break;
      case "cut": {
        const cutAfter = r.int(0, s.maxOffset);
        faults[one] = { cutAfter };
        label = `cut ${one} after ${cutAfter} B`;
        break;
      }
      case "reset": {
        const resetAfter = r.int(0, s.maxOffset);
        faults[one] = { resetAfter };
        label = `reset ${one} after ${resetAfter} B`;
        break;
      }
      case "drop":
        faults[one] = { drop: true };
        label = `half-open: ${one} dropped`;
        break;
      case "resetAll":
        ms = r.int(100, 500);
        label = "reset every connection";
        break;
    }
    return { kind, label, ...faults, ms };
  }
}
