import { describe, expect, test } from "bun:test";
import { createCipheriv, createHmac, randomBytes } from "node:crypto";
import { join } from "node:path";
import { z } from "zod";
import {
  Fernet,
  type FernetTokenFailure,
  generateKey,
  InvalidFernetKeyError,
  InvalidFernetTokenError,
  MultiFernet,
} from "./fernet.ts";

const FIXTURES = join(import.meta.dir, "../../test/fixtures/fernet-spec");

const generateVectors = z.array(
  z.object({
    token: z.string(),
    now: z.string(),
    iv: z.array(z.number().int().min(0).max(255)).length(16),
    src: z.string(),
    secret: z.string(),
  }),
);
const verifyVectors = z.array(
  z.object({ token: z.string(), now: z.string(), ttl_sec: z.number(), src: z.string(), secret: z.string() }),
);
const invalidVectors = z.array(
  z.object({ desc: z.string(), token: z.string(), now: z.string(), ttl_sec: z.number(), secret: z.string() }),
);

async function fixture<T>(name: string, schema: z.ZodType<T>): Promise<T> {
  return schema.parse(await Bun.file(join(FIXTURES, name)).json());
}

const GENERATE = await fixture("generate.json", generateVectors);
const VERIFY = await fixture("verify.json", verifyVectors);
const INVALID = await fixture("invalid.json", invalidVectors);

/** The precise reason each spec vector fails for; the message callers see is the same for all. */
const INVALID_REASONS: Record<string, FernetTokenFailure> = {
  "incorrect mac": "mac",
  "too short": "too_short",
  "invalid base64": "base64",
  "payload size not multiple of block size": "block_size",
  "payload padding error": "padding",
  "far-future TS (unacceptable clock skew)": "future",
  "expired TTL": "expired",
  "incorrect IV (causes padding error)": "padding",
};

const KEY = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

function unixSeconds(iso: string): number {
  return Date.parse(iso) / 1000;
}

/** Runs `fn` and returns the InvalidFernetTokenError it throws; fails the test if it throws anything else. */
function tokenError(fn: () => unknown): InvalidFernetTokenError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidFernetTokenError);
    if (e instanceof InvalidFernetTokenError) return e;
  }
  throw new Error("expected an InvalidFernetTokenError, but nothing was thrown");
}

function allByteValues(): Uint8Array {
  return Uint8Array.from({ length: 256 }, (_, i) => i);
}

function encodeBase64UrlPadded(bytes: Buffer): string {
  const body = bytes.toString("base64url");
  return body.padEnd(Math.ceil(body.length / 4) * 4, "=");
}

describe("Fernet spec vectors", () => {
  for (const v of GENERATE) {
    test(`encrypts "${v.src}" at ${v.now} with a fixed IV to exactly the spec token`, () => {
      const token = new Fernet(v.secret).encrypt(v.src, {
        now: unixSeconds(v.now),
        iv: Uint8Array.from(v.iv),
      });
      expect(token).toBe(v.token);
    });
  }

  for (const v of VERIFY) {
    test(`decrypts the spec token to "${v.src}" at ${v.now} within a ${v.ttl_sec}s TTL`, () => {
      const fernet = new Fernet(v.secret);
      expect(fernet.decryptText(v.token, { ttlSeconds: v.ttl_sec, now: unixSeconds(v.now) })).toBe(v.src);
    });
  }

  for (const v of INVALID) {
    test(`rejects the spec token "${v.desc}"`, () => {
      const fernet = new Fernet(v.secret);
      const error = tokenError(() =>
        fernet.decrypt(v.token, { ttlSeconds: v.ttl_sec, now: unixSeconds(v.now) }),
      );
      expect(error.reason).toBe(INVALID_REASONS[v.desc] ?? error.reason);
    });
  }

  test("every invalid spec vector has a known failure reason", () => {
    expect(INVALID.map((v) => v.desc).sort()).toEqual(Object.keys(INVALID_REASONS).sort());
  });

  test("shows callers the same message, code and status whatever the reason", () => {
    const errors = INVALID.map((v) =>
      tokenError(() =>
        new Fernet(v.secret).decrypt(v.token, { ttlSeconds: v.ttl_sec, now: unixSeconds(v.now) }),
      ),
    );
    expect(new Set(errors.map((e) => JSON.stringify(e.toBody()))).size).toBe(1);
    expect(new Set(errors.map((e) => e.reason)).size).toBeGreaterThan(1);
    expect(errors[0]?.code).toBe("vault.invalid_token");
    expect(errors[0]?.status).toBe(500);
  });
});

describe("round trips", () => {
  const fernet = new Fernet(generateKey());

  test("decrypts text, including non-ASCII, to what was encrypted", () => {
    const text = "pässwörd 🔑 ключ";
    expect(fernet.decryptText(fernet.encrypt(text))).toBe(text);
  });

  test("round-trips the empty string into a minimal 100-character token", () => {
    const token = fernet.encrypt("");
    expect(token).toHaveLength(100);
    expect(fernet.decrypt(token)).toHaveLength(0);
    expect(fernet.decryptText(token)).toBe("");
  });

  test("round-trips binary data containing every byte value", () => {
    const bytes = allByteValues();
    expect([...fernet.decrypt(fernet.encrypt(bytes))]).toEqual([...bytes]);
  });

  test("round-trips 1 MiB of random data", () => {
    const bytes = randomBytes(1024 * 1024);
    expect(fernet.decrypt(fernet.encrypt(bytes)).equals(bytes)).toBe(true);
  });

  test("keeps a leading byte-order mark in decrypted text", () => {
    expect(fernet.decryptText(fernet.encrypt("\uFEFFsecret"))).toBe("\uFEFFsecret");
  });

  test("refuses to turn binary plaintext into text", () => {
    expect(() => fernet.decryptText(fernet.encrypt(Uint8Array.of(0xff, 0xfe, 0x00)))).toThrow(TypeError);
  });

  test("uses a fresh IV for every token", () => {
    expect(fernet.encrypt("same", { now: 1 })).not.toBe(fernet.encrypt("same", { now: 1 }));
  });

  test("writes the given time into the token and reads it back after verifying it", () => {
    expect(fernet.timestamp(fernet.encrypt("x", { now: 1_234_567_890 }))).toBe(1_234_567_890);
    tokenError(() => new Fernet(generateKey()).timestamp(fernet.encrypt("x")));
  });

  test("rejects an IV that is not 16 bytes", () => {
    expect(() => fernet.encrypt("x", { iv: new Uint8Array(15) })).toThrow(RangeError);
  });
});

describe("token encoding", () => {
  const fernet = new Fernet(KEY);
  const token = fernet.encrypt("hello");

  test("writes padded base64url, as Python does", () => {
    expect(token).toMatch(/^[A-Za-z0-9_-]+={0,2}$/);
    expect(token.length % 4).toBe(0);
  });

  test("accepts a token without its = padding", () => {
    expect(fernet.decryptText(token.replace(/=+$/, ""))).toBe("hello");
  });

  test("rejects a token written in standard base64 with + or /", () => {
    let urlsafe = token;
    while (!/[-_]/.test(urlsafe)) urlsafe = fernet.encrypt("hello");
    const standard = urlsafe.replaceAll("-", "+").replaceAll("_", "/");
    expect(tokenError(() => fernet.decrypt(standard)).reason).toBe("base64");
  });

  test("rejects surrounding whitespace, wrong padding and a second spelling of the last character", () => {
    const unpadded = token.replace(/=+$/, "");
    const last = ALPHABET.indexOf(unpadded.charAt(unpadded.length - 1));
    const sloppyLast = `${unpadded.slice(0, -1)}${ALPHABET.charAt(last | 1)}`;
    for (const bad of [` ${token}`, `${token}\n`, `${token}=`, `${unpadded}=`, sloppyLast, ""]) {
      expect(tokenError(() => fernet.decrypt(bad)).reason).toMatch(/^(base64|too_short)$/);
    }
  });

  test("rejects a token with another version byte", () => {
    const bytes = Buffer.from(token, "base64url");
    bytes[0] = 0x81;
    expect(tokenError(() => fernet.decrypt(encodeBase64UrlPadded(bytes))).reason).toBe("version");
  });
});

/** An authentic token around an already padded plaintext, to test what only a key holder could send. */
function forge(key: string, padded: Uint8Array): string {
  const raw = Buffer.from(key, "base64url");
  const iv = randomBytes(16);
  const cipher = createCipheriv("aes-128-cbc", raw.subarray(16), iv).setAutoPadding(false);
  const header = Buffer.concat([Buffer.of(0x80), Buffer.alloc(8), iv]);
  const body = Buffer.concat([header, cipher.update(padded), cipher.final()]);
  const mac = createHmac("sha256", raw.subarray(0, 16)).update(body).digest();
  return encodeBase64UrlPadded(Buffer.concat([body, mac]));
}

describe("padding", () => {
  const fernet = new Fernet(KEY);
  const block = (tail: number[]) => Uint8Array.from([...Array(16 - tail.length).fill(0x61), ...tail]);

  test("opens an authentic token with correct PKCS7 padding", () => {
    expect(fernet.decryptText(forge(KEY, block([3, 3, 3])))).toBe("a".repeat(13));
    expect(fernet.decrypt(forge(KEY, new Uint8Array(16).fill(16)))).toHaveLength(0);
  });

  test("rejects an authentic token whose padding length is 0, above 16 or inconsistent", () => {
    for (const tail of [[0], [17], [2, 3, 3], [1, 2]]) {
      expect(tokenError(() => fernet.decrypt(forge(KEY, block(tail)))).reason).toBe("padding");
    }
    const seventeen = Uint8Array.from([...Array(15).fill(0x61), ...Array(17).fill(17)]);
    expect(tokenError(() => fernet.decrypt(forge(KEY, seventeen))).reason).toBe("padding");
  });

  test("rejects an authentic token with no ciphertext block", () => {
    expect(tokenError(() => fernet.decrypt(forge(KEY, new Uint8Array(0)))).reason).toBe("too_short");
  });
});

describe("tampering", () => {
  const fernet = new Fernet(KEY);
  const token = fernet.encrypt("a secret of some length", { now: 1_700_000_000 });

  test("rejects a token with any single byte changed", () => {
    const bytes = Buffer.from(token, "base64url");
    for (let i = 0; i < bytes.length; i++) {
      const tampered = Buffer.from(bytes);
      tampered[i] = (tampered[i] ?? 0) ^ 0x01;
      tokenError(() => fernet.decrypt(encodeBase64UrlPadded(tampered)));
    }
  });

  test("rejects a token with any single character changed", () => {
    for (let i = 0; i < token.length; i++) {
      const next = ALPHABET.charAt((ALPHABET.indexOf(token.charAt(i)) + 1) % ALPHABET.length);
      tokenError(() => fernet.decrypt(`${token.slice(0, i)}${next}${token.slice(i + 1)}`));
    }
  });

  test("rejects a token opened with another key", () => {
    expect(tokenError(() => new Fernet(generateKey()).decrypt(token)).reason).toBe("mac");
  });
});

describe("time", () => {
  const fernet = new Fernet(KEY);
  const made = 1_700_000_000;
  const token = fernet.encrypt("t", { now: made });

  test("never expires a token when no TTL is given", () => {
    const [spec] = VERIFY;
    expect(spec).toBeDefined();
    if (spec) expect(fernet.decryptText(spec.token)).toBe(spec.src);
  });

  test("accepts a token exactly TTL seconds old and rejects it one second later", () => {
    expect(fernet.decryptText(token, { ttlSeconds: 60, now: made + 60 })).toBe("t");
    expect(tokenError(() => fernet.decrypt(token, { ttlSeconds: 60, now: made + 61 })).reason).toBe(
      "expired",
    );
  });

  test("allows 60 seconds of clock skew under a TTL and rejects more", () => {
    expect(fernet.decryptText(token, { ttlSeconds: 10, now: made - 60 })).toBe("t");
    expect(tokenError(() => fernet.decrypt(token, { ttlSeconds: 10, now: made - 61 })).reason).toBe("future");
  });

  test("opens a future token without a TTL, as Python's cryptography does", () => {
    const future = fernet.encrypt("t", { now: Math.floor(Date.now() / 1000) + 3600 });
    expect(fernet.decryptText(future)).toBe("t");
  });
});

describe("keys", () => {
  test("generates 44-character padded base64url keys of 32 random bytes", () => {
    const key = generateKey();
    expect(key).toMatch(/^[A-Za-z0-9_-]{43}=$/);
    expect(Buffer.from(key, "base64url")).toHaveLength(32);
    expect(generateKey()).not.toBe(key);
  });

  test("treats a raw 32-byte key, an unpadded and a padded key as the same key", () => {
    const raw = Buffer.from(KEY, "base64url");
    const token = new Fernet(raw).encrypt("same key");
    expect(new Fernet(KEY).decryptText(token)).toBe("same key");
    expect(new Fernet(KEY.replace(/=$/, "")).decryptText(token)).toBe("same key");
  });

  test("rejects keys of the wrong size or format without echoing them", () => {
    const standardBase64 = Buffer.from(KEY, "base64url").toString("base64");
    const bad: unknown[] = [
      "",
      "not a key",
      KEY.slice(0, -2),
      `${KEY}AAAA`,
      standardBase64,
      ` ${KEY}`,
      new Uint8Array(31),
      new Uint8Array(33),
      Array.from({ length: 32 }, () => 0),
      undefined,
    ];
    for (const key of bad) {
      let error: unknown;
      try {
        new Fernet(key as string);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(InvalidFernetKeyError);
      if (!(error instanceof InvalidFernetKeyError)) continue;
      expect(error.code).toBe("vault.invalid_key");
      expect(error.status).toBe(422);
      expect(error.hint).toContain("base64url");
      if (typeof key === "string" && key.length > 0) expect(error.message).not.toContain(key.trim());
    }
  });

  test("a failed decrypt never shows the key in its message, hint or inspection", () => {
    const key = generateKey();
    const fernet = new Fernet(key);
    const token = new Fernet(generateKey()).encrypt("x");
    const error = tokenError(() => fernet.decrypt(token));
    const raw = Buffer.from(key, "base64url");
    const shown = [error.message, error.hint ?? "", String(error), Bun.inspect(error), JSON.stringify(error)];
    const forms = [key, key.replace(/=$/, ""), raw.toString("hex"), raw.toString("base64")];
    for (const text of shown) {
      for (const form of forms) expect(text).not.toContain(form);
    }
    expect(Bun.inspect(fernet)).not.toContain(key.slice(0, 20));
  });

  test("keeps the failure reason off the error's enumerable properties", () => {
    const error = tokenError(() => new Fernet(KEY).decrypt("gAAA"));
    expect(error.reason).toBe("too_short");
    expect(Object.keys(error)).not.toContain("reason");
    expect(JSON.stringify(error)).not.toContain("too_short");
  });
});

describe("MultiFernet", () => {
  const oldKey = generateKey();
  const newKey = generateKey();
  const old = new Fernet(oldKey);
  const fresh = new Fernet(newKey);

  test("decrypts a token from the old key once the list is [new, old]", () => {
    const token = old.encrypt("api key");
    expect(new MultiFernet([fresh, old]).decryptText(token)).toBe("api key");
    expect(new MultiFernet([newKey, oldKey]).decryptText(token)).toBe("api key");
  });

  test("encrypts with the first key only", () => {
    const token = new MultiFernet([fresh, old]).encrypt("x");
    expect(fresh.decryptText(token)).toBe("x");
    tokenError(() => old.decrypt(token));
  });

  test("rotates a token to the new key and keeps its timestamp", () => {
    const token = old.encrypt("rotate me", { now: 1_000_000_000 });
    const rotated = new MultiFernet([fresh, old]).rotate(token);
    expect(rotated).not.toBe(token);
    expect(fresh.decryptText(rotated)).toBe("rotate me");
    expect(fresh.timestamp(rotated)).toBe(1_000_000_000);
    tokenError(() => old.decrypt(rotated));
  });

  test("refuses to rotate a token that no key opens", () => {
    const stranger = new Fernet(generateKey()).encrypt("x");
    expect(tokenError(() => new MultiFernet([fresh, old]).rotate(stranger)).reason).toBe("mac");
  });

  test("reports an expired token as expired rather than trying the next key", () => {
    const token = old.encrypt("x", { now: 100 });
    const error = tokenError(() =>
      new MultiFernet([fresh, old]).decrypt(token, { ttlSeconds: 10, now: 200 }),
    );
    expect(error.reason).toBe("expired");
  });

  test("throws on an empty key list", () => {
    expect(() => new MultiFernet([])).toThrow(InvalidFernetKeyError);
  });
});

/**
 * The first python3 that can import `cryptography.fernet`: the one on PATH (a pyenv shim, say) or
 * the system's, where Debian's python3-cryptography (installed by .ci/run) lives.
 */
const PYTHON = [Bun.which("python3"), "/usr/bin/python3"].find(
  (py) =>
    py !== null &&
    Bun.spawnSync([py, "-c", "import cryptography.fernet"], { stdout: "ignore", stderr: "ignore" })
      .exitCode === 0,
);

/** Why the interop tests cannot run here, or null when python3 with `cryptography` is available. */
function pythonUnavailable(): string | null {
  return PYTHON ? null : "no python3 here can import cryptography.fernet (Debian: python3-cryptography)";
}

function python(script: string, args: string[], stdin: Uint8Array): { stdout: Buffer; stderr: Buffer } {
  const result = Bun.spawnSync([PYTHON as string, "-c", script, ...args], {
    stdin,
    stdout: "pipe",
    stderr: "pipe",
  });
  if (result.exitCode !== 0) throw new Error(`python3 failed: ${result.stderr.toString()}`);
  return { stdout: result.stdout, stderr: result.stderr };
}

const PY_ENCRYPT =
  "import sys; from cryptography.fernet import Fernet; " +
  "sys.stdout.write(Fernet(sys.argv[1]).encrypt_at_time(sys.stdin.buffer.read(), int(sys.argv[2])).decode())";
// The timestamp goes to stderr so stdout carries only the (binary) plaintext.
const PY_DECRYPT =
  "import sys; from cryptography.fernet import Fernet; f = Fernet(sys.argv[1]); t = sys.stdin.read(); " +
  "sys.stderr.write(str(f.extract_timestamp(t))); sys.stdout.buffer.write(f.decrypt(t))";

function pythonEncrypt(key: string, plaintext: Uint8Array, now: number): string {
  return python(PY_ENCRYPT, [key, String(now)], plaintext).stdout.toString();
}

function pythonDecrypt(key: string, token: string): { plaintext: Buffer; timestamp: number } {
  const result = python(PY_DECRYPT, [key], Buffer.from(token));
  return { plaintext: result.stdout, timestamp: Number(result.stderr.toString()) };
}

const skipPython = pythonUnavailable();
if (skipPython) console.warn(`fernet interop tests skipped: ${skipPython}`);
const skipNote = skipPython ? ` (skipped: ${skipPython})` : "";

describe("interop with Python's cryptography", () => {
  const key = generateKey();
  const plaintext = Buffer.concat([allByteValues(), Buffer.from("ünïcode")]);

  test.skipIf(skipPython !== null)(`decrypts a token made by Python${skipNote}`, () => {
    const token = pythonEncrypt(key, plaintext, 1_700_000_000);
    const fernet = new Fernet(key);
    expect(fernet.decrypt(token).equals(plaintext)).toBe(true);
    expect(fernet.timestamp(token)).toBe(1_700_000_000);
  });

  test.skipIf(skipPython !== null)(`makes tokens that Python decrypts${skipNote}`, () => {
    const token = new Fernet(key).encrypt(plaintext, { now: 1_700_000_000 });
    const opened = pythonDecrypt(key, token);
    expect(opened.plaintext.equals(plaintext)).toBe(true);
    expect(opened.timestamp).toBe(1_700_000_000);
  });

  test.skipIf(skipPython !== null)(
    `makes rotated tokens that Python decrypts at their old time${skipNote}`,
    () => {
      const old = new Fernet(generateKey());
      const rotated = new MultiFernet([key, old]).rotate(old.encrypt("rotated", { now: 1_600_000_000 }));
      const opened = pythonDecrypt(key, rotated);
      expect(opened.plaintext.toString()).toBe("rotated");
      expect(opened.timestamp).toBe(1_600_000_000);
    },
  );
});
