// Binding a listener, with errors a sysadmin can act on: which listener, which address, why, and
// the config key to change.
import type { AddressInfo, Server } from "node:net";
import type { ListenAddress, ListenerName } from "../config/types.js";

export class BindError extends Error {
  constructor(
    readonly listener: ListenerName,
    readonly address: ListenAddress,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "BindError";
  }
}

function explain(listener: ListenerName, addr: ListenAddress, code: string): string {
  const where = `listener ${listener} cannot bind ${addr.text}`;
  const change = `change listen.${listener} in the config file (or set it to [] to disable this listener)`;
  switch (code) {
    case "EADDRINUSE":
      return `${where}: the address is already in use by another program (ss -ltnp 'sport = :${addr.port}' shows which); stop that program or ${change}`;
    case "EACCES":
    case "EPERM":
      return `${where}: permission denied; ports below 1024 need root or CAP_NET_BIND_SERVICE (setcap 'cap_net_bind_service=+ep' "$(command -v node)"), or ${change} to a port above 1023`;
    case "EADDRNOTAVAIL":
      return `${where}: ${addr.host} is not an address of this machine; ${change}`;
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return `${where}: the host name ${addr.host} does not resolve; ${change}`;
    default:
      return `${where}: ${code}; ${change}`;
  }
}

/** Listens on one address; resolves with the bound address (port 0 → the real port). */
export function bindServer(
  server: Server,
  listener: ListenerName,
  addr: ListenAddress,
): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off("listening", onListening);
      const code = err.code ?? "error";
      reject(new BindError(listener, addr, code, explain(listener, addr, code)));
    };
    const onListening = () => {
      server.off("error", onError);
      resolve(server.address() as AddressInfo);
    };
    server.once("error", onError);
    server.once("listening", onListening);
    // "*" and "0.0.0.0" both mean every IPv4 address; "[::]" every address (dual stack).
    const host = addr.host === "*" ? "0.0.0.0" : addr.host;
    server.listen({ host, port: addr.port, backlog: 511 });
  });
}
