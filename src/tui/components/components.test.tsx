import { afterEach, describe, expect, test } from "bun:test";
import chalk from "chalk";
import { type Rendered, renderInk } from "../../../test/helpers/tui.tsx";
import { line } from "../keys.ts";
import { STATE_STYLES, ThemeProvider } from "../theme.tsx";
import { StateBadge } from "./StateBadge.tsx";
import { type Column, fitColumns, Table } from "./Table.tsx";
import { TextInput } from "./TextInput.tsx";

let ui: Rendered | undefined;
afterEach(() => {
  ui?.unmount();
  ui = undefined;
});

describe("state badge", () => {
  test("every state has its own symbol, and the name is always written out", () => {
    const symbols = Object.values(STATE_STYLES).map((s) => s.symbol);
    expect(new Set(symbols).size).toBe(symbols.length);
    for (const [state, style] of Object.entries(STATE_STYLES)) {
      ui = renderInk(<StateBadge state={state} />);
      expect(ui.frame()).toBe(`${style.symbol} ${state}`);
      ui.unmount();
    }
    ui = renderInk(<StateBadge state="weird" />);
    expect(ui.frame()).toBe("? weird");
  });

  test("colour is added when on and never emitted when off (NO_COLOR)", () => {
    const level = chalk.level;
    chalk.level = 1;
    try {
      ui = renderInk(<StateBadge state="failed" />);
      expect(ui.raw()).toBe("\x1b[31m✖ failed\x1b[39m");
      ui.unmount();
      ui = renderInk(
        <ThemeProvider value={{ color: false }}>
          <StateBadge state="failed" />
        </ThemeProvider>,
      );
      expect(ui.raw()).toBe("✖ failed");
    } finally {
      chalk.level = level;
    }
  });
});

interface Row {
  name: string;
  state: string;
  last: string;
}
const COLUMNS: Column<Row>[] = [
  { header: "NAME", min: 8, get: (r) => r.name },
  { header: "STATE", width: 10, priority: 9, get: (r) => r.state },
  { header: "LAST", width: 10, priority: 1, get: (r) => r.last },
];
const ROWS: Row[] = Array.from({ length: 10 }, (_, i) => ({
  name: `deployment-with-a-long-name-${i}`,
  state: "running",
  last: "5m ago",
}));

describe("table", () => {
  test("truncates cells to the width and drops the lowest-priority column when narrow", () => {
    expect(fitColumns(COLUMNS, 60).map((c) => [c.col.header, c.width])).toEqual([
      ["NAME", 34],
      ["STATE", 10],
      ["LAST", 10],
    ]);
    expect(fitColumns(COLUMNS, 25).map((c) => c.col.header)).toEqual(["NAME", "STATE"]);
    ui = renderInk(
      <Table columns={COLUMNS} rows={ROWS} selected={0} width={30} height={4} rowKey={(r) => r.name} />,
    );
    const lines = ui.frame().split("\n");
    expect(lines[0]).toMatch(/^ {2}NAME\s+STATE$/);
    expect(lines[1]).toBe("› deployment-with…  running");
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(30);
  });

  test("scrolls to keep the selected row in view", () => {
    ui = renderInk(
      <Table columns={COLUMNS} rows={ROWS} selected={7} width={60} height={4} rowKey={(r) => r.name} />,
    );
    const lines = ui.frame().split("\n");
    expect(lines).toHaveLength(4);
    expect(lines[3]).toContain("› deployment-with-a-long-name-7");
    expect(ui.frame()).not.toContain("name-0");
  });
});

describe("text input", () => {
  test("a secret is masked; revealed it shows as typed", () => {
    ui = renderInk(<TextInput state={line("hunter2")} focused={false} width={20} mask />);
    expect(ui.frame()).toBe("•••••••");
    ui.rerender(<TextInput state={line("hunter2")} focused={false} width={20} />);
    expect(ui.frame()).toBe("hunter2");
  });

  test("a long value scrolls so the cursor stays visible", () => {
    ui = renderInk(<TextInput state={line("abcdefghijklmnop")} focused width={6} />);
    expect(ui.frame()).toBe("mnop");
  });
});
