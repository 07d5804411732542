import type { ChatBus, ChatBusHandlers, ChatEvent, RoomCount, Roster } from "./chat-bus.ts";
import { nickKey } from "./nick-key.ts";

/** Options of {@link LocalChatBus}. */
export interface LocalChatBusOptions {
  /** Messages kept per room for whoever joins it. @default 20 */
  history?: number;
  /** Rooms with no one in them whose history is kept; the oldest go first. @default 100 */
  emptyRooms?: number;
}

/** A room's shared state in the process. */
interface LocalRoomState {
  /** Nicknames in the room, by lower-cased nickname. */
  members: Map<string, string>;
  history: ChatEvent[];
}

/**
 * The chat's shared state in one process: what `chat serve` uses without `--redis`.
 * Everything happens at once: an event published is delivered before `publish` returns.
 *
 * @example
 * ```ts
 * import { ChatRoom, LocalChatBus } from "./index.ts";
 * const room = new ChatRoom({ bus: new LocalChatBus({ history: 50 }), history: 50 });
 * ```
 */
export class LocalChatBus implements ChatBus {
  readonly server = "local";
  readonly shared = false;
  readonly #history: number;
  readonly #emptyRooms: number;
  readonly #nicks = new Set<string>();
  /** Rooms with members, by name. */
  readonly #rooms = new Map<string, LocalRoomState>();
  /** Rooms with no one in them but a history, the one emptied longest ago first. */
  readonly #empty = new Map<string, LocalRoomState>();
  readonly #open = new Set<string>();
  #handlers: ChatBusHandlers | null = null;

  constructor(options: LocalChatBusOptions = {}) {
    this.#history = options.history ?? 20;
    this.#emptyRooms = options.emptyRooms ?? 100;
  }

  start(handlers: ChatBusHandlers): void {
    this.#handlers = handlers;
  }

  async stop(): Promise<void> {
    this.#handlers = null;
    this.#open.clear();
  }

  open(room: string, history: number): ChatEvent[] {
    this.#open.add(room);
    const kept = (this.#rooms.get(room) ?? this.#empty.get(room))?.history ?? [];
    return kept.slice(Math.max(0, kept.length - history));
  }

  close(room: string): void {
    this.#open.delete(room);
  }

  claim(nick: string): boolean {
    const key = nickKey(nick);
    if (this.#nicks.has(key)) return false;
    this.#nicks.add(key);
    return true;
  }

  release(nick: string): void {
    this.#nicks.delete(nickKey(nick));
  }

  publish(event: ChatEvent, quietBelow = Number.POSITIVE_INFINITY): boolean {
    const room = this.#room(event.room);
    const members = room.members;
    switch (event.kind) {
      case "join":
        members.set(nickKey(event.nick), event.nick);
        break;
      case "leave":
        members.delete(nickKey(event.nick));
        break;
      case "rename":
        members.delete(nickKey(event.nick));
        members.set(nickKey(event.text as string), event.text as string);
        break;
      case "private": {
        const to = members.get(nickKey(event.to as string));
        if (to === undefined) return false;
        event.to = to;
        break;
      }
      default:
        room.history.push(event);
        if (room.history.length > this.#history) room.history.shift();
    }
    this.#settle(event.room, room);
    const notice = event.kind === "join" || event.kind === "leave" || event.kind === "rename";
    if (notice && members.size >= quietBelow) return false;
    if (this.#open.has(event.room)) this.#handlers?.deliver(event);
    return true;
  }

  roster(room: string, limit: number): Roster {
    const members = this.#rooms.get(room)?.members;
    if (members === undefined) return { count: 0, nicks: [] };
    return { count: members.size, nicks: [...members.values()].sort().slice(0, limit) };
  }

  rooms(limit: number): RoomCount[] {
    const out: RoomCount[] = [];
    for (const [name, state] of this.#rooms) {
      if (state.members.size > 0) out.push({ name, members: state.members.size });
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).slice(0, limit);
  }

  #room(name: string): LocalRoomState {
    let room = this.#rooms.get(name);
    if (room !== undefined) return room;
    room = this.#empty.get(name) ?? { members: new Map(), history: [] };
    this.#empty.delete(name);
    this.#rooms.set(name, room);
    return room;
  }

  /**
   * A room that has emptied keeps its history among the empty ones, the oldest of which is
   * forgotten past `emptyRooms` of them: what members send cannot grow the process.
   */
  #settle(name: string, room: LocalRoomState): void {
    if (room.members.size > 0) return;
    this.#rooms.delete(name);
    if (room.history.length === 0) return;
    this.#empty.set(name, room);
    for (const oldest of this.#empty.keys()) {
      if (this.#empty.size <= this.#emptyRooms) break;
      // A room this server has open (its first room) keeps its history, as it always has.
      if (!this.#open.has(oldest)) this.#empty.delete(oldest);
    }
  }
}
