/**
 * Fernet (https://github.com/fernet/spec), version 0x80: authenticated symmetric encryption with
 * tokens that Python's `cryptography` and every other conforming implementation can open.
 *
 *   token = base64url(0x80 ‖ timestamp u64 BE ‖ IV 16 ‖ AES-128-CBC(PKCS7(plaintext)) ‖ HMAC-SHA256)
 *   key   = base64url(signing key 16 ‖ encryption key 16)
 *
 * Only node:crypto and Buffer are used, so this works in Bun and in a `bun build --compile` binary.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { CatwalkError } from "../util/error.ts";

const VERSION = 0x80;
const KEY_BYTES = 32;
const HALF_KEY = 16;
const BLOCK = 16;
const HMAC_BYTES = 32;
const HEADER_BYTES = 1 + 8 + BLOCK;
const MAX_CLOCK_SKEW_SECONDS = 60n;
const BASE64URL_BODY = /^[A-Za-z0-9_-]*$/;
const BASE64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

export class InvalidFernetKeyError extends CatwalkError {
  readonly code = "vault.invalid_key";
  readonly status = 422;

  constructor(
    message = "A Fernet key must be 32 bytes encoded as base64url (44 characters, as generateKey() makes).",
  ) {
    super(message, {
      hint:
        "Check the configured master key (the masterKey setting or <dataDir>/master.key): every entry must " +
        "be a 44-character base64url key, as made by generateKey() or Python's Fernet.generate_key().",
    });
  }
}

/** Why a token was rejected. Kept off the message so callers see no padding or MAC oracle. */
export type FernetTokenFailure =
  | "base64"
  | "too_short"
  | "version"
  | "block_size"
  | "mac"
  | "future"
  | "expired"
  | "padding";

export class InvalidFernetTokenError extends CatwalkError {
  readonly code = "vault.invalid_token";
  readonly status = 500;
  declare readonly reason: FernetTokenFailure;

  constructor(reason: FernetTokenFailure) {
    super("Stored secret could not be decrypted: the Fernet token is invalid, expired or for another key.", {
      hint:
        "The value was encrypted under a different master key or has been damaged. If the master key " +
        "was rotated, keep the previous key configured after the new one (newest first) until secrets " +
        "are rotated.",
    });
    // Non-enumerable so that spreading or serialising the error cannot show the reason to clients.
    Object.defineProperty(this, "reason", { value: reason, enumerable: false });
  }
}

export interface EncryptOptions {
  /** Unix seconds to record in the token; defaults to the current time. */
  now?: number;
  /** A fixed 16-byte IV, for test vectors only: reusing an IV under one key is unsafe. */
  iv?: Uint8Array;
}

export interface DecryptOptions {
  /**
   * Maximum token age. Without it tokens never expire and the timestamp is not checked at all, as in
   * Python's `cryptography`: stored secrets must open forever, even if written by a host whose clock
   * ran ahead.
   */
  ttlSeconds?: number;
  /** Unix seconds to check the TTL against; defaults to the current time. */
  now?: number;
}

interface KeyPair {
  signing: Buffer;
  encryption: Buffer;
}

interface ParsedToken {
  bytes: Buffer;
  timestamp: bigint;
}

interface TimeCheck {
  ttlSeconds: bigint;
  now: bigint;
}

/** Base64url with or without `=` padding; `null` for anything else, including `+`, `/` and stray bits. */
function decodeBase64Url(text: string): Buffer | null {
  const body = text.slice(0, text.length - paddingLength(text));
  if (body.length !== text.length && text.length % 4 !== 0) return null;
  const tail = body.length % 4;
  if (tail === 1 || !BASE64URL_BODY.test(body)) return null;
  if (!hasCanonicalTail(body, tail)) return null;
  return Buffer.from(body, "base64url");
}

function paddingLength(text: string): number {
  if (text.endsWith("==")) return 2;
  return text.endsWith("=") ? 1 : 0;
}

/** The unused low bits of the last character must be zero, so each byte string has one encoding. */
function hasCanonicalTail(body: string, tail: number): boolean {
  if (tail === 0) return true;
  const last = BASE64URL_ALPHABET.indexOf(body.charAt(body.length - 1));
  const unusedBits = tail === 2 ? 0b1111 : 0b11;
  return (last & unusedBits) === 0;
}

/** Base64url with `=` padding, as Python's `urlsafe_b64encode` and the spec vectors write it. */
function encodeBase64Url(bytes: Buffer): string {
  const body = bytes.toString("base64url");
  return body.padEnd(Math.ceil(body.length / 4) * 4, "=");
}

function parseKey(key: string | Uint8Array): KeyPair {
  const raw = keyBytes(key);
  if (raw === null || raw.length !== KEY_BYTES) throw new InvalidFernetKeyError();
  // A copy, so a caller reusing its buffer cannot change the key under us.
  const copy = Buffer.from(raw);
  return { signing: copy.subarray(0, HALF_KEY), encryption: copy.subarray(HALF_KEY) };
}

function keyBytes(key: unknown): Uint8Array | null {
  if (typeof key === "string") return decodeBase64Url(key);
  return key instanceof Uint8Array ? key : null;
}

function parseToken(token: string): ParsedToken {
  const bytes = typeof token === "string" ? decodeBase64Url(token) : null;
  if (bytes === null) throw new InvalidFernetTokenError("base64");
  if (bytes.length < HEADER_BYTES + HMAC_BYTES) throw new InvalidFernetTokenError("too_short");
  if (bytes[0] !== VERSION) throw new InvalidFernetTokenError("version");
  const ciphertextBytes = bytes.length - HEADER_BYTES - HMAC_BYTES;
  if (ciphertextBytes % BLOCK !== 0) throw new InvalidFernetTokenError("block_size");
  // PKCS7 always adds at least one byte, so there is at least one block.
  if (ciphertextBytes === 0) throw new InvalidFernetTokenError("too_short");
  return { bytes, timestamp: bytes.readBigUInt64BE(1) };
}

function sign(keys: KeyPair, data: Buffer): Buffer {
  return createHmac("sha256", keys.signing).update(data).digest();
}

function verifyMac(keys: KeyPair, bytes: Buffer): void {
  const macAt = bytes.length - HMAC_BYTES;
  const expected = sign(keys, bytes.subarray(0, macAt));
  if (!timingSafeEqual(expected, bytes.subarray(macAt))) throw new InvalidFernetTokenError("mac");
}

function checkTime(timestamp: bigint, time: TimeCheck): void {
  if (timestamp > time.now + MAX_CLOCK_SKEW_SECONDS) throw new InvalidFernetTokenError("future");
  if (timestamp + time.ttlSeconds < time.now) throw new InvalidFernetTokenError("expired");
}

/** PKCS7 is checked here, not by the cipher, so the rule is exact and independent of the TLS library. */
function unpad(padded: Buffer): Buffer {
  const count = padded[padded.length - 1] ?? 0;
  if (count < 1 || count > BLOCK) throw new InvalidFernetTokenError("padding");
  for (let i = padded.length - count; i < padded.length; i++) {
    if (padded[i] !== count) throw new InvalidFernetTokenError("padding");
  }
  return padded.subarray(0, padded.length - count);
}

function decryptBody(keys: KeyPair, bytes: Buffer): Buffer {
  const iv = bytes.subarray(1 + 8, HEADER_BYTES);
  const ciphertext = bytes.subarray(HEADER_BYTES, bytes.length - HMAC_BYTES);
  const decipher = createDecipheriv("aes-128-cbc", keys.encryption, iv).setAutoPadding(false);
  return unpad(Buffer.concat([decipher.update(ciphertext), decipher.final()]));
}

/** Authenticates first, then checks time, then decrypts: nothing unauthenticated reaches the cipher. */
function open(keys: KeyPair, token: ParsedToken, time: TimeCheck | null): Buffer {
  verifyMac(keys, token.bytes);
  if (time !== null) checkTime(token.timestamp, time);
  return decryptBody(keys, token.bytes);
}

function seal(keys: KeyPair, plaintext: Uint8Array, timestamp: bigint, iv: Uint8Array): string {
  const header = Buffer.alloc(HEADER_BYTES);
  header[0] = VERSION;
  header.writeBigUInt64BE(timestamp, 1);
  header.set(iv, 1 + 8);
  const cipher = createCipheriv("aes-128-cbc", keys.encryption, iv);
  const body = Buffer.concat([header, cipher.update(plaintext), cipher.final()]);
  return encodeBase64Url(Buffer.concat([body, sign(keys, body)]));
}

function toBytes(plaintext: string | Uint8Array): Uint8Array {
  return typeof plaintext === "string" ? Buffer.from(plaintext, "utf8") : plaintext;
}

function unixSeconds(now: number | undefined): bigint {
  const seconds = Math.floor(now ?? Date.now() / 1000);
  if (!Number.isSafeInteger(seconds) || seconds < 0) {
    throw new RangeError("now must be non-negative Unix seconds");
  }
  return BigInt(seconds);
}

function chooseIv(iv: Uint8Array | undefined): Uint8Array {
  if (iv === undefined) return randomBytes(BLOCK);
  if (iv.length !== BLOCK) throw new RangeError(`iv must be ${BLOCK} bytes`);
  return iv;
}

function timeCheck(opts: DecryptOptions | undefined): TimeCheck | null {
  if (opts?.ttlSeconds === undefined) return null;
  if (!Number.isSafeInteger(opts.ttlSeconds) || opts.ttlSeconds < 0) {
    throw new RangeError("ttlSeconds must be a non-negative integer");
  }
  return { ttlSeconds: BigInt(opts.ttlSeconds), now: unixSeconds(opts.now) };
}

/** Strict UTF-8: a token holding binary data throws a TypeError instead of turning into U+FFFD. */
function utf8(bytes: Buffer): string {
  return UTF8.decode(bytes);
}

/** Reads a Fernet's private keys: MultiFernet needs them, nothing outside this module can. */
let keysOf: (fernet: Fernet) => KeyPair;

export class Fernet {
  readonly #keys: KeyPair;

  static {
    keysOf = (fernet) => fernet.#keys;
  }

  constructor(key: string | Uint8Array) {
    this.#keys = parseKey(key);
  }

  encrypt(plaintext: string | Uint8Array, opts: EncryptOptions = {}): string {
    return seal(this.#keys, toBytes(plaintext), unixSeconds(opts.now), chooseIv(opts.iv));
  }

  decrypt(token: string, opts?: DecryptOptions): Buffer {
    return open(this.#keys, parseToken(token), timeCheck(opts));
  }

  decryptText(token: string, opts?: DecryptOptions): string {
    return utf8(this.decrypt(token, opts));
  }

  /** The token's creation time in Unix seconds, after checking its HMAC (not its age). */
  timestamp(token: string): number {
    const parsed = parseToken(token);
    verifyMac(this.#keys, parsed.bytes);
    return Number(parsed.timestamp);
  }
}

/** Several keys, newest first: the first encrypts, any of them decrypts. */
export class MultiFernet {
  readonly #primary: Fernet;
  readonly #fernets: readonly Fernet[];

  constructor(keys: readonly (Fernet | string)[]) {
    const fernets = keys.map((key) => (key instanceof Fernet ? key : new Fernet(key)));
    const [primary] = fernets;
    if (primary === undefined) throw new InvalidFernetKeyError("At least one Fernet key is required.");
    this.#primary = primary;
    this.#fernets = fernets;
  }

  encrypt(plaintext: string | Uint8Array, opts?: EncryptOptions): string {
    return this.#primary.encrypt(plaintext, opts);
  }

  decrypt(token: string, opts?: DecryptOptions): Buffer {
    return this.#openWithAny(parseToken(token), timeCheck(opts));
  }

  decryptText(token: string, opts?: DecryptOptions): string {
    return utf8(this.decrypt(token, opts));
  }

  /**
   * Re-encrypts under the first key with a fresh IV, keeping the original timestamp so rotation
   * does not extend a TTL. Like Python's `MultiFernet.rotate`, the token's age is not checked.
   */
  rotate(token: string): string {
    const parsed = parseToken(token);
    const plaintext = this.#openWithAny(parsed, null);
    return seal(keysOf(this.#primary), plaintext, parsed.timestamp, randomBytes(BLOCK));
  }

  /** Only a MAC mismatch means "try the next key"; any later failure is final for an authentic token. */
  #openWithAny(token: ParsedToken, time: TimeCheck | null): Buffer {
    for (const fernet of this.#fernets) {
      try {
        return open(keysOf(fernet), token, time);
      } catch (e) {
        if (!(e instanceof InvalidFernetTokenError) || e.reason !== "mac") throw e;
      }
    }
    throw new InvalidFernetTokenError("mac");
  }
}

/** 32 random bytes as padded base64url, like Python's `Fernet.generate_key()`. */
export function generateKey(): string {
  return encodeBase64Url(randomBytes(KEY_BYTES));
}
