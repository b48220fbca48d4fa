// `postamt config describe`: every option with its type, default and meaning, generated from the
// schema table. The markdown form is docs/config.md (a test keeps the two equal). Defaults that depend
// on the machine are shown symbolically, so the output is the same everywhere.

import {
  isDerived,
  type RawValue,
  SCHEMA,
  type SchemaEntry,
  TABLE_DOCS,
  tableOf,
  VALUE_FORMATS,
} from "./schema.js";

export type DescribeFormat = "text" | "markdown";

export function describeConfig(format: DescribeFormat): string {
  return format === "markdown" ? markdown() : text();
}

/** Entries grouped by TOML table, top-level keys first (TOML requires them before any [table]). */
function groups(): Array<{ table: string; entries: SchemaEntry[] }> {
  const byTable = new Map<string, SchemaEntry[]>([["", []]]);
  for (const e of SCHEMA) {
    const t = tableOf(e.key);
    if (!byTable.has(t)) byTable.set(t, []);
    byTable.get(t)!.push(e);
  }
  return [...byTable]
    .filter(([, entries]) => entries.length > 0)
    .map(([table, entries]) => ({ table, entries }));
}

/** Markdown code spans to plain text, for the terminal and TOML comments. */
const plain = (s: string) => s.replace(/`([^`]*)`/g, "$1");

/** A value as TOML text. */
export function tomlValue(v: RawValue): string {
  if (Array.isArray(v)) return `[${v.map((x) => JSON.stringify(x)).join(", ")}]`;
  return typeof v === "string" ? JSON.stringify(v) : String(v);
}

function defaultText(e: SchemaEntry): string {
  if (e.default === null) return "unset";
  return isDerived(e.default) ? e.default.text : tomlValue(e.default);
}

/** A TOML file with every key: set to its default, or commented out with an example when the
 *  default is computed or unset. Parses and validates as is (a test checks). */
export function exampleFile(): string {
  const lines: string[] = [];
  for (const { table, entries } of groups()) {
    if (table !== "") lines.push("", `[${table}]`);
    for (const e of entries) {
      const name = table === "" ? e.key : e.key.slice(table.length + 1);
      if (e.default !== null && !isDerived(e.default)) lines.push(`${name} = ${tomlValue(e.default)}`);
      else if (e.example !== undefined) {
        lines.push(`# ${name} = ${tomlValue(e.example)}    # default: ${plain(defaultText(e))}`);
      }
    }
  }
  return `${lines.join("\n")}\n`;
}

const INTRO = [
  "Postamt reads one TOML file: the one given with `--config FILE`; else `postamt.toml` in the current " +
    "directory; else the file named by the `POSTAMT_CONFIG` environment variable; else it runs on built-in " +
    "defaults. Every key is optional. Relative paths are resolved against the config file's directory.",
  "Mistakes (unknown keys, wrong types, bad addresses, unreadable certificates, two listeners on one port) " +
    "stop the server with one line per problem naming the file, the key, the value and what to do. " +
    "`postamt config check` runs the same checks without starting anything.",
];

// ---- markdown ------------------------------------------------------------------------------------

const cell = (s: string) => s.replace(/\|/g, "\\|");

function markdown(): string {
  const out: string[] = [
    "# Postamt configuration",
    "",
    "<!-- Generated from src/config/schema.ts by `npm run docs:config`; do not edit by hand. -->",
    "",
    ...INTRO.flatMap((p) => [p, ""]),
    "## Example",
    "",
    "Every key with its default; keys whose default is computed or unset are commented out.",
    "",
    "```toml",
    exampleFile().trimEnd(),
    "```",
    "",
    "## Value formats",
    "",
    ...VALUE_FORMATS.map((f) => `- **${f.name}**: ${f.doc}`),
    "",
    "## Options",
  ];
  for (const { table, entries } of groups()) {
    out.push("", table === "" ? "### Top level" : `### \`[${table}]\``, "");
    const doc = TABLE_DOCS[table];
    if (doc) out.push(doc, "");
    out.push("| Key | Type | Default | Meaning |", "| --- | --- | --- | --- |");
    for (const e of entries) {
      const def = e.default !== null && !isDerived(e.default) ? `\`${defaultText(e)}\`` : defaultText(e);
      out.push(`| \`${e.key}\` | ${cell(e.type.name)} | ${cell(def)} | ${cell(e.doc)} |`);
    }
  }
  return `${out.join("\n")}\n`;
}

// ---- text ----------------------------------------------------------------------------------------

function wrap(s: string, indent: string, width = 100): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of s.split(/\s+/)) {
    if (line !== "" && indent.length + line.length + 1 + word.length > width) {
      lines.push(indent + line);
      line = word;
    } else line = line === "" ? word : `${line} ${word}`;
  }
  if (line !== "") lines.push(indent + line);
  return lines;
}

function text(): string {
  const out: string[] = ["Postamt configuration (TOML)", ""];
  for (const p of INTRO) out.push(...wrap(plain(p), ""), "");
  for (const { table, entries } of groups()) {
    out.push(table === "" ? "Top level" : `[${table}]`);
    const doc = TABLE_DOCS[table];
    if (doc) out.push(...wrap(doc, "  "));
    out.push("");
    for (const e of entries) {
      out.push(`  ${e.key}  (${e.type.name}; default: ${plain(defaultText(e))})`);
      out.push(...wrap(plain(e.doc), "      "), "");
    }
  }
  out.push("Value formats", "");
  for (const f of VALUE_FORMATS) out.push(`  ${f.name}`, ...wrap(plain(f.doc), "      "), "");
  return `${out.join("\n").trimEnd()}\n`;
}
