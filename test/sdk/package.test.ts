/**
 * The SDK as a service installs it: the `latchkey` package (packages/sdk) packed with npm,
 * its dependency tree walked through the lockfile (no network), its files scanned for what
 * they import, and the packed package loaded with nothing but its own dependencies beside it.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { builtinModules } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, posix, relative, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../..");
const SDK_DIR = join(ROOT, "packages/sdk");

/** Server packages named outright, whatever the root manifest says; the frameworks are devDependencies there. */
const SERVER_PACKAGES = ["argon2", "better-sqlite3", "pg", "ioredis", "kysely", "pino", "fastify"];
const FRAMEWORKS = ["fastify", "express", "hono"];

interface Manifest {
  name: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  exports?: Record<string, unknown>;
}

interface LockEntry {
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  link?: boolean;
  resolved?: string;
}

const readJson = <T>(path: string): T => JSON.parse(readFileSync(path, "utf8")) as T;

/** Where npm put `name` for a package at `from`: the nearest node_modules up the path. */
function locate(packages: Record<string, LockEntry>, from: string, name: string): string | null {
  let base = from;
  for (;;) {
    const candidate = base ? `${base}/node_modules/${name}` : `node_modules/${name}`;
    if (packages[candidate]) return candidate;
    if (!base) return null;
    const cut = base.lastIndexOf("/node_modules/");
    base = cut === -1 ? "" : base.slice(0, cut);
  }
}

/** Every package a service installs with `manifest`: required dependencies, transitively. */
function installedTree(
  packages: Record<string, LockEntry>,
  manifest: Manifest,
  at: string,
): Map<string, string> {
  const seen = new Map<string, string>(); // name -> lockfile path
  const visited = new Set<string>();
  const required = (entry: Manifest | LockEntry) => [
    ...Object.keys(entry.dependencies ?? {}),
    ...Object.keys(entry.optionalDependencies ?? {}),
    ...Object.keys(entry.peerDependencies ?? {}).filter(
      (peer) => !entry.peerDependenciesMeta?.[peer]?.optional,
    ),
  ];
  const queue: [string, string][] = required(manifest).map((name) => [at, name]);
  while (queue.length > 0) {
    const [from, name] = queue.shift()!;
    const path = locate(packages, from, name);
    if (path === null)
      throw new Error(`${name} (needed from ${from || "the root"}) is not in the lockfile`);
    if (visited.has(path)) continue;
    visited.add(path);
    if (!seen.has(name)) seen.set(name, path);
    let entry = packages[path]!;
    if (entry.link && entry.resolved) entry = packages[entry.resolved]!;
    for (const dep of required(entry)) queue.push([path, dep]);
  }
  return seen;
}

/** Bare specifiers a JS or .d.ts file imports (static, dynamic, re-exports, `import("x")` types). */
function bareImports(source: string): string[] {
  const found = new Set<string>();
  const patterns = [
    /\b(?:import|export)\s[^'";]*?\sfrom\s*["']([^"']+)["']/g,
    /\bimport\s*["']([^"']+)["']/g,
    /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g,
  ];
  for (const pattern of patterns)
    for (const match of source.matchAll(pattern)) {
      const specifier = match[1]!;
      if (!specifier.startsWith(".") && !specifier.startsWith("/")) found.add(specifier);
    }
  return [...found];
}

/** Relative specifiers (`./x.js`, `../y.js`) a file imports or re-exports. */
function relativeImports(source: string): string[] {
  return [...source.matchAll(/\b(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g)].map(
    (m) => m[1]!,
  );
}

/** The packed files `entry` pulls in through relative imports, itself included. */
function closure(dir: string, entry: string): Set<string> {
  const files = new Set<string>();
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.shift()!;
    if (files.has(file)) continue;
    files.add(file);
    const source = readFileSync(join(dir, file), "utf8");
    for (const specifier of relativeImports(source)) {
      const target = posix.normalize(posix.join(posix.dirname(file), specifier));
      queue.push(file.endsWith(".d.ts") ? target.replace(/\.js$/, ".d.ts") : target);
    }
  }
  return files;
}

const packageNameOf = (specifier: string) =>
  specifier.startsWith("@") ? specifier.split("/").slice(0, 2).join("/") : specifier.split("/")[0]!;

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
}

let work: string;
let unpacked: string;
let packed: Manifest;
let packedFiles: string[];

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "latchkey-sdk-pack-"));
  // dist/ is built by the test globalSetup; --ignore-scripts keeps pack from building again.
  const report = JSON.parse(
    execFileSync("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", work], {
      cwd: SDK_DIR,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    }),
  ) as { filename: string }[];
  const tarball = join(work, report[0]!.filename);
  // Installed as a service would have it: node_modules/latchkey, with only its dependencies beside it.
  unpacked = join(work, "service/node_modules/latchkey");
  mkdirSync(unpacked, { recursive: true });
  execFileSync("tar", ["-xzf", tarball, "-C", unpacked, "--strip-components=1"]);
  packed = readJson<Manifest>(join(unpacked, "package.json"));
  packedFiles = filesUnder(unpacked).map((file) => relative(unpacked, file).split("\\").join("/"));
}, 60_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("the latchkey SDK package", () => {
  it("is the package named latchkey, with the frameworks only as optional peers", () => {
    expect(packed.name).toBe("latchkey");
    for (const framework of FRAMEWORKS) {
      expect(packed.dependencies?.[framework]).toBeUndefined();
      expect(packed.peerDependencies?.[framework]).toBeDefined();
      expect(packed.peerDependenciesMeta?.[framework]?.optional).toBe(true);
    }
    expect(Object.keys(packed.exports ?? {})).toEqual(
      expect.arrayContaining([".", "./fastify", "./express", "./hono"]),
    );
  });

  it("reaches no server dependency through its dependency tree (walked in package-lock.json)", () => {
    const lock = readJson<{ packages: Record<string, LockEntry> }>(join(ROOT, "package-lock.json"));
    const tree = installedTree(lock.packages, packed, "packages/sdk");
    const names = [...tree.keys()];
    expect(names).toContain("jose");
    // The server's own dependencies, less the few the SDK shares with it on purpose.
    const server = readJson<Manifest>(join(ROOT, "package.json"));
    const serverOnly = Object.keys(server.dependencies ?? {}).filter(
      (name) => !(name in (packed.dependencies ?? {})),
    );
    expect(serverOnly.length).toBeGreaterThan(5);
    expect(serverOnly).toEqual(expect.arrayContaining(SERVER_PACKAGES));
    for (const name of new Set([...serverOnly, ...FRAMEWORKS]))
      expect(names, `${name} must not be installed with the SDK`).not.toContain(name);
  });

  it("ships files that import only themselves, node: builtins, dependencies or optional peers", () => {
    const code = packedFiles.filter((file) => file.endsWith(".js") || file.endsWith(".d.ts"));
    expect(code).toContain("dist/sdk/index.js");
    const allowed = (specifier: string) => {
      if (specifier.startsWith("node:")) return builtinModules.includes(specifier.slice(5));
      const name = packageNameOf(specifier);
      if (name === packed.name) return true;
      if (name in (packed.dependencies ?? {})) return true;
      return packed.peerDependenciesMeta?.[name]?.optional === true;
    };
    const offending: string[] = [];
    for (const file of code) {
      const source = readFileSync(join(unpacked, file), "utf8");
      for (const specifier of bareImports(source))
        if (!allowed(specifier)) offending.push(`${file}: ${specifier}`);
      // Relative imports stay inside the package (the build emitted what they name).
      for (const specifier of relativeImports(source)) {
        const target = posix.normalize(posix.join(posix.dirname(file), specifier));
        const emitted = file.endsWith(".d.ts") ? target.replace(/\.js$/, ".d.ts") : target;
        if (!packedFiles.includes(emitted)) offending.push(`${file}: ${specifier} (not packed)`);
      }
    }
    expect(offending).toEqual([]);
    // The main entry carries no framework: neither the adapters' code nor their types.
    for (const entry of ["dist/sdk/index.js", "dist/sdk/index.d.ts"]) {
      const pulled = [...closure(unpacked, entry)];
      expect(pulled.length).toBeGreaterThan(3);
      expect(pulled.filter((file) => file.includes("/adapters/"))).toEqual([]);
      const frameworks = pulled.flatMap((file) =>
        bareImports(readFileSync(join(unpacked, file), "utf8")).filter((s) =>
          FRAMEWORKS.includes(packageNameOf(s)),
        ),
      );
      expect(frameworks).toEqual([]);
    }
  });

  it("loads installed alone: the entry and each subpath resolve with only its own dependencies", () => {
    // The service's node_modules holds the SDK and its dependencies, no framework, no server.
    const modules = dirname(unpacked);
    for (const dep of Object.keys(packed.dependencies ?? {}))
      symlinkSync(join(ROOT, "node_modules", dep), join(modules, dep), "dir");
    const script = `
      const main = await import("latchkey");
      const out = { main: Object.keys(main).sort() };
      for (const sub of ["fastify", "express", "hono"])
        out[sub] = Object.keys(await import("latchkey/" + sub)).sort();
      out.keyFormat = typeof (await import("latchkey/key-format")).parseKey;
      console.log(JSON.stringify(out));`;
    const result = JSON.parse(
      execFileSync(process.execPath, ["--input-type=module", "-e", script], {
        cwd: dirname(modules),
        encoding: "utf8",
      }),
    ) as Record<string, unknown>;
    expect(result).toEqual({
      main: [
        "Latchkey",
        "LatchkeyApiError",
        "LatchkeyNetworkError",
        "WebhookVerificationError",
        "createVerifier",
        "verifyWebhook",
      ],
      fastify: ["fastifyGuard"],
      express: ["expressGuard"],
      hono: ["honoGuard"],
      keyFormat: "function",
    });
  });

  it("ships the shared src/api and src/core files as the server's build of them (not stale)", () => {
    // Both builds compile the same sources; the server's (tsc -b over all its roots) is
    // current, so a difference means the SDK's build missed an edit to a file it compiles in.
    const shared = packedFiles.filter((file) => /^dist\/(api|core)\/[^/]+\.js$/.test(file));
    expect(shared).toContain("dist/core/errors.js");
    const code = (path: string) =>
      readFileSync(path, "utf8")
        .replace(/\n\/\/# sourceMappingURL=.*$/m, "")
        .trimEnd();
    for (const file of shared)
      expect(code(join(unpacked, file)), file).toBe(code(join(ROOT, file)));
  });

  it("resolves the subpath exports from the workspace too", async () => {
    const [main, fastify, express, hono] = await Promise.all([
      import("latchkey"),
      import("latchkey/fastify"),
      import("latchkey/express"),
      import("latchkey/hono"),
    ]);
    expect(typeof main.Latchkey).toBe("function");
    expect(typeof main.createVerifier).toBe("function");
    expect("fastifyGuard" in main).toBe(false);
    expect(typeof fastify.fastifyGuard).toBe("function");
    expect(typeof express.expressGuard).toBe("function");
    expect(typeof hono.honoGuard).toBe("function");
  });
});

describe("the tree walk and the import scan", () => {
  const packages: Record<string, LockEntry> = {
    "packages/sdk": {},
    "node_modules/a": { dependencies: { b: "1" }, peerDependencies: { p: "1" } },
    "node_modules/a/node_modules/b": { dependencies: { c: "1" } },
    "node_modules/b": { dependencies: { pg: "1" } },
    "node_modules/c": {},
    "node_modules/p": {},
    "node_modules/pg": {},
  };

  it("follows nested node_modules first and required peers, and skips optional peers", () => {
    const tree = installedTree(packages, { name: "x", dependencies: { a: "1" } }, "packages/sdk");
    expect([...tree.keys()].sort()).toEqual(["a", "b", "c", "p"]);
    expect(tree.get("b")).toBe("node_modules/a/node_modules/b");
    const direct = installedTree(packages, { name: "x", dependencies: { b: "1" } }, "packages/sdk");
    expect([...direct.keys()]).toContain("pg");
  });

  it("finds static, side-effect, dynamic and re-exported bare imports, not relative ones", () => {
    const source = [
      'import { a } from "jose";',
      'import type { B } from "zod";',
      'import "side-effect";',
      'export * from "re-export";',
      'const m = await import("dynamic");',
      'type T = import("typed").T;',
      'import { c } from "./local.js";',
    ].join("\n");
    expect(bareImports(source).sort()).toEqual(
      ["dynamic", "jose", "re-export", "side-effect", "typed", "zod"].sort(),
    );
  });
});
