// Address normalisation for the store's directory (accounts, aliases, recipient lookup).
// Domains are lower-case ASCII (A-labels for IDN). Local parts of *local* addresses are
// lower-cased too, as most servers do, so "Alice@Example.COM" reaches alice@example.com.
// Remote addresses keep their local part: only the remote server may interpret its case.

import { domainToASCII } from "node:url";
import { StoreError } from "./types.js";

export interface AddressParts {
  local: string;
  domain: string;
}

const LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;
const CONTROL = /[\x00-\x1f\x7f]/;

function invalid(what: string, value: string): StoreError {
  return new StoreError("invalid", `invalid ${what}: ${JSON.stringify(value)}`);
}

/** Lower-case ASCII domain without a trailing dot; Unicode names become A-labels. */
export function normalizeDomain(domain: string): string {
  let d = domain.trim().toLowerCase();
  if (d.endsWith(".")) d = d.slice(0, -1);
  if (/[^\x00-\x7f]/.test(d)) d = domainToASCII(d);
  if (d.length === 0 || d.length > 253 || !d.split(".").every((l) => LABEL.test(l))) {
    throw invalid("domain", domain);
  }
  return d;
}

/** Splits at the last "@" (a quoted local part may contain "@"); strips one pair of <>. */
export function splitAddress(address: string): AddressParts {
  let a = address.trim();
  if (a.startsWith("<") && a.endsWith(">")) a = a.slice(1, -1);
  const at = a.lastIndexOf("@");
  if (at < 0) throw invalid("address", address);
  return { local: a.slice(0, at), domain: a.slice(at + 1) };
}

function checkLocal(local: string, address: string): void {
  if (local.length === 0 || local.length > 254 || CONTROL.test(local)) throw invalid("address", address);
}

/** A local mailbox address: "local@domain", all lower-case. */
export function normalizeAddress(address: string): string {
  const { local, domain } = splitAddress(address);
  checkLocal(local, address);
  return `${local.toLowerCase()}@${normalizeDomain(domain)}`;
}

/** Like normalizeAddress, but also accepts the catch-all form "@domain". */
export function normalizeAliasAddress(address: string): string {
  const { local, domain } = splitAddress(address);
  if (local !== "") checkLocal(local, address);
  return `${local.toLowerCase()}@${normalizeDomain(domain)}`;
}

/** A remote address: the domain is normalised, the local part kept as given. */
export function normalizeRemoteAddress(address: string): string {
  const { local, domain } = splitAddress(address);
  checkLocal(local, address);
  return `${local}@${normalizeDomain(domain)}`;
}

/** "local+tag" → { base: "local", tag: "tag" }; null without a tag (or for quoted local parts). */
export function splitSubaddress(local: string): { base: string; tag: string } | null {
  if (local.startsWith('"')) return null;
  const plus = local.indexOf("+");
  if (plus <= 0) return null;
  return { base: local.slice(0, plus), tag: local.slice(plus + 1) };
}

export function domainOf(address: string): string {
  return splitAddress(address).domain.toLowerCase();
}
