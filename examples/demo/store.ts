/**
 * The demo's data: an append-only log of JSON lines (`events.jsonl`) plus the uploaded
 * files, in one data folder. Several processes may share the folder (`carafe -w 2`
 * starts workers that share nothing else): each event is one `write()` to a file opened
 * with `O_APPEND`, which Linux keeps whole and in order for small writes, and every
 * process reads the lines the others appended before it answers. Nothing is ever
 * rewritten in place, so a crash cannot leave a half-updated file; a line cut short by
 * one is skipped when read.
 *
 * @example
 * ```ts
 * import { Store } from "./store.ts";
 * const store = new Store("/tmp/demo-data");
 * await store.add({ type: "todo", id: Store.newId(), text: "Buy milk", by: "alice" });
 * console.log((await store.state()).todos.map((t) => t.text)); // [ "Buy milk", ... ]
 * ```
 *
 * @module
 */
import { randomBytes } from "node:crypto";
import { link, mkdir, open, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** What happened, as stored: one line of the log each. */
export type Event =
  | { type: "todo"; id: string; text: string; by: string }
  | { type: "done"; id: string; by: string }
  | { type: "file"; id: string; name: string; size: number; by: string }
  | { type: "login" | "logout"; by: string };

/** An event as read back: with its place in the log (`seq`, the same in every process) and time. */
export type Logged = Event & { seq: number; at: string };

/** A to-do item. */
export interface Todo {
  id: string;
  text: string;
  by: string;
  at: string;
  done: boolean;
}

/** An uploaded file: `id` names it on disk, `name` is what the client called it. */
export interface Upload {
  id: string;
  name: string;
  size: number;
  by: string;
  at: string;
}

/** Everything the pages show, rebuilt from the log. */
export interface State {
  todos: Todo[];
  files: Upload[];
  /** The latest events, newest last (at most {@linkcode ACTIVITY_KEPT}). */
  activity: Logged[];
  /** The `seq` of the last event read. */
  lastSeq: number;
}

/** How many recent events the live feed can replay. */
export const ACTIVITY_KEPT = 30;
/** Longest line accepted in the log (a longer one was not written by this store). */
const MAX_LINE = 16 * 1024;
/** The log is read in pieces of this size, so a large log never sits in memory whole. */
const CHUNK = 1024 * 1024;

/** The demo's store on one data folder. Create one per process. */
export class Store {
  /** The data folder. */
  readonly dir: string;
  /** Where uploads are kept, each under its id. */
  readonly uploads: string;
  #log: string;
  #offset = 0;
  #seq = 0;
  #todos = new Map<string, Todo>();
  #files = new Map<string, Upload>();
  #activity: Logged[] = [];
  #ready: Promise<void> | undefined;
  #reading: Promise<void> = Promise.resolve();

  /** @param dir the data folder; created on first use */
  constructor(dir: string) {
    this.dir = dir;
    this.uploads = join(dir, "uploads");
    this.#log = join(dir, "events.jsonl");
  }

  /** A fresh random id (12 hex digits): unique across processes without coordination. */
  static newId(): string {
    return randomBytes(6).toString("hex");
  }

  /** Appends one event. One `write()` with `O_APPEND`: whole, even with other writers. */
  async add(event: Event): Promise<void> {
    await this.#prepare();
    const line = JSON.stringify({ ...event, at: new Date().toISOString() }) + "\n";
    if (line.length > MAX_LINE) throw new RangeError(`event too large for the log (${line.length} bytes)`);
    const file = await open(this.#log, "a");
    try {
      await file.write(line);
    } finally {
      await file.close();
    }
  }

  /** The current state, after reading what any process appended since the last call. */
  async state(): Promise<State> {
    await this.#prepare();
    // One reader at a time in this process: concurrent requests share the read.
    const read = this.#reading.catch(() => {}).then(() => this.#readNew());
    this.#reading = read;
    await read;
    return {
      todos: [...this.#todos.values()],
      files: [...this.#files.values()],
      activity: [...this.#activity],
      lastSeq: this.#seq,
    };
  }

  /** Stores an upload's bytes under a new id (never the client's name) and returns the id. */
  async saveUpload(bytes: Uint8Array): Promise<string> {
    await this.#prepare();
    const id = Store.newId();
    await writeFile(join(this.uploads, id), bytes, { flag: "wx", mode: 0o644 });
    return id;
  }

  /**
   * A secret shared by every process on this folder: read from `secret`, or created
   * there once. The file is written whole under a temporary name, then linked into
   * place, which fails if another process got there first; then theirs is used.
   */
  async secret(): Promise<string> {
    await this.#prepare();
    const path = join(this.dir, "secret");
    try {
      return (await readFile(path, "utf8")).trim();
    } catch (err) {
      if ((err as { code?: string }).code !== "ENOENT") throw err;
    }
    const temp = `${path}.${Store.newId()}`;
    await writeFile(temp, randomBytes(32).toString("hex"), { mode: 0o600 });
    try {
      await link(temp, path);
    } catch (err) {
      if ((err as { code?: string }).code !== "EEXIST") throw err;
    } finally {
      await rm(temp, { force: true });
    }
    return (await readFile(path, "utf8")).trim();
  }

  #prepare(): Promise<void> {
    this.#ready ??= mkdir(this.uploads, { recursive: true }).then(() => undefined);
    return this.#ready;
  }

  /** Reads the complete lines appended since the last read (a line still being written waits). */
  async #readNew(): Promise<void> {
    let file;
    try {
      file = await open(this.#log, "r");
    } catch (err) {
      if ((err as { code?: string }).code === "ENOENT") return;
      throw err;
    }
    try {
      const { size } = await file.stat();
      const decoder = new TextDecoder();
      let carry = new Uint8Array(0); // the start of a line whose end is in the next piece
      while (this.#offset + carry.length < size) {
        const want = Math.min(CHUNK, size - this.#offset - carry.length);
        const piece = new Uint8Array(carry.length + want);
        piece.set(carry);
        const { bytesRead } = await file.read(piece, carry.length, want, this.#offset + carry.length);
        if (bytesRead === 0) break;
        const bytes = piece.subarray(0, carry.length + bytesRead);
        const end = bytes.lastIndexOf(10); // "\n"
        if (end < 0 && bytes.length > MAX_LINE) throw new Error(`${this.#log}: a line longer than ${MAX_LINE} bytes; the log was not written by this store`);
        if (end >= 0) {
          for (const line of decoder.decode(bytes.subarray(0, end)).split("\n")) this.#apply(line);
          this.#offset += end + 1;
        }
        // A line without its newline yet waits for the next piece, or for the next read.
        carry = bytes.slice(end + 1);
      }
    } finally {
      await file.close();
    }
  }

  #apply(line: string): void {
    if (!line || line.length > MAX_LINE) return;
    let event: Logged;
    try {
      event = { ...JSON.parse(line), seq: this.#seq + 1 };
    } catch {
      console.error(`demo store: skipping a line of ${this.#log} that is not JSON`);
      return;
    }
    this.#seq++;
    if (event.type === "todo") this.#todos.set(event.id, { id: event.id, text: event.text, by: event.by, at: event.at, done: false });
    else if (event.type === "done") {
      const todo = this.#todos.get(event.id);
      if (todo) todo.done = true;
    } else if (event.type === "file") {
      this.#files.set(event.id, { id: event.id, name: event.name, size: event.size, by: event.by, at: event.at });
    }
    this.#activity.push(event);
    if (this.#activity.length > ACTIVITY_KEPT) this.#activity.shift();
  }
}
