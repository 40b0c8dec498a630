import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { readSse, type SseEvent } from "../client/sse.ts";
import { notification } from "../mcp/jsonrpc.ts";
import { LogicalStream, parseEventId, SseConnection } from "./stream.ts";

/** Attaches a fresh connection, lets the stream finish, and returns what the client received. */
async function replay(stream: LogicalStream, after?: number): Promise<SseEvent[]> {
  const conn = new SseConnection({ keepAliveMs: 0, headers: {} });
  stream.attach(conn, after === undefined ? {} : { after });
  stream.finish();
  const got: SseEvent[] = [];
  await readSse(conn.response.body as ReadableStream<Uint8Array>, (e) => got.push(e));
  return got;
}

const note = (text: string) => notification("notifications/message", { level: "info", data: text });

describe("logical SSE streams", () => {
  test("events written while no client is connected are delivered when one attaches", async () => {
    const s = new LogicalStream("g", 100);
    s.write(note("one"));
    s.write(note("two"));
    const got = await replay(s);
    expect(got.map((e) => e.id)).toEqual(["g.1", "g.2"]);
    expect(got[1]?.data).toContain('"two"');
  });

  test("resuming after an event id replays only what follows it", async () => {
    const s = new LogicalStream("p3", 100);
    for (const t of ["a", "b", "c", "d"]) s.write(note(t));
    const got = await replay(s, 2);
    expect(got.map((e) => e.id)).toEqual(["p3.3", "p3.4"]);
  });

  test("the buffer keeps at most its event count", async () => {
    const s = new LogicalStream("g", 3);
    for (let i = 0; i < 10; i++) s.write(note(String(i)));
    expect((await replay(s, 0)).map((e) => e.id)).toEqual(["g.8", "g.9", "g.10"]);
  });

  test("the buffer keeps at most about 8 MiB, dropping the oldest events first", async () => {
    const s = new LogicalStream("p1", 1000);
    const big = "x".repeat(3 * 1024 * 1024);
    for (let i = 0; i < 5; i++) s.write(note(big));
    const got = await replay(s, 0);
    expect(got.map((e) => e.id)).toEqual(["p1.4", "p1.5"]);
  });

  test("event ids parse back into stream and sequence; malformed ids do not", () => {
    expect(parseEventId("p12.7")).toEqual({ stream: "p12", seq: 7 });
    expect(parseEventId("g.0")).toEqual({ stream: "g", seq: 0 });
    for (const bad of [null, "", "nodot", ".5", "p1.x", "p1.-2"]) expect(parseEventId(bad)).toBeUndefined();
  });
});

describe("Last-Event-ID parsing", () => {
  test("our own event ids round-trip, and any other header value parses or is ignored without throwing", () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[pg][0-9]{1,6}$/), fc.nat(), (stream, seq) => {
        expect(parseEventId(`${stream}.${seq}`)).toEqual({ stream, seq });
      }),
    );
    fc.assert(
      fc.property(fc.option(fc.string()), (value) => {
        const parsed = parseEventId(value);
        if (parsed === undefined) return;
        expect(Number.isInteger(parsed.seq) && parsed.seq >= 0).toBe(true);
        expect(parsed.stream.length).toBeGreaterThan(0);
      }),
    );
  });
});
