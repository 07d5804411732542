import type { Socket } from "../socket/socket.ts";
import type { SelectorKey } from "./default-selector.ts";

/**
 * A read-only, live view of a selector's keys by socket (what `getMap()` returns, as
 * Python's `get_map()` mapping): it follows `register` and `unregister`, is empty once the
 * selector is closed, and cannot be changed through.
 */
export class SelectorMapping<T> implements ReadonlyMap<Socket, SelectorKey<T>> {
  readonly #keys: ReadonlyMap<Socket, SelectorKey<T>>;

  constructor(keys: ReadonlyMap<Socket, SelectorKey<T>>) {
    this.#keys = keys;
  }

  get size(): number {
    return this.#keys.size;
  }

  get(socket: Socket): SelectorKey<T> | undefined {
    return this.#keys.get(socket);
  }

  has(socket: Socket): boolean {
    return this.#keys.has(socket);
  }

  forEach(
    callback: (
      key: SelectorKey<T>,
      socket: Socket,
      map: ReadonlyMap<Socket, SelectorKey<T>>,
    ) => void,
    thisArg?: unknown,
  ): void {
    for (const [socket, key] of this.#keys) callback.call(thisArg, key, socket, this);
  }

  entries(): MapIterator<[Socket, SelectorKey<T>]> {
    return this.#keys.entries();
  }

  keys(): MapIterator<Socket> {
    return this.#keys.keys();
  }

  values(): MapIterator<SelectorKey<T>> {
    return this.#keys.values();
  }

  [Symbol.iterator](): MapIterator<[Socket, SelectorKey<T>]> {
    return this.#keys.entries();
  }
}
