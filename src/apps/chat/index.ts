/**
 * The chat: a room that telnet, nc and the tutorials' clients can join, its server and
 * its client.
 *
 * @example
 * ```ts
 * import { chatJoin, chatServe } from "./index.ts";
 * const stop = new AbortController();
 * void chatServe({ port: 5000, signal: stop.signal });
 * await chatJoin("127.0.0.1", 5000, { nick: "alice" });
 * stop.abort(); // alice has left: close the room
 * ```
 * @module
 */
export type {
  ChatBus,
  ChatBusHandlers,
  ChatEvent,
  ChatEventKind,
  MaybePromise,
  RoomCount,
  Roster,
} from "./chat-bus.ts";
export { type ChatJoinOptions, chatJoin } from "./client.ts";
export { LocalChatBus, type LocalChatBusOptions } from "./local-chat-bus.ts";
export { RedisChatBus, type RedisChatBusOptions } from "./redis-chat-bus.ts";
export { parseRedisUrl, type RedisTarget } from "./redis-connection.ts";
export { ChatRoom, type ChatRoomOptions, Member, type MemberLink } from "./room.ts";
export { type ChatServeOptions, chatServe } from "./server.ts";
export {
  clock,
  escapeControls,
  MAX_NICK_LENGTH,
  MAX_ROOM_LENGTH,
  nickProblem,
  roomProblem,
} from "./text.ts";
export { ChatWebServer, type ChatWebServerOptions } from "./web-server.ts";
