import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cli } from "../../test/helpers/cli.ts";
import { connectWithCode, type OAuthTestServer, startOAuthTestServer } from "../../test/helpers/oauth.ts";

const ALPHA = { id: "dep_01ALPHA0000000000000000000", slug: "alpha", name: "Alpha" };

let srv: OAuthTestServer;
let target: string[];

beforeAll(async () => {
  srv = await startOAuthTestServer([ALPHA]);
  target = ["--server", srv.url, "--token", srv.token];
});
afterAll(() => srv.close());

describe("catwalk connect-code and clients", () => {
  test("connect-code prints a one-time code on stdout and the MCP URL on stderr", async () => {
    const res = await cli(["connect-code", "alpha", ...target]);
    expect(res.code).toBe(0);
    expect(res.out).toMatch(/^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/);
    expect(res.err).toContain(`${srv.url}/mcp/alpha`);
    const json = await cli(["connect-code", ALPHA.id, "--json", ...target]);
    expect(JSON.parse(json.out)).toMatchObject({
      deployment: { slug: "alpha" },
      resource: `${srv.url}/mcp/alpha`,
    });
  });

  test("clients ls shows the connected client; revoke removes it; a second revoke exits 3", async () => {
    const code = (await cli(["connect-code", "alpha", ...target])).out;
    const clientId = await connectWithCode(srv.url, code, "CLI test");
    const ls = await cli(["clients", "ls", "alpha", ...target]);
    expect(ls.code).toBe(0);
    expect(ls.out).toContain("CLIENT ID");
    expect(ls.out).toContain(clientId);
    expect(ls.out).toContain("127.0.0.1:9");
    const json = JSON.parse((await cli(["clients", "ls", "alpha", "--json", ...target])).out) as {
      clientId: string;
    }[];
    expect(json.map((c) => c.clientId)).toContain(clientId);

    const revoke = await cli(["clients", "revoke", "alpha", clientId, ...target]);
    expect(revoke.code).toBe(0);
    expect(revoke.out).toBe(`revoked 1 grant of ${clientId} for alpha`);
    const again = await cli(["clients", "revoke", "alpha", clientId, ...target]);
    expect(again.code).toBe(3);
    expect(again.err).toContain("hint:");
    expect((await cli(["clients", "ls", "alpha", ...target])).out).not.toContain(clientId);
  });

  test("unknown deployments exit 3 and malformed commands exit 2", async () => {
    expect((await cli(["clients", "ls", "nope", ...target])).code).toBe(3);
    expect((await cli(["connect-code", "nope", ...target])).code).toBe(3);
    expect((await cli(["clients", "rm", "alpha", ...target])).code).toBe(2);
    expect((await cli(["clients", "ls", ...target])).code).toBe(2);
  });
});
