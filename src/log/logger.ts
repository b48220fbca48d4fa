// Structured logging: JSON lines (pino) with an `event` name from a closed set (events.ts) and, for
// anything that happens inside a connection, a short session id. On a terminal the lines are
// prettified; pipe JSON through `npx pino-pretty` to read it the same way.
import { randomBytes } from "node:crypto";
import { pino, type Logger as PinoLogger } from "pino";
import pretty from "pino-pretty";
import type { LogLevel } from "../config/types.js";
import type { LogEvent } from "./events.js";

export type LogFields = Record<string, unknown>;

export interface Log {
  trace(event: LogEvent, msg: string, fields?: LogFields): void;
  debug(event: LogEvent, msg: string, fields?: LogFields): void;
  info(event: LogEvent, msg: string, fields?: LogFields): void;
  warn(event: LogEvent, msg: string, fields?: LogFields): void;
  error(event: LogEvent, msg: string, fields?: LogFields): void;
  fatal(event: LogEvent, msg: string, fields?: LogFields): void;
  /** a logger whose every line carries these fields (e.g. { sid, listener, remote }) */
  child(bindings: LogFields): Log;
  readonly level: LogLevel;
}

export interface LogOptions {
  level: LogLevel;
  /** "pretty" for people, "json" for machines; default: pretty on a TTY, else JSON */
  format?: "pretty" | "json";
  /** where JSON lines go (default stdout); used by tests to capture lines */
  destination?: NodeJS.WritableStream;
}

class PinoLog implements Log {
  constructor(private readonly p: PinoLogger) {}
  get level(): LogLevel {
    return this.p.level as LogLevel;
  }
  private emit(level: LogLevel, event: LogEvent, msg: string, fields?: LogFields): void {
    if (!this.p.isLevelEnabled(level)) return;
    this.p[level]({ event, ...fields }, msg);
  }
  trace(event: LogEvent, msg: string, fields?: LogFields): void {
    this.emit("trace", event, msg, fields);
  }
  debug(event: LogEvent, msg: string, fields?: LogFields): void {
    this.emit("debug", event, msg, fields);
  }
  info(event: LogEvent, msg: string, fields?: LogFields): void {
    this.emit("info", event, msg, fields);
  }
  warn(event: LogEvent, msg: string, fields?: LogFields): void {
    this.emit("warn", event, msg, fields);
  }
  error(event: LogEvent, msg: string, fields?: LogFields): void {
    this.emit("error", event, msg, fields);
  }
  fatal(event: LogEvent, msg: string, fields?: LogFields): void {
    this.emit("fatal", event, msg, fields);
  }
  child(bindings: LogFields): Log {
    return new PinoLog(this.p.child(bindings));
  }
}

export function createLog(opts: LogOptions): Log {
  const format = opts.format ?? (process.stdout.isTTY && !opts.destination ? "pretty" : "json");
  const base = { level: opts.level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime };
  const stream =
    format === "pretty"
      ? pretty({
          sync: true,
          colorize: process.stdout.isTTY,
          ignore: "pid,hostname",
          translateTime: "SYS:standard",
        })
      : (opts.destination ?? pino.destination({ sync: true }));
  return new PinoLog(pino(base, stream));
}

/** A logger that drops everything (CLI commands that must print only their result, tests). */
export function silentLog(): Log {
  return new PinoLog(pino({ level: "silent" }));
}

/** Short, unique-enough id for one connection: 10 base32 characters. */
export function newSessionId(): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz234567";
  const bytes = randomBytes(10);
  let id = "";
  for (const b of bytes) id += alphabet[b & 31];
  return id;
}
