// The chat page: a member of the room over a WebSocket, one text message per line each
// way. Everything the room sends is shown with textContent (never as markup), its
// control characters escaped as the terminal client escapes them.
import { isPrompt, nickColor, parseLine, utf8Length } from "./text.js";

const MAX_LINES = 1000;
const MAX_SEEN = 500;
const maxLine = Number(document.querySelector('meta[name="socketkit-max-line"]')?.content) || 1024;

const log = /** @type {HTMLElement} */ (document.getElementById("log"));
const status = /** @type {HTMLElement} */ (document.getElementById("status"));
const where = /** @type {HTMLElement} */ (document.getElementById("where"));
const nickForm = /** @type {HTMLFormElement} */ (document.getElementById("nick-form"));
const nickInput = /** @type {HTMLInputElement} */ (document.getElementById("nick"));
const sayForm = /** @type {HTMLFormElement} */ (document.getElementById("say-form"));
const lineInput = /** @type {HTMLInputElement} */ (document.getElementById("line"));
const againForm = /** @type {HTMLFormElement} */ (document.getElementById("again-form"));

/** @type {WebSocket | null} */
let ws = null;
/** The nickname chosen (kept over reconnections), null before. */
let nick = null;
/** The nickname has been sent on this connection (the next prompt is a refusal). */
let nickSent = false;
/** The room has taken the nickname on this connection. */
let joined = false;
/** The first room (the server's), and the one this member is in. */
let firstRoom = null;
let room = null;
/** The room the member went to with /join: it goes back there after a reconnection. */
let wantedRoom = null;
/** This member left with /quit: no reconnection. */
let quitting = false;
let attempt = 0;
let connections = 0;
/** @type {ReturnType<typeof setTimeout> | null} */
let retryTimer = null;
/** History lines still to come after "*** The last N messages:". */
let historyLeft = 0;
/** Whether a "missed" notice was shown for this connection's history. */
let missedShown = false;
/** Message lines shown, so the history after a reconnection shows only what was missed. */
const seen = new Set();
const seenOrder = [];

function clock(date) {
  const two = (n) => String(n).padStart(2, "0");
  return `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
}

function remember(line) {
  if (seen.has(line)) return;
  seen.add(line);
  seenOrder.push(line);
  if (seenOrder.length > MAX_SEEN) seen.delete(seenOrder.shift());
}

/** Appends one line of the room to the transcript, as text only. */
function show(raw, extra = "") {
  const parsed = parseLine(raw);
  const row = document.createElement("div");
  row.className = `line ${parsed.kind}${extra === "" ? "" : ` ${extra}`}`;
  const time = document.createElement("time");
  time.textContent = parsed.time ?? clock(new Date());
  row.append(time);
  if (parsed.nick !== null) {
    if (parsed.prefix !== "") {
      const tag = document.createElement("span");
      tag.className = "tag";
      tag.textContent = parsed.prefix;
      row.append(tag);
    }
    const who = document.createElement("span");
    who.className = `nick ${nickColor(parsed.nick)}`;
    who.textContent = parsed.who;
    row.append(who);
  }
  const text = document.createElement("span");
  text.className = "text";
  text.textContent = parsed.text;
  row.append(text);
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  log.append(row);
  while (log.childElementCount > MAX_LINES) log.firstElementChild?.remove();
  if (atBottom) log.scrollTop = log.scrollHeight;
}

function setStatus(text) {
  status.textContent = text;
}

function showWhere() {
  const parts = [];
  if (room !== null) parts.push(`room ${room}`);
  if (joined && nick !== null) parts.push(`you are ${nick}`);
  where.textContent = parts.join(" · ");
}

function showForm(form, input) {
  for (const f of [nickForm, sayForm, againForm]) f.hidden = f !== form;
  input?.focus();
}

function connect() {
  retryTimer = null;
  nickSent = false;
  joined = false;
  historyLeft = 0;
  missedShown = false;
  const url = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/ws`;
  setStatus(connections === 0 ? "Connecting…" : "Reconnecting…");
  const socket = new WebSocket(url);
  ws = socket;
  socket.addEventListener("open", () => {
    attempt = 0;
    connections++;
    setStatus("Connected");
    if (connections > 1) show("*** Reconnected.");
  });
  socket.addEventListener("message", (event) => {
    if (typeof event.data === "string") received(event.data);
  });
  socket.addEventListener("close", () => {
    if (ws !== socket) return;
    ws = null;
    joined = false;
    showWhere();
    if (quitting) {
      setStatus("You left the room");
      showForm(againForm, againForm.querySelector("button"));
      return;
    }
    const seconds = Math.min(15, 0.5 * 2 ** attempt) * (0.8 + Math.random() * 0.4);
    attempt++;
    setStatus(`Connection lost: reconnecting in ${Math.max(1, Math.round(seconds))} s…`);
    retryTimer = setTimeout(connect, seconds * 1000);
  });
}

/** One line from the room. */
function received(line) {
  if (historyLeft > 0) {
    historyLeft--;
    // Seen already, or this member's own (shown when it was typed).
    if (seen.has(line)) return;
    const parsed = parseLine(line);
    if (connections > 1 && parsed.nick !== null && parsed.nick === nick) return;
    remember(line);
    if (connections > 1 && !missedShown) {
      missedShown = true;
      show("*** While you were away:", "missed-start");
    }
    show(line, "history");
    return;
  }
  const history = /^\*\*\* The last (?:(\d+) messages|message):$/.exec(line);
  if (history !== null) {
    historyLeft = history[1] === undefined ? 1 : Number(history[1]);
    // After a reconnection only what was missed is shown, under a notice of its own.
    if (connections <= 1) show(line);
    return;
  }
  if (isPrompt(line)) {
    prompted(line);
    return;
  }
  let m = /^\*\*\* Welcome to socketkit chat, room (\S+)\.$/.exec(line);
  if (m !== null) {
    firstRoom = m[1] ?? null;
    room = firstRoom;
    showWhere();
    if (connections <= 1) show(line);
    return;
  }
  m = /^\*\*\* You are (\S+)\. /.exec(line);
  if (m !== null && !joined) {
    nick = m[1] ?? nick;
    joined = true;
    setStatus("Connected");
    showWhere();
    showForm(sayForm, lineInput);
    show(line);
    // Back in the room it was in before the connection was lost.
    if (wantedRoom !== null && wantedRoom !== firstRoom) {
      send(`/join ${wantedRoom}`);
    }
    return;
  }
  m = /^\*\*\* You are in room (\S+)\.$/.exec(line);
  if (m !== null) {
    room = m[1] ?? room;
    wantedRoom = room;
    showWhere();
  }
  m = /^(?:\[[\d:]+\] )?\*\*\* (\S+) is now known as (\S+)$/.exec(line);
  if (m !== null && m[1] === nick) {
    nick = m[2] ?? nick;
    showWhere();
  }
  m = /^\*\*\* Someone took \S+ while this server was away: you are (\S+)\.$/.exec(line);
  if (m !== null) {
    nick = m[1] ?? nick;
    showWhere();
  }
  const kind = parseLine(line).kind;
  if (kind === "message" || kind === "action") remember(line);
  show(line);
}

/** The room asks for a nickname: the one kept, or the member is asked. */
function prompted(line) {
  if (line.startsWith("error: "))
    show(line.replace(/;? ?(?:choose a nickname|choose another): $/i, ""));
  if (nick !== null && !nickSent) {
    nickSent = true;
    send(nick);
    return;
  }
  nickSent = false;
  setStatus("Choose a nickname");
  showForm(nickForm, nickInput);
  if (nick !== null && nickInput.value === "") nickInput.value = nick;
}

function send(text) {
  if (ws === null || ws.readyState !== WebSocket.OPEN) return false;
  ws.send(text);
  return true;
}

nickForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const wanted = nickInput.value.trim();
  if (wanted === "") return;
  nick = wanted;
  if (ws !== null && ws.readyState === WebSocket.OPEN) {
    nickSent = true;
    send(wanted);
  }
  nickInput.value = "";
});

sayForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = lineInput.value;
  if (text.trim() === "") return;
  if (utf8Length(text) > maxLine) {
    show(`error: line longer than ${maxLine} bytes, not sent`);
    return;
  }
  if (!send(text)) {
    show("error: not connected, not sent (try again once reconnected)");
    return;
  }
  lineInput.value = "";
  const trimmed = text.trim();
  const now = `[${clock(new Date())}]`;
  // The room does not send members their own messages back: they are shown here.
  let own = null;
  if (trimmed.startsWith("//")) own = `${now} <${nick}> ${trimmed.slice(1)}`;
  else if (/^\/me\s+\S/i.test(trimmed)) own = `${now} * ${nick} ${trimmed.slice(3).trim()}`;
  else if (/^\/quit(\s|$)/i.test(trimmed)) quitting = true;
  else if (/^\/part$/i.test(trimmed)) wantedRoom = firstRoom;
  else if (!trimmed.startsWith("/")) own = `${now} <${nick}> ${trimmed}`;
  if (own !== null) {
    remember(own);
    show(own, "own");
  }
});

againForm.addEventListener("submit", (event) => {
  event.preventDefault();
  quitting = false;
  attempt = 0;
  wantedRoom = null;
  showForm(null, null);
  connect();
});

// Back online: no need to wait for the next attempt.
window.addEventListener("online", () => {
  if (retryTimer !== null) {
    clearTimeout(retryTimer);
    connect();
  }
});

connect();
