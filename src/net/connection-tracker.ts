// Knows every open connection, so a shutdown can stop accepting, let sessions finish what they are
// doing for a bounded time (DESIGN.md: SIGTERM lets in-flight transactions finish), then close the rest.
import type { Socket } from "node:net";

export interface TrackedSession {
  /** asks the session to end at its next safe point (e.g. after the current transaction) */
  onShutdown(): void;
}

export class ConnectionTracker {
  private readonly sockets = new Map<Socket, TrackedSession | null>();
  private drained: (() => void) | null = null;

  add(socket: Socket, session: TrackedSession | null = null): void {
    this.sockets.set(socket, session);
    socket.once("close", () => {
      this.sockets.delete(socket);
      if (this.sockets.size === 0 && this.drained) this.drained();
    });
  }

  get size(): number {
    return this.sockets.size;
  }

  /** Tells every session to finish, waits up to graceMs, then destroys what is left. */
  async shutdown(graceMs: number): Promise<{ forced: number }> {
    for (const [socket, session] of this.sockets) {
      if (session) session.onShutdown();
      else socket.end();
    }
    if (this.sockets.size === 0) return { forced: 0 };
    const allClosed = new Promise<void>((resolve) => {
      this.drained = resolve;
    });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), graceMs);
    });
    const outcome = await Promise.race([allClosed, timedOut]);
    clearTimeout(timer);
    if (outcome !== "timeout") return { forced: 0 };
    const forced = this.sockets.size;
    for (const socket of this.sockets.keys()) socket.destroy();
    return { forced };
  }
}
