/**
 * Every path that the code and the docs name points at a file or folder of the repository, so
 * a reader who follows a reference finds what it names (files move; comments and docs must move
 * with them).
 *
 * Scanned: src/, tests/, bench/, scripts/, docs/ (`.ts`, `.mjs`, `.js`, `.md`, `.sh`, `.lua`
 * files) and README.md. A reference is:
 *
 *   repository path   `src/…`, `tests/…`, `docs/…`, `scripts/…`, `bench/…` anywhere in the text
 *                     (not inside a URL, not the tail of a longer path); resolved from the
 *                     repository root, `.ts` may be left out; a glob (`bench/results/*.json`)
 *                     needs its folder; a placeholder (`src/${name}.ts`) is not checked
 *   .md name          `SCHEMA.md`, `docs/schema.md`, `../x/README.md`: from the file's folder,
 *                     else the repository root, else docs/
 *   markdown link     `[text](target)` in a `.md` file, from the file's folder; `#anchor` must
 *                     be a heading of the target (GitHub's heading ids)
 *   relative path     `./x.ts`, `../y/z.md`, `../wal/` in a comment of a source file (imports
 *                     are checked by `deno check`): from the file's folder, else the repository
 *                     root (for paths relative to the working directory, such as ./config.toml)
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url);
const SCANNED_DIRS = ["src", "tests", "bench", "scripts", "docs"];
const SCANNED_FILES = ["README.md"];
const TEXT_FILE = /\.(ts|mjs|js|md|sh|lua)$/;
const TOP = "src|tests|docs|scripts|bench";
const SELF = "tests/docs/references.test.ts";

/** What a reference is, for the failure message. */
type Kind = "repository path" | ".md name" | "markdown link" | "relative path";

export interface Reference {
  /** The scanned file, relative to the repository root. */
  file: string;
  line: number;
  kind: Kind;
  /** The reference as written. */
  text: string;
  /** Why it does not resolve (empty when it does). */
  problem: string;
}

/** Repository-relative path → whether a file or folder is there. */
export type Exists = (rel: string) => boolean;

/** Repository-relative path → the GitHub heading ids of that markdown file (null: not one). */
export type Anchors = (rel: string) => Set<string> | null;

// ---------------------------------------------------------------------------------------------
// Paths

/** `a/b/../c/./d` → `a/c/d`; null when it climbs out of the repository. */
export function normalize(path: string): string | null {
  const out: string[] = [];
  for (const seg of path.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      if (out.length === 0) return null;
      out.pop();
    } else out.push(seg);
  }
  return out.join("/");
}

function dirOf(file: string): string {
  const i = file.lastIndexOf("/");
  return i < 0 ? "" : file.slice(0, i);
}

function join(dir: string, rel: string): string | null {
  return normalize(dir === "" ? rel : `${dir}/${rel}`);
}

/** Trailing punctuation that ends a sentence, not a path. */
function trimPath(p: string): string {
  return p.replace(/[.,:;!?-]+$/, "");
}

// ---------------------------------------------------------------------------------------------
// Text

/** `s` with URLs blanked out (same length and lines), so paths inside them are not read. */
function withoutUrls(s: string): string {
  return s.replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s)>\]"'`]*/gi, (m) => " ".repeat(m.length));
}

/**
 * Only the comments of JavaScript/TypeScript source `src`, everything else blanked (lines kept).
 * A small scanner: strings, template literals (with `${}` inside), regex literals and comments.
 */
export function commentsOf(src: string): string {
  const out = src.replace(/[^\n]/g, " ").split("");
  const n = src.length;
  const keep = (s: number, e: number) => {
    for (let k = s; k < e; k++) out[k] = src[k];
  };
  let prev = ""; // last significant character of code, to tell a regex from a division
  let word = ""; // last identifier, for `return /re/` and the like
  const REGEX_AFTER_WORD = new Set([
    "return",
    "typeof",
    "case",
    "in",
    "of",
    "delete",
    "void",
    "throw",
    "new",
    "else",
    "do",
    "yield",
    "await",
  ]);

  const skipString = (i: number, q: string): number => {
    for (i++; i < n; i++) {
      if (src[i] === "\\") i++;
      else if (src[i] === q || src[i] === "\n") return i + 1;
    }
    return n;
  };
  const skipRegex = (i: number): number => {
    let cls = false;
    for (i++; i < n; i++) {
      const c = src[i];
      if (c === "\\") i++;
      else if (c === "[") cls = true;
      else if (c === "]") cls = false;
      else if (c === "/" && !cls) break;
      else if (c === "\n") return i;
    }
    i++;
    while (i < n && /[a-z]/i.test(src[i])) i++;
    return i;
  };
  // Code from `i`; with `inTemplate`, stops after the `}` that closes a `${`.
  const code = (i: number, inTemplate: boolean): number => {
    let depth = 0;
    while (i < n) {
      const c = src[i], d = src[i + 1];
      if (c === "/" && d === "/") {
        const e = src.indexOf("\n", i);
        const end = e < 0 ? n : e;
        keep(i, end);
        i = end;
      } else if (c === "/" && d === "*") {
        const e = src.indexOf("*/", i + 2);
        const end = e < 0 ? n : e + 2;
        keep(i, end);
        i = end;
      } else if (c === '"' || c === "'") {
        i = skipString(i, c);
        prev = c;
      } else if (c === "`") {
        i = template(i);
        prev = c;
      } else if (c === "/") {
        const regex = prev === "" || /[(,=:[!&|?{};+\-*%<>~^]/.test(prev) ||
          (/[\w$]/.test(prev) && REGEX_AFTER_WORD.has(word));
        if (regex) {
          i = skipRegex(i);
          prev = "/";
          word = "";
        } else {
          prev = c;
          i++;
        }
      } else {
        if (inTemplate && c === "{") depth++;
        if (inTemplate && c === "}") {
          if (depth === 0) return i + 1;
          depth--;
        }
        if (/[\w$]/.test(c)) {
          let e = i;
          while (e < n && /[\w$]/.test(src[e])) e++;
          word = src.slice(i, e);
          prev = src[e - 1];
          i = e;
          continue;
        }
        if (!/\s/.test(c)) {
          prev = c;
          word = "";
        }
        i++;
      }
    }
    return n;
  };
  const template = (i: number): number => {
    for (i++; i < n; i++) {
      const c = src[i];
      if (c === "\\") i++;
      else if (c === "`") return i + 1;
      else if (c === "$" && src[i + 1] === "{") i = code(i + 2, true) - 1;
    }
    return n;
  };
  code(0, false);
  return out.join("");
}

/** GitHub's id of a heading: lower case, punctuation dropped, spaces to hyphens. */
export function headingId(heading: string): string {
  return heading
    .trim()
    .replace(/`/g, "")
    .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

/** The heading ids of markdown `text` (repeated headings get `-1`, `-2`, …). */
export function headingIds(text: string): Set<string> {
  const ids = new Set<string>();
  const seen = new Map<string, number>();
  let fence = false;
  for (const line of text.split("\n")) {
    if (/^\s*(```|~~~)/.test(line)) fence = !fence;
    if (fence) continue;
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const base = headingId(m[1]);
    const k = seen.get(base) ?? 0;
    ids.add(k === 0 ? base : `${base}-${k}`);
    seen.set(base, k + 1);
  }
  return ids;
}

// ---------------------------------------------------------------------------------------------
// References

/** The references in `text` (the file `file`, repository-relative), each checked. */
export function references(
  file: string,
  text: string,
  exists: Exists,
  anchors: Anchors,
): Reference[] {
  const refs: Reference[] = [];
  const dir = dirOf(file);
  const isMd = file.endsWith(".md");
  const plain = withoutUrls(text);
  const lineAt = (() => {
    const starts = [0];
    for (let i = 0; i < text.length; i++) if (text[i] === "\n") starts.push(i + 1);
    return (pos: number) => {
      let lo = 0, hi = starts.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (starts[mid] <= pos) lo = mid;
        else hi = mid - 1;
      }
      return lo + 1;
    };
  })();
  const seen = new Set<string>();
  const add = (pos: number, kind: Kind, ref: string, problem: string) => {
    const key = `${lineAt(pos)}\u0000${ref}`;
    if (seen.has(key)) return; // one entry per reference and line (a .md path is also a path)
    seen.add(key);
    refs.push({ file, line: lineAt(pos), kind, text: ref, problem });
  };

  // Markdown links first: their targets are relative to the file.
  if (isMd) {
    const LINK = /\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g;
    for (const m of text.matchAll(LINK)) {
      const target = m[1];
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
      const [path, anchor] = target.split("#", 2) as [string, string | undefined];
      const rel = path === "" ? file : join(dir, decodeURIComponent(path));
      let problem = "";
      if (rel === null) problem = "climbs out of the repository";
      else if (!exists(rel)) problem = `${rel} does not exist`;
      else if (anchor !== undefined && anchor !== "") {
        const ids = anchors(rel);
        if (ids !== null && !ids.has(anchor.toLowerCase())) {
          problem = `${rel} has no heading #${anchor}`;
        }
      }
      add(m.index!, "markdown link", target, problem);
    }
  }

  // Repository paths.
  const REPO = new RegExp(`(?<![\\w./\\-])(?:${TOP})/[\\w./\\-]*`, "g");
  for (const m of plain.matchAll(REPO)) {
    let ref = trimPath(m[0]);
    const next = plain[m.index! + m[0].length] ?? "";
    let problem = "";
    // A placeholder (`src/${name}.ts`, `tests/<x>.test.ts`) names no one file: not checked.
    if (next === "$" || next === "<") continue;
    if (next === "*" || next === "{") ref = ref.slice(0, ref.lastIndexOf("/") + 1); // a glob: its folder
    const rel = normalize(ref);
    // A module may be named without its extension (`bench/http: …`, "see src/core/partition").
    const module = !ref.endsWith("/") && /\/[\w-]+$/.test(ref); // a name, not a folder
    if (rel === null || !(exists(rel) || (module && exists(`${rel}.ts`)))) {
      problem = `${ref} does not exist`;
    }
    add(m.index!, "repository path", ref, problem);
  }

  // .md names.
  for (const m of plain.matchAll(/(?<![\w./\-])[\w./\-]*\.md(?![\w/-])/g)) {
    const ref = m[0];
    if (/^(?:\w+\/)*$/.test(ref) || ref === ".md") continue;
    const tries = ref.startsWith("./") || ref.startsWith("../")
      ? [join(dir, ref)]
      : ref.includes("/")
      ? [normalize(ref), join(dir, ref)]
      : [join(dir, ref), ref, `docs/${ref}`];
    const found = tries.some((t) => t !== null && exists(t));
    add(
      m.index!,
      ".md name",
      ref,
      found ? "" : `none of ${tries.filter((t) => t !== null).join(", ")} exists`,
    );
  }

  // Relative paths in the comments of source files.
  if (!isMd && /\.(ts|mjs|js)$/.test(file)) {
    const comments = withoutUrls(commentsOf(text));
    const FILE = String.raw`[\w./\-]*\.(?:ts|mjs|js|md|toml|json|sh|ya?ml|proto|wasm)(?![\w/])`;
    const FOLDER = String.raw`(?:[\w.\-]+\/)+`;
    const REL = new RegExp(String.raw`(?<![\w./\-])\.\.?\/(?:${FILE}|${FOLDER})`, "g");
    for (const m of comments.matchAll(REL)) {
      const ref = m[0];
      const tries = [join(dir, ref), normalize(ref)];
      const found = tries.some((t) => t !== null && exists(t));
      add(
        m.index!,
        "relative path",
        ref,
        found ? "" : `none of ${tries.filter((t) => t !== null).join(", ")} exists`,
      );
    }
  }
  return refs;
}

// ---------------------------------------------------------------------------------------------
// The repository

function existsInRepo(rel: string): boolean {
  try {
    Deno.statSync(new URL(rel === "" ? "." : rel, ROOT));
    return true;
  } catch {
    return false;
  }
}

const anchorCache = new Map<string, Set<string> | null>();
function anchorsInRepo(rel: string): Set<string> | null {
  if (!rel.endsWith(".md")) return null;
  let ids = anchorCache.get(rel);
  if (ids === undefined) {
    try {
      ids = headingIds(Deno.readTextFileSync(new URL(rel, ROOT)));
    } catch {
      ids = null;
    }
    anchorCache.set(rel, ids);
  }
  return ids;
}

function* scannedFiles(): Generator<string> {
  function* walk(rel: string): Generator<string> {
    const entries = [...Deno.readDirSync(new URL(`${rel}/`, ROOT))]
      .sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const e of entries) {
      const p = `${rel}/${e.name}`;
      if (e.isDirectory) {
        if (e.name !== "node_modules" && !e.name.startsWith(".")) yield* walk(p);
      } else if (TEXT_FILE.test(e.name)) yield p;
    }
  }
  for (const d of SCANNED_DIRS) if (existsInRepo(d)) yield* walk(d);
  for (const f of SCANNED_FILES) if (existsInRepo(f)) yield f;
}

function describe(r: Reference): string {
  return `${r.file}:${r.line}: ${r.kind} "${r.text}": ${r.problem}`;
}

// ---------------------------------------------------------------------------------------------
// Tests

Deno.test("every path named in src/, tests/, bench/, scripts/, docs/ and README.md exists", () => {
  const all: Reference[] = [];
  let files = 0;
  for (const f of scannedFiles()) {
    if (f === SELF) continue; // its negative controls name made-up paths on purpose
    files++;
    all.push(
      ...references(f, Deno.readTextFileSync(new URL(f, ROOT)), existsInRepo, anchorsInRepo),
    );
  }
  ok(files > 50, `expected to scan the repository's files, scanned ${files}`);
  ok(all.length > 100, `expected many references, found ${all.length}`);
  const missing = all.filter((r) => r.problem !== "");
  ok(
    missing.length === 0,
    `${missing.length} reference(s) to files that do not exist (file:line: kind "reference": ` +
      `what was looked for). Point each at the file's new place, or write the fact inline:\n  ` +
      missing.map(describe).join("\n  "),
  );
});

Deno.test("the reference check flags made-up paths of every kind and passes real ones", () => {
  const self = SELF;
  const md = [
    "# Title",
    "## Real heading",
    "See [the schema](../docs/no-such-page.md), [up](#real-heading), [gone](#no-such-heading),",
    "[self](references.test.ts), [web](https://example.com/src/x.ts) and src/made/up.ts or",
    "`tests/docs/references.test.ts`. MISSING.md; README.md; bench/no-such-dir/*.json; src/<name>.ts.",
    "A module named without .ts: src/version; not a folder: src/version/.",
  ].join("\n");
  const notes = "tests/docs/notes.md"; // a made-up page holding `md`
  const mdRefs = references(
    notes,
    md,
    (rel) => rel === notes || existsInRepo(rel),
    (rel) => rel === notes ? headingIds(md) : anchorsInRepo(rel),
  );
  const flagged = (refs: Reference[]) => refs.filter((r) => r.problem !== "").map((r) => r.text);
  const passed = (refs: Reference[]) => refs.filter((r) => r.problem === "").map((r) => r.text);
  deepStrictEqual(
    flagged(mdRefs).sort(),
    [
      "../docs/no-such-page.md",
      "#no-such-heading",
      "src/made/up.ts",
      "MISSING.md",
      "bench/no-such-dir/",
      "src/version/",
    ]
      .sort(),
  );
  deepStrictEqual(
    passed(mdRefs).sort(),
    [
      "#real-heading",
      "references.test.ts",
      "tests/docs/references.test.ts",
      "README.md",
      "src/version",
    ].sort(),
  );

  const ts = [
    "/** Reads ./references.test.ts and ./no-such-module.ts (see SCHEMA.md). */",
    'import { x } from "./also-missing.ts"; // imports are left to deno check',
    'const re = /["\']\\/\\/ not a comment/; const s = "// nor this ./gone.ts";',
    "const t = `${'./in-template.ts'} // not a comment either`; // but ./this-one.ts is",
    "const u = 1 / 2; /* and ../nowhere/references.test.ts here, and the folder ../docs/ */",
  ].join("\n");
  const tsRefs = references(self, ts, existsInRepo, anchorsInRepo);
  deepStrictEqual(
    flagged(tsRefs).sort(),
    ["./no-such-module.ts", "SCHEMA.md", "./this-one.ts", "../nowhere/references.test.ts"].sort(),
  );
  deepStrictEqual(passed(tsRefs), ["./references.test.ts", "../docs/"]);
  const line = tsRefs.find((r) => r.text === "./this-one.ts")!.line;
  strictEqual(line, 4);
  ok(
    describe(tsRefs.find((r) => r.text === "SCHEMA.md")!).startsWith(
      `${self}:1: .md name "SCHEMA.md": `,
    ),
  );
});

Deno.test("heading ids follow GitHub's rules", () => {
  strictEqual(headingId("Batching and durability"), "batching-and-durability");
  strictEqual(headingId("S3 and S3-compatible stores"), "s3-and-s3-compatible-stores");
  strictEqual(headingId("`otel_logs`: one row per log record"), "otel_logs-one-row-per-log-record");
  strictEqual(headingId("Layers, later wins (1 → 4)"), "layers-later-wins-1--4");
  const ids = headingIds("# A\n## A\n```\n# not a heading\n```\n### B c\n");
  deepStrictEqual([...ids], ["a", "a-1", "b-c"]);
});
