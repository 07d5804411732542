import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ChatRoom, type ChatRoomOptions, type Member, type MemberLink } from "./room.ts";
import { nickProblem } from "./text.ts";

/** A member's link that records what it is sent; `full` makes its queue refuse. */
class FakeLink implements MemberLink {
  readonly address = "127.0.0.1:40000";
  received = "";
  closed: boolean | null = null; // null: open; else whether it was flushed
  full = false;
  send(data: Buffer): boolean {
    if (this.full) return false;
    this.received += data.toString("utf8");
    return true;
  }
  close(flush: boolean): void {
    this.closed = flush;
  }
  /** What was received since the last call. */
  take(): string {
    const out = this.received;
    this.received = "";
    return out;
  }
}

const NOON = () => new Date(2026, 0, 1, 12, 0, 5);

function room(options: ChatRoomOptions = {}) {
  const r = new ChatRoom({ now: NOON, ...options });
  const say = (m: Member, line: string) => r.line(m, Buffer.from(line, "utf8"));
  const join = (nick: string | null) => {
    const link = new FakeLink();
    const member = r.join(link) as Member;
    if (nick !== null) say(member, nick);
    link.take();
    return { link, member };
  };
  return { r, say, join };
}

describe("ChatRoom", () => {
  it("welcomes with the room name, who is online and a nickname prompt; announces the joiner", () => {
    const { r, say, join } = room({ name: "tutorial" });
    const alice = join("alice");
    const link = new FakeLink();
    const bob = r.join(link) as Member;
    assert.equal(
      link.take(),
      "*** Welcome to socketkit chat, room tutorial.\r\n*** Online (1): alice\r\n*** Choose a nickname: ",
    );
    say(bob, "bob");
    assert.equal(link.take(), "*** You are bob. Type a message, or /help.\r\n");
    assert.equal(alice.link.take(), "[12:00:05] *** bob joined\r\n");
    assert.deepEqual(r.nicks(), ["alice", "bob"]);
  });

  it("relays a message to everyone else, stamped, and not back to its sender", () => {
    const { say, join } = room();
    const alice = join("alice");
    const bob = join("bob");
    const carol = join("carol");
    alice.link.take();
    bob.link.take();
    say(bob.member, "hello, room  ");
    assert.equal(alice.link.take(), "[12:00:05] <bob> hello, room\r\n");
    assert.equal(carol.link.take(), "[12:00:05] <bob> hello, room\r\n");
    assert.equal(bob.link.take(), "");
  });

  it("keeps nicknames unique whatever their case, and valid", () => {
    const { r, say, join } = room();
    join("alice");
    const link = new FakeLink();
    const other = r.join(link) as Member;
    link.take();
    say(other, "ALICE");
    assert.equal(link.take(), "error: the nickname ALICE is taken; choose another: ");
    say(other, "9lives");
    assert.match(link.take(), /^error: a nickname is letters, digits .*choose a nickname: $/);
    say(other, "x".repeat(25));
    assert.match(link.take(), /at most 24 characters/);
    say(other, "/nick Zoë");
    assert.match(link.take(), /You are Zoë\./);
    // Renaming: a refusal is a whole line, and the nickname stays.
    say(other, "/nick ALICE");
    assert.equal(link.take(), "error: the nickname ALICE is taken; you are still Zoë\r\n");
    say(other, "/nick 9lives");
    assert.match(link.take(), /^error: a nickname is letters, .*; you are still Zoë\r\n$/);
    assert.deepEqual([...r.nicks()].sort(), ["Zoë", "alice"].sort());
  });

  it("shows the last --history messages to whoever joins", () => {
    const { r, say, join } = room({ history: 2 });
    const alice = join("alice");
    for (const text of ["one", "two", "three"]) say(alice.member, text);
    const link = new FakeLink();
    r.join(link);
    assert.match(
      link.take(),
      /\*\*\* The last 2 messages:\r\n\[12:00:05\] <alice> two\r\n\[12:00:05\] <alice> three\r\n\*\*\* Choose a nickname: $/,
    );
  });

  it("has /me, /msg, /who, /nick, /help and /quit", () => {
    const { say, join } = room();
    const alice = join("alice");
    const bob = join("bob");
    const carol = join("carol");
    for (const m of [alice, bob, carol]) m.link.take();

    say(alice.member, "/me waves");
    assert.equal(bob.link.take(), "[12:00:05] * alice waves\r\n");
    carol.link.take();

    say(alice.member, "/msg BOB just between us");
    assert.equal(bob.link.take(), "[12:00:05] (private) <alice> just between us\r\n");
    assert.equal(alice.link.take(), "[12:00:05] (private to bob) <alice> just between us\r\n");
    assert.equal(carol.link.take(), "", "a private message reaches no one else");
    say(alice.member, "/msg dave hi");
    assert.equal(alice.link.take(), "error: no one called dave is online\r\n");

    say(carol.member, "/who");
    assert.equal(carol.link.take(), "*** Online (3): alice, bob, carol\r\n");

    say(carol.member, "/nick caroline");
    assert.equal(alice.link.take(), "[12:00:05] *** carol is now known as caroline\r\n");
    bob.link.take();
    carol.link.take();

    say(bob.member, "/help");
    assert.match(bob.link.take(), /\/msg NICK TEXT/);
    say(bob.member, "/frobnicate");
    assert.equal(bob.link.take(), "error: unknown command /frobnicate (try /help)\r\n");
    say(bob.member, "//not a command");
    assert.equal(alice.link.take(), "[12:00:05] <bob> /not a command\r\n");

    say(bob.member, "/quit see you");
    assert.equal(bob.link.take(), "*** Bye.\r\n");
    assert.equal(bob.link.closed, true, "closed after the goodbye is sent");
    assert.equal(alice.link.take(), "[12:00:05] *** bob left (quit: see you)\r\n");
  });

  it("shows control characters and ANSI escapes instead of passing them on", () => {
    const { r, say, join } = room();
    const alice = join("alice");
    const mallory = join("mallory");
    alice.link.take();
    say(mallory.member, "\x1b[2J\x1b]0;pwned\x07 fake \u202eevil\x9b31m \x7f\ttab");
    assert.equal(
      alice.link.take(),
      "[12:00:05] <mallory> ^[[2J^[]0;pwned^G fake <U+202E>evil<U+009B>31m ^? tab\r\n",
    );
    r.line(mallory.member, Buffer.from([0x68, 0x69, 0xff, 0xfe]));
    assert.equal(alice.link.take(), "[12:00:05] <mallory> hi\ufffd\ufffd\r\n", "invalid UTF-8");
  });

  it("refuses messages over the rate, then disconnects a member refused too often", () => {
    const { say, join } = room({ rate: 1, burst: 3, maxStrikes: 4 });
    const alice = join("alice");
    const flood = join("flood");
    alice.link.take();
    for (let i = 0; i < 5; i++) say(flood.member, `message ${i}`);
    assert.equal(alice.link.take().split("\r\n").filter(Boolean).length, 3, "the burst only");
    assert.equal(
      flood.link.take(),
      "error: too many messages: at most 1 a second, slow down\r\n".repeat(2),
    );
    for (let i = 0; i < 2; i++) say(flood.member, "more");
    assert.match(flood.link.take(), /too many refused lines, disconnecting\r\n\*\*\* Bye\.\r\n$/);
    assert.equal(flood.link.closed, true);
    assert.equal(
      alice.link.take(),
      "[12:00:05] *** flood left (disconnected: too many refused lines)\r\n",
    );
  });

  it("counts renames against the rate, and a rename does not end a run of refused lines", () => {
    const { say, join } = room({ rate: 1, burst: 3, maxStrikes: 4 });
    const alice = join("alice");
    const flood = join("flood");
    alice.link.take();
    for (let i = 0; i < 5; i++) say(flood.member, `/nick flood${i}`);
    assert.equal(
      alice.link.take(),
      [
        "[12:00:05] *** flood is now known as flood0\r\n",
        "[12:00:05] *** flood0 is now known as flood1\r\n",
        "[12:00:05] *** flood1 is now known as flood2\r\n",
      ].join(""),
      "the burst only",
    );
    assert.match(flood.link.take(), /(error: too many messages: at most 1 a second.*\r\n){2}$/);
    say(flood.member, "/frobnicate");
    assert.equal(flood.link.closed, null, "three refused lines so far");
    say(flood.member, "/frobnicate");
    assert.equal(flood.link.closed, true, "the renames let through did not clear the count");
  });

  it("tells only the member of its rename above quietAbove members", () => {
    const { say, join } = room({ quietAbove: 2 });
    const alice = join("alice");
    const bob = join("bob");
    const carol = join("carol");
    for (const m of [alice, bob, carol]) m.link.take();
    say(carol.member, "/nick caroline");
    assert.equal(alice.link.take(), "", "no notice to the others");
    assert.equal(bob.link.take(), "");
    assert.equal(carol.link.take(), "[12:00:05] *** carol is now known as caroline\r\n");
  });

  it("disconnects a member whose line took too long, telling it why", () => {
    const { r, join } = room();
    const alice = join("alice");
    const slow = join("slow");
    alice.link.take();
    r.tooSlow(slow.member, 300);
    assert.equal(slow.link.take(), "error: line not finished within 300 s\r\n*** Bye.\r\n");
    assert.equal(slow.link.closed, true);
    assert.equal(
      alice.link.take(),
      "[12:00:05] *** slow left (disconnected: a line took too long)\r\n",
    );
  });

  it("disconnects a member that is not reading, and the others carry on", () => {
    const { say, join } = room();
    const alice = join("alice");
    const slow = join("slow");
    const bob = join("bob");
    alice.link.take();
    slow.link.full = true;
    say(alice.member, "anyone?");
    assert.equal(slow.link.closed, false, "closed at once, nothing flushed");
    assert.equal(
      bob.link.take(),
      "[12:00:05] <alice> anyone?\r\n[12:00:05] *** slow left (disconnected: not reading)\r\n",
    );
    say(alice.member, "still here");
    assert.equal(bob.link.take(), "[12:00:05] <alice> still here\r\n");
  });

  it("stops announcing joins and leaves above quietAbove members", () => {
    const { r, join } = room({ quietAbove: 2 });
    const alice = join("alice");
    join("bob");
    assert.match(alice.link.take(), /\*\*\* bob joined/);
    const carol = join("carol");
    assert.equal(alice.link.take(), "", "a third member is not announced");
    r.leave(carol.member, "quit");
    assert.equal(alice.link.take(), "", "nor its leaving (the room had 3)");
    join("dave");
    assert.equal(alice.link.take(), "");
  });

  it("tells whoever comes when the room is full", () => {
    const { r, join } = room({ maxMembers: 1 });
    join("alice");
    const link = new FakeLink();
    assert.equal(r.join(link), null);
    assert.equal(link.take(), "error: the room is full (1 members)\r\n");
    assert.equal(link.closed, true);
  });
});

describe("ChatRoom rooms", () => {
  it("moves a member with /join and /part, one room at a time, each with its own members", () => {
    const { say, join } = room({ name: "lobby" });
    const alice = join("alice");
    const bob = join("bob");
    const carol = join("carol");
    for (const m of [alice, bob, carol]) m.link.take();

    say(bob.member, "/join games");
    assert.equal(
      bob.link.take(),
      "*** You are in room games.\r\n*** Online (1): bob\r\n",
      "shown the room it arrives in",
    );
    assert.equal(alice.link.take(), "[12:00:05] *** bob left (gone to games)\r\n");
    say(carol.member, "/join games");
    assert.match(carol.link.take(), /\*\*\* Online \(2\): bob, carol\r\n$/);
    assert.equal(bob.link.take(), "[12:00:05] *** carol joined\r\n");
    assert.equal(alice.link.take(), "[12:00:05] *** carol left (gone to games)\r\n");

    say(bob.member, "in games");
    assert.equal(carol.link.take(), "[12:00:05] <bob> in games\r\n");
    assert.equal(alice.link.take(), "", "another room's message reaches no one in the lobby");
    say(alice.member, "in the lobby");
    assert.equal(bob.link.take(), "");
    say(alice.member, "/who");
    assert.equal(alice.link.take(), "*** Online (1): alice\r\n");
    say(alice.member, "/msg bob hi");
    assert.equal(alice.link.take(), "error: no one called bob is online\r\n", "not in the room");

    say(bob.member, "/rooms");
    assert.equal(bob.link.take(), "*** Rooms (2): games (2), lobby (1)\r\n");
    say(bob.member, "/join games");
    assert.equal(bob.link.take(), "error: you are in games already\r\n");
    say(bob.member, "/join no room");
    assert.match(bob.link.take(), /^error: a room's name is letters/);

    say(bob.member, "/part");
    assert.match(
      bob.link.take(),
      /^\*\*\* You are in room lobby\.\r\n\*\*\* Online \(2\): alice, bob\r\n\*\*\* The last message:\r\n\[12:00:05\] <alice> in the lobby\r\n$/,
    );
    assert.equal(carol.link.take(), "[12:00:05] *** bob left (gone to lobby)\r\n");
    assert.equal(alice.link.take(), "[12:00:05] *** bob joined\r\n");
    say(bob.member, "/part");
    assert.match(bob.link.take(), /^error: you are in lobby, the first room/);
  });

  it("keeps each room's history, and nicknames unique over every room", () => {
    const { r, say, join } = room({ history: 5 });
    const alice = join("alice");
    say(alice.member, "/join games");
    say(alice.member, "gg");
    say(alice.member, "/part");
    alice.link.take();
    const bob = join("bob");
    say(bob.member, "/join games");
    assert.match(bob.link.take(), /The last message:\r\n\[12:00:05\] <alice> gg\r\n$/);
    const link = new FakeLink();
    const other = r.join(link) as Member;
    link.take();
    say(other, "Bob");
    assert.equal(link.take(), "error: the nickname Bob is taken; choose another: ");
    say(bob.member, "/quit");
    say(other, "Bob");
    assert.match(link.take(), /You are Bob\./, "free once its holder has quit");
    say(other, "/rooms");
    assert.equal(link.take(), "*** Rooms (1): lobby (2)\r\n", "an empty room is not listed");
  });
});

describe("nickProblem", () => {
  it("accepts letters of any script, digits after the first, and IRC's punctuation", () => {
    for (const ok of ["alice", "Zoë", "Вася", "a_b-c", "[away]", "x9"])
      assert.equal(nickProblem(ok), null, ok);
    for (const bad of ["", "9x", "-x", "a b", "a\x1bb", "<alice>", "a".repeat(25)]) {
      assert.notEqual(nickProblem(bad), null, JSON.stringify(bad));
    }
  });
});
