import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { accepts, BodyTooLargeError, isJsonContentType, readBody } from "./http.ts";

/** A request whose body arrives in the given chunks (no Content-Length, like a chunked upload). */
function chunked(chunks: Uint8Array[], headers: Record<string, string> = {}): Request {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const c of chunks) controller.enqueue(c);
      controller.close();
    },
  });
  return new Request("http://localhost/mcp/x", { method: "POST", body, headers });
}

describe("gateway HTTP helpers", () => {
  test("Accept and Content-Type checks never throw, whatever the header", () => {
    fc.assert(
      fc.property(fc.option(fc.string()), fc.string(), (header, type) => {
        expect(typeof accepts(header, type)).toBe("boolean");
        expect(typeof isJsonContentType(header)).toBe("boolean");
      }),
    );
  });

  test("a body in any chunking is read exactly up to the limit and refused past it", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 12 }),
        fc.nat(400),
        async (chunks, limit) => {
          const total = chunks.reduce((n, c) => n + c.byteLength, 0);
          const result = await readBody(chunked(chunks), limit).catch((e: unknown) => e);
          if (total > limit) {
            expect(result).toBeInstanceOf(BodyTooLargeError);
            return;
          }
          expect(result).toBe(new TextDecoder().decode(Buffer.concat(chunks)));
        },
      ),
    );
  });

  test("a declared Content-Length over the limit is refused before reading", async () => {
    const req = new Request("http://localhost/mcp/x", {
      method: "POST",
      body: "{}",
      headers: { "content-length": "999999999" },
    });
    expect(await readBody(req, 1024).catch((e: unknown) => e)).toBeInstanceOf(BodyTooLargeError);
    expect(req.bodyUsed).toBe(false);
  });
});
