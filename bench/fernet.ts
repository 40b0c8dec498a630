/**
 * Fernet throughput for a typical stored secret (~110 bytes, e.g. an API key with some JSON around it).
 * Run directly with `bun bench/fernet.ts`, or call `run()` from a bench runner.
 */
import { Fernet, generateKey } from "../src/vault/fernet.ts";

export interface FernetBenchResult {
  secretBytes: number;
  iterations: number;
  roundTripOpsPerSec: number;
  encryptOpsPerSec: number;
  decryptOpsPerSec: number;
}

const SECRET = `{"provider":"example","apiKey":"sk-live-${"x".repeat(48)}","scope":"read"}`.padEnd(110, " ");
const WARMUP = 2_000;

function opsPerSec(iterations: number, fn: () => void): number {
  const start = Bun.nanoseconds();
  for (let i = 0; i < iterations; i++) fn();
  const seconds = (Bun.nanoseconds() - start) / 1e9;
  return Math.round(iterations / seconds);
}

export function run(iterations = 20_000): FernetBenchResult {
  const fernet = new Fernet(generateKey());
  const token = fernet.encrypt(SECRET);
  const roundTrip = () => {
    fernet.decrypt(fernet.encrypt(SECRET));
  };
  opsPerSec(WARMUP, roundTrip);
  return {
    secretBytes: Buffer.byteLength(SECRET),
    iterations,
    roundTripOpsPerSec: opsPerSec(iterations, roundTrip),
    encryptOpsPerSec: opsPerSec(iterations, () => fernet.encrypt(SECRET)),
    decryptOpsPerSec: opsPerSec(iterations, () => fernet.decrypt(token)),
  };
}

if (import.meta.main) {
  const result = run();
  console.log(`fernet: ${result.secretBytes}-byte secret, ${result.iterations} iterations after warm-up`);
  console.log(`encrypt+decrypt: ${result.roundTripOpsPerSec.toLocaleString("en-US")} ops/s`);
  console.log(`encrypt only:    ${result.encryptOpsPerSec.toLocaleString("en-US")} ops/s`);
  console.log(`decrypt only:    ${result.decryptOpsPerSec.toLocaleString("en-US")} ops/s`);
}
