/**
 * What the chat's rooms share between the servers that hold their members: nicknames,
 * each room's roster, its events in one order, and its history. {@link ChatRoom} keeps the
 * rules (commands, limits, what each member is shown) and talks to one `ChatBus`: the
 * in-process {@link LocalChatBus} for one server, {@link RedisChatBus} for many.
 * @module
 */

/** A value now (the in-process bus) or later (a bus over the network). */
export type MaybePromise<T> = T | Promise<T>;

/**
 * What happened in a room: a message (`say`), an action (`me`), a private message
 * (`private`, to `to`), a member joining, leaving (`text` is the reason) or renamed (`text`
 * is the new nickname).
 */
export type ChatEventKind = "say" | "me" | "private" | "join" | "leave" | "rename";

/** One event in a room's order, as every server delivers it. */
export interface ChatEvent {
  kind: ChatEventKind;
  /** The room. */
  room: string;
  /** Who did it (before a rename). */
  nick: string;
  /** The id of the server that accepted it (its member's server). */
  server: string;
  /** The member's number on that server, so that its own server can tell it apart. */
  member: number;
  /** When the server accepted it, in milliseconds since the epoch. */
  time: number;
  /** The message, the action, the leave's reason or the new nickname. */
  text?: string;
  /** A private message's recipient, as the roster spells it. */
  to?: string;
  /**
   * Said while its server was cut off from the others (its members heard it then): the
   * others get it when the server is back, after what they said meanwhile, and show it
   * marked `(late)`.
   */
  late?: boolean;
}

/** Told to the room by the bus. */
export interface ChatBusHandlers {
  /** An event of a room opened with {@link ChatBus.open}, in that room's order. */
  deliver(event: ChatEvent): void;
  /**
   * The shared state was lost (`false`: the server's members only hear each other) or
   * is back (`true`); `message` says so to the members.
   */
  shared?(shared: boolean, message: string): void;
  /**
   * The nickname of a member of this server was taken elsewhere while the shared state
   * was out of reach; the bus gave it `nick` instead.
   */
  renamed?(old: string, nick: string): void;
}

/** A room and how many are in it, for `/rooms`. */
export interface RoomCount {
  name: string;
  members: number;
}

/** Who is in a room: the count, and up to a bounded number of nicknames, sorted. */
export interface Roster {
  count: number;
  nicks: string[];
}

/**
 * The chat's shared state, behind one interface so that the room's rules do not depend on
 * where it lives. Nicknames are unique over the whole bus, case-insensitively; a member is
 * in one room at a time.
 *
 * Methods return values at once where the state is in the process, and promises where it
 * is not; a promise rejects when the shared state cannot be reached.
 */
export interface ChatBus {
  /** This server's id, stamped on its events. */
  readonly server: string;
  /** Whether other servers share the rooms (a nickname not held here may be held there). */
  readonly shared: boolean;
  /** Begins: from now on `handlers.deliver` gets the events of the rooms opened. */
  start(handlers: ChatBusHandlers): MaybePromise<void>;
  /** Ends: this server's members are gone; its claims are released. */
  stop(): Promise<void>;
  /**
   * Starts delivering the room's events (those put in order from now on); returns its last
   * `history` messages and actions, oldest first.
   */
  open(room: string, history: number): MaybePromise<ChatEvent[]>;
  /** Stops delivering the room's events (no member of this server is in it). */
  close(room: string): void;
  /** Takes a nickname for a member of this server; false when someone has it. */
  claim(nick: string): MaybePromise<boolean>;
  /** Gives up a nickname taken with {@link claim}. */
  release(nick: string): void;
  /**
   * Puts an event in its room's order, changing the roster as it says (`join`, `leave`,
   * `rename`). A join, leave or rename goes in only while the room has fewer than
   * `quietBelow` members after it (its roster changes either way). Resolves to whether the
   * event went in: false for a notice kept quiet, or a private message to no one in the room.
   * Rejects with a `SocketError` whose `code` is `ERR_CHAT_BACKLOG` when too many events
   * wait for the shared state already, or `ERR_CHAT_APART` for a private message to someone
   * not on this server while the others cannot be reached (neither was sent).
   */
  publish(event: ChatEvent, quietBelow?: number): MaybePromise<boolean>;
  /** Who is in the room: the count and at most `limit` nicknames, sorted. */
  roster(room: string, limit: number): MaybePromise<Roster>;
  /** The rooms that have members, by name, at most `limit` of them. */
  rooms(limit: number): MaybePromise<RoomCount[]>;
}

/** Calls `then` with the value, at once when it is not a promise. */
export function whenReady<T>(
  value: MaybePromise<T>,
  then: (value: T) => void,
  failed: (err: unknown) => void,
): void {
  if (value instanceof Promise) value.then(then, failed);
  else then(value);
}
