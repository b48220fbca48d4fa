// docs/config.md is generated from the schema; these tests keep it, the schema and Config in step.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { parse } from "smol-toml";
import { describeConfig, exampleFile } from "../../src/config/describe.js";
import { configFromObject } from "../../src/config/load.js";
import { SCHEMA, VALUE_FORMATS } from "../../src/config/schema.js";
import { LISTENER_NAMES } from "../../src/config/types.js";

// compiled to dist/test/config/, so the repository root is three levels up
const DOC = fileURLToPath(new URL("../../../docs/config.md", import.meta.url));

/** Dotted keys of a plain object's leaves (arrays and scalars are leaves). */
function leafKeys(o: Record<string, unknown>, prefix = ""): string[] {
  return Object.entries(o).flatMap(([k, v]) =>
    typeof v === "object" && v !== null && !Array.isArray(v)
      ? leafKeys(v as Record<string, unknown>, `${prefix}${k}.`)
      : [`${prefix}${k}`],
  );
}

describe("docs/config.md", () => {
  it("is what `config describe --markdown` prints", () => {
    const actual = fs.existsSync(DOC) ? fs.readFileSync(DOC, "utf8") : "(missing)";
    assert.ok(
      actual === describeConfig("markdown"),
      "docs/config.md is out of date with src/config/schema.ts: run `npm run docs:config` (after `npm run build`)",
    );
  });

  it("documents every key, and is the same on every machine", () => {
    for (const format of ["markdown", "text"] as const) {
      const text = describeConfig(format);
      for (const e of SCHEMA) assert.ok(text.includes(e.key), `${format} lacks ${e.key}`);
      assert.ok(!text.includes(process.cwd()), `${format} shows the current directory`);
      assert.ok(!text.includes(os.tmpdir()), `${format} shows a machine path`);
      assert.ok(text.includes("the machine's host name"));
      assert.ok(text.endsWith("\n") && !text.endsWith("\n\n"));
    }
  });

  it("has an example file that loads and equals the defaults", () => {
    const file = path.join(os.tmpdir(), "example", "postamt.toml");
    const fromExample = configFromObject(parse(exampleFile()), { file });
    assert.deepEqual(fromExample, configFromObject({}, { file }));
    assert.ok(describeConfig("markdown").includes(exampleFile()));
  });

  it("explains every value type that has a syntax of its own", () => {
    const selfExplaining = /^(integer|port|one of|string|bool)\b/;
    for (const e of SCHEMA) {
      if (selfExplaining.test(e.type.name)) continue;
      assert.ok(
        VALUE_FORMATS.some((f) => e.type.name.startsWith(f.name)),
        `${e.key}: type "${e.type.name}" has no entry in VALUE_FORMATS`,
      );
    }
  });
});

describe("the schema table", () => {
  it("has each key once", () => {
    const keys = SCHEMA.map((e) => e.key);
    assert.deepEqual(keys, [...new Set(keys)]);
  });

  it("covers exactly the keys of Config, listeners included", () => {
    const { source: _source, ...rest } = configFromObject({});
    assert.deepEqual(leafKeys(rest).sort(), SCHEMA.map((e) => e.key).sort());
    for (const name of LISTENER_NAMES)
      assert.ok(
        SCHEMA.some((e) => e.key === `listen.${name}`),
        name,
      );
  });

  it("has a doc sentence for every key", () => {
    for (const e of SCHEMA) assert.ok(/^[A-Z`].*\.$/.test(e.doc), `${e.key}: "${e.doc}"`);
  });
});
