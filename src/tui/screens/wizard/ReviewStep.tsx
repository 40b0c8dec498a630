import { Box, Text } from "ink";
import { useEffect, useRef, useState } from "react";
import { Footer, type Hint } from "../../components/Footer.tsx";
import { StatusLine } from "../../components/Notice.tsx";
import { TextInput } from "../../components/TextInput.tsx";
import { padEnd, percent, width as textWidth, truncate } from "../../format.ts";
import { useAction, useApi } from "../../hooks.tsx";
import { editLine, is, type LineState, line } from "../../keys.ts";
import { useSubKeys } from "../../screen.tsx";
import { confidenceColor, useColor } from "../../theme.tsx";
import type { StepProps, WizardState } from "../Wizard.tsx";
import {
  defaultName,
  evidenceText,
  HEADER_NAME,
  manifestRows,
  manifestTitle,
  type ReviewRow,
  SLUG,
} from "./model.ts";
import { StepBar } from "./StepBar.tsx";

const EDIT_HELP: Record<string, string[]> = {
  name: ["The deployment's name: lowercase letters, digits and dashes.", "Its endpoint is /mcp/<name>."],
  mode: [
    "isolated: every client session gets its own server process (safe default).",
    "shared: one process serves every session (less memory; the server must not keep per-user state).",
  ],
  args: [
    "Appended to the server's command line, e.g. --read-only.",
    'Quote words with spaces: --root "/srv/my files".',
  ],
  headerName: [
    "A header the remote server needs, e.g. Authorization or X-Api-Key; empty for none.",
    "More headers, or a new value later: v in the deployment's view.",
  ],
  headerValue: [
    "Its value, e.g. Bearer sk-…: typed masked (ctrl-r shows), stored encrypted, never shown again.",
  ],
};

type Editable = "name" | "args" | "headerName" | "headerValue";

function editRows(w: WizardState): ReviewRow[] {
  const rows: ReviewRow[] = [
    { key: "name", label: "Deploy as", value: w.name.value, evidence: [], edit: "name" },
    { key: "mode", label: "Sessions", value: `‹ ${w.sessionMode} ›`, evidence: [], edit: "mode" },
  ];
  if (w.kind !== "remote") {
    rows.push({
      key: "args",
      label: "Extra args",
      value: w.args.value || "(none)",
      evidence: [],
      edit: "args",
    });
    return rows;
  }
  const value = w.headerValue.value ? "•".repeat(Math.min(24, w.headerValue.value.length)) : "(none)";
  rows.push(
    {
      key: "header",
      label: "Header",
      value: w.headerName.value || "(none)",
      evidence: [],
      edit: "headerName",
    },
    { key: "header-value", label: "Header value", value, evidence: [], edit: "headerValue" },
  );
  return rows;
}

function sourceRows(w: WizardState): ReviewRow[] {
  const how =
    w.kind === "remote"
      ? "a remote MCP server: proxied as is, no analysis"
      : "not analysed: no manifest and no credential form";
  return [{ key: "source", label: "Source", value: w.source.value.trim(), evidence: [], details: [how] }];
}

function rule(title: string, width: number): string {
  const head = `─ ${title} `;
  return head + "─".repeat(Math.max(0, width - textWidth(head)));
}

function paneLines(row: ReviewRow | undefined, warnings: string[] | undefined): string[] {
  if (warnings) return warnings.length ? warnings.map((x) => `! ${x}`) : ["No warnings."];
  if (!row) return [];
  if (row.edit) return EDIT_HELP[row.edit] ?? [];
  const lines = [
    ...(row.confidence !== undefined ? [`confidence ${percent(row.confidence)}`] : []),
    ...row.evidence.map((e) => `· ${evidenceText(e)}`),
    ...(row.details ?? []),
  ];
  return lines.length ? lines : ["no evidence recorded"];
}

/**
 * Step 3: the manifest, field by field, with each field's confidence and evidence (of the row
 * under the cursor). The operator accepts it (`a`) or edits the deployment name, session mode and
 * extra arguments first.
 */
export function ReviewStep({ w, set, go, keys, width, height }: StepProps) {
  const api = useApi();
  const color = useColor();
  const action = useAction();
  const [selected, setSelected] = useState(0);
  const [editing, setEditing] = useState<{ key: Editable; before: LineState } | undefined>(undefined);
  const [reveal, setReveal] = useState(false);
  const [showWarnings, setShowWarnings] = useState(false);
  const offset = useRef(0);
  const m = w.analysis?.manifest ?? undefined;
  const rows = [...editRows(w), ...(m ? manifestRows(m) : sourceRows(w))];
  const index = Math.max(0, Math.min(selected, rows.length - 1));
  const row = rows[index];
  const warnings = w.analysis?.warnings ?? [];

  // biome-ignore lint/correctness/useExhaustiveDependencies: the default name is computed once.
  useEffect(() => {
    if (w.name.value) return;
    api
      .deployments()
      .then((all) => set({ name: line(defaultName(w.source.value, new Set(all.map((d) => d.slug)))) }))
      .catch(() => set({ name: line(defaultName(w.source.value, new Set())) }));
  }, []);

  const accept = async () => {
    if (!SLUG.test(w.name.value)) {
      action.setMessage({ text: "The name must be lowercase letters, digits and dashes.", error: true });
      setSelected(0);
      return;
    }
    if (w.kind === "remote") {
      const header = w.headerName.value.trim();
      if (header && !HEADER_NAME.test(header)) {
        action.setMessage({ text: "A header name is letters, digits and - (e.g. X-Api-Key).", error: true });
        setSelected(2);
        return;
      }
      if (header && !w.headerValue.value) {
        action.setMessage({ text: `Give ${header} a value, or clear the header name.`, error: true });
        setSelected(3);
        return;
      }
    }
    const a = w.analysis;
    if (!a) return go("deploying");
    const schema = await action.run("loading the credential schema…", () => api.credentialSchema(a.id));
    if (!schema) return;
    const values = Object.fromEntries(
      Object.entries(schema.properties).map(([n, p]) => [n, w.values[n] ?? line(p.default ?? "")]),
    );
    set({ schema, values });
    go(Object.keys(schema.properties).length ? "credentials" : "deploying");
  };

  useSubKeys(keys, (k) => {
    if (editing) {
      if (is.enter(k)) {
        if (editing.key === "name" && !SLUG.test(w.name.value)) {
          action.setMessage({ text: "lowercase letters, digits and dashes (at most 48)", error: true });
          return true;
        }
        action.setMessage(undefined);
        setEditing(undefined);
        setReveal(false);
      } else if (is.escape(k)) {
        set({ [editing.key]: editing.before });
        setEditing(undefined);
        setReveal(false);
      } else if (editing.key === "headerValue" && is.ctrl(k, "r")) {
        setReveal((x) => !x);
      } else {
        const next = editLine(w[editing.key], k);
        if (next) set({ [editing.key]: next });
      }
      return true;
    }
    const toggle = () => set({ sessionMode: w.sessionMode === "isolated" ? "shared" : "isolated" });
    if (is.up(k)) setSelected(Math.max(0, index - 1));
    else if (is.down(k)) setSelected(Math.min(rows.length - 1, index + 1));
    else if (row?.edit === "mode" && (is.enter(k) || k.ch === " " || k.name === "left" || k.name === "right"))
      toggle();
    else if (row?.edit && row.edit !== "mode" && is.enter(k))
      setEditing({ key: row.edit, before: w[row.edit] });
    else if (k.ch === "a") void accept();
    else if (k.ch === "w") setShowWarnings((x) => !x);
    else if (is.escape(k)) go("source");
    else return false;
    return true;
  });

  const pane = paneLines(row, showWarnings ? warnings : undefined);
  const paneRows = 4;
  const listRows = Math.max(3, height - 6 - paneRows - (warnings.length ? 1 : 0));
  if (index < offset.current) offset.current = index;
  if (index >= offset.current + listRows) offset.current = index - listRows + 1;
  const labelW = Math.min(24, Math.max(12, ...rows.map((r) => r.label.length)));
  const valueW = Math.max(10, width - labelW - 2 - 6 - 2);
  const hints: Hint[] = editing
    ? [
        ["enter", "keep"],
        ["esc", "undo"],
      ]
    : [
        ["a", w.analysis ? "accept" : "deploy"],
        ["↑↓", "field"],
        ["enter", "edit"],
        ...(warnings.length ? ([["w", "warnings"]] as Hint[]) : []),
        ["esc", "back"],
      ];
  return (
    <Box flexDirection="column" width={width} height={height}>
      <StepBar step="review" detail={w.analysis?.cached ? "(cached analysis)" : undefined} />
      <Text bold wrap="truncate">
        {truncate(w.analysis ? manifestTitle(w.analysis) : w.source.value.trim(), width)}
      </Text>
      <Text bold wrap="truncate">{`  ${padEnd("FIELD", labelW)} ${padEnd("VALUE", valueW)} CONF.`}</Text>
      <Box flexDirection="column" height={listRows}>
        {rows.slice(offset.current, offset.current + listRows).map((r, i) => {
          const sel = offset.current + i === index;
          const isEditing = sel && editing !== undefined && r.edit === editing.key;
          return (
            <Text key={r.key} wrap="truncate" bold={sel}>
              {sel ? "› " : "  "}
              <Text color={color(r.edit ? "cyan" : undefined)}>{padEnd(r.label, labelW)} </Text>
              {isEditing && editing ? (
                <TextInput
                  state={w[editing.key]}
                  focused
                  width={valueW}
                  mask={editing.key === "headerValue" && !reveal}
                />
              ) : (
                <Text>{padEnd(r.value, valueW)}</Text>
              )}
              {r.confidence !== undefined ? (
                <Text
                  color={color(confidenceColor(r.confidence))}
                >{` ${percent(r.confidence).padStart(4)}`}</Text>
              ) : (
                <Text dimColor>{r.edit ? "  edit" : ""}</Text>
              )}
            </Text>
          );
        })}
      </Box>
      <Text dimColor wrap="truncate">
        {rule(showWarnings ? "warnings" : row?.edit ? "about" : `evidence · ${row?.label ?? ""}`, width)}
      </Text>
      <Box flexDirection="column" height={paneRows}>
        {pane.slice(0, paneRows).map((l, i) => (
          // biome-ignore lint/suspicious/noArrayIndexKey: lines of a static pane.
          <Text key={i} wrap="truncate">
            {l}
          </Text>
        ))}
      </Box>
      {warnings.length && !showWarnings ? (
        <Text color={color("yellow")} wrap="truncate">
          {truncate(`! ${warnings.length} warning${warnings.length === 1 ? "" : "s"}: ${warnings[0]}`, width)}
        </Text>
      ) : null}
      <StatusLine busy={action.busy} message={action.message} width={width} />
      <Footer hints={hints} width={width} />
    </Box>
  );
}
