/**
 * Nesting depth of a parsed JSON value (a scalar is 0, `[]` is 1), computed without recursion so a
 * hostile document cannot overflow the stack here; it stops counting once `limit` is exceeded.
 * Parsing deep JSON is safe in Bun, but `JSON.stringify`, validators and other servers' parsers
 * recurse, so bodies are refused before anything else touches them.
 */
export function jsonDepth(value: unknown, limit = Number.POSITIVE_INFINITY): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [node, above] = stack.pop() as [unknown, number];
    if (node === null || typeof node !== "object") continue;
    const depth = above + 1;
    if (depth > max) max = depth;
    if (max > limit) return max;
    for (const child of Array.isArray(node) ? node : Object.values(node)) {
      if (child !== null && typeof child === "object") stack.push([child, depth]);
    }
  }
  return max;
}
