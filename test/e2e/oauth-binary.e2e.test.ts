import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { isolatedBinary, waitForServer } from "../helpers/binary.ts";

describe("OAuth in the compiled binary", () => {
  test("serves discovery and a JWKS whose key survives a restart", async () => {
    const { dir, bin } = isolatedBinary();
    const dataDir = join(dir, "data");
    const start = () =>
      Bun.spawn([bin, "serve", "--port", "0", "--data-dir", dataDir], {
        cwd: dir,
        env: { PATH: "/usr/bin:/bin", HOME: dir },
        stdout: "ignore",
        stderr: "ignore",
      });
    const kids: string[] = [];
    for (let run = 0; run < 2; run++) {
      const proc = start();
      try {
        const url = await waitForServer(dataDir);
        const meta = (await (await fetch(`${url}/.well-known/oauth-authorization-server`)).json()) as {
          issuer: string;
          jwks_uri: string;
        };
        expect(meta.issuer).toBe(url);
        const jwks = (await (await fetch(meta.jwks_uri)).json()) as { keys: { kid: string; alg: string }[] };
        expect(jwks.keys).toHaveLength(1);
        expect(jwks.keys[0]?.alg).toBe("ES256");
        kids.push(jwks.keys[0]?.kid as string);
      } finally {
        proc.kill("SIGTERM");
        expect(await proc.exited).toBe(0);
      }
    }
    expect(kids[1]).toBe(kids[0]);
  });
});
