// Validating the domains and addresses an administrator types, before they reach the store.
import { domainToASCII } from "node:url";
import { CliError } from "./errors.js";

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/** Lower-case ASCII form of a domain (IDN → A-labels), or a CliError saying why not. */
export function normalizeDomain(input: string): string {
  const trimmed = input.trim().replace(/\.$/, "");
  const ascii = domainToASCII(trimmed.toLowerCase());
  if (!ascii || ascii.length > 253 || !ascii.includes(".") || !ascii.split(".").every((l) => LABEL.test(l))) {
    throw new CliError(`"${input}" is not a valid domain name (expected something like example.com)`);
  }
  return ascii;
}

/** "local@domain" with a normalized domain; the local part is kept as typed but lower-cased. */
export function normalizeAddress(input: string, what = "address"): string {
  const at = input.lastIndexOf("@");
  if (at <= 0 || at === input.length - 1) {
    throw new CliError(`"${input}" is not a valid ${what} (expected local@domain, e.g. alice@example.com)`);
  }
  const local = input.slice(0, at);
  if (
    local.length > 64 ||
    /[\s<>()[\]\\,;:"@]/.test(local) ||
    local.startsWith(".") ||
    local.endsWith(".") ||
    local.includes("..")
  ) {
    throw new CliError(
      `"${input}" is not a valid ${what}: the part before @ has characters mail addresses cannot hold`,
    );
  }
  return `${local.toLowerCase()}@${normalizeDomain(input.slice(at + 1))}`;
}

/** An alias key: an address, or "@domain" for the domain's catch-all. */
export function normalizeAliasAddress(input: string): string {
  if (input.startsWith("@")) return `@${normalizeDomain(input.slice(1))}`;
  return normalizeAddress(input, "alias address");
}

export function domainOf(address: string): string {
  return address.slice(address.lastIndexOf("@") + 1);
}
