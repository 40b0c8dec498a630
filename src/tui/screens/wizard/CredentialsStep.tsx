import { Box, Text } from "ink";
import { useRef, useState } from "react";
import type { CredentialSchema } from "../../api.ts";
import { Footer } from "../../components/Footer.tsx";
import { StatusLine } from "../../components/Notice.tsx";
import { TextInput } from "../../components/TextInput.tsx";
import { padEnd, truncate } from "../../format.ts";
import { useAction, useApi } from "../../hooks.tsx";
import { editLine, is, line } from "../../keys.ts";
import { useSubKeys } from "../../screen.tsx";
import { useColor } from "../../theme.tsx";
import type { StepProps } from "../Wizard.tsx";
import { filledValues, issuesByField, localIssue } from "./model.ts";
import { StepBar } from "./StepBar.tsx";

const DEPLOY = "__deploy__";

function FieldBlock({
  schema,
  name,
  w,
  focused,
  revealed,
  error,
  labelW,
  width,
}: {
  schema: CredentialSchema;
  name: string;
  w: StepProps["w"];
  focused: boolean;
  revealed: boolean;
  error: string | undefined;
  labelW: number;
  width: number;
}) {
  const color = useColor();
  const p = schema.properties[name];
  if (!p) return null;
  const required = schema.required.includes(name);
  const secret = p["x-catwalk-secret"] || p.writeOnly === true || p.format === "password";
  const value = w.values[name] ?? line();
  const inputW = Math.max(8, width - labelW - 4);
  const tag = [secret ? "secret" : "", p.default !== undefined ? `default ${p.default}` : ""]
    .filter(Boolean)
    .join(" · ");
  const about = [p.description ?? "", p.enum ? `one of ${p.enum.join(", ")}` : "", tag]
    .filter(Boolean)
    .join(" · ");
  return (
    <Box flexDirection="column">
      <Text wrap="truncate" bold={focused}>
        {focused ? "› " : "  "}
        <Text color={color(required ? "yellow" : undefined)}>
          {padEnd(`${name}${required ? " *" : ""}`, labelW)}
        </Text>
        {"  "}
        {p.enum ? (
          <Text>
            {focused ? "‹ " : ""}
            {value.value || "(unset)"}
            {focused ? " ›" : ""}
          </Text>
        ) : (
          <TextInput
            state={value}
            focused={focused}
            width={inputW}
            mask={secret && !revealed}
            placeholder={
              p.default !== undefined ? `${p.default} (default)` : required ? "required" : "optional"
            }
          />
        )}
      </Text>
      {about ? (
        <Text dimColor wrap="truncate">
          {`    ${truncate(about, width - 4)}`}
        </Text>
      ) : null}
      {error ? (
        <Text color={color("red")} wrap="truncate">
          {`    ✖ ${truncate(error, width - 6)}`}
        </Text>
      ) : null}
    </Box>
  );
}

/**
 * Step 4: a form generated from the analysis' credential schema: required fields marked `*`,
 * secrets masked (ctrl-r reveals while typing), defaults pre-filled, choices cycled with ← →.
 * A field is checked when it is left; the server checks the whole form before deploying.
 */
export function CredentialsStep({ w, set, go, keys, width, height }: StepProps) {
  const api = useApi();
  const color = useColor();
  const action = useAction();
  const schema = w.schema as CredentialSchema;
  const names = Object.keys(schema.properties);
  const items = [...names, DEPLOY];
  const [focus, setFocus] = useState(0);
  const [touched, setTouched] = useState<Set<string>>(new Set());
  const [revealed, setRevealed] = useState(false);
  const offset = useRef(0);
  const current = items[focus] as string;

  const errorOf = (n: string) =>
    w.issues[n] ?? (touched.has(n) ? localIssue(schema, n, w.values[n]?.value ?? "") : undefined);
  const move = (to: number) => {
    setTouched((t) => new Set([...t, current]));
    setRevealed(false);
    setFocus(Math.max(0, Math.min(items.length - 1, to)));
  };
  const values = () => Object.fromEntries(names.map((n) => [n, w.values[n]?.value ?? ""]));

  const submit = async () => {
    setTouched(new Set(names));
    const local = names.filter((n) => localIssue(schema, n, values()[n] ?? ""));
    if (local.length) {
      setFocus(names.indexOf(local[0] as string));
      action.setMessage({ text: `Fix ${local.join(", ")} first.`, error: true });
      return;
    }
    const id = w.analysis?.id as string;
    const check = await action.run("checking the credentials…", () =>
      api.validateCredentials(id, filledValues(values())),
    );
    if (!check) return;
    const issues = issuesByField(schema, check.errors);
    set({ issues });
    if (!check.ok) {
      const first = names.findIndex((n) => issues[n]);
      if (first >= 0) setFocus(first);
      action.setMessage({ text: "The server found problems; see the fields.", error: true });
      return;
    }
    go("deploying");
  };

  useSubKeys(keys, (k) => {
    if (is.escape(k)) go("review");
    else if (k.name === "down" || (k.name === "tab" && !k.shift)) move(focus + 1);
    else if (k.name === "up" || (k.name === "tab" && k.shift)) move(focus - 1);
    else if (is.enter(k)) {
      if (current === DEPLOY) void submit();
      else move(focus + 1);
    } else if (current === DEPLOY) return true;
    else if (is.ctrl(k, "r")) setRevealed((r) => !r);
    else {
      const p = schema.properties[current];
      const v = w.values[current] ?? line();
      if (p?.enum && (k.name === "left" || k.name === "right" || k.ch === " ")) {
        const i = p.enum.indexOf(v.value);
        const next = p.enum[(i + (k.name === "left" ? p.enum.length - 1 : 1)) % p.enum.length] ?? "";
        const issues = { ...w.issues };
        delete issues[current];
        set({ values: { ...w.values, [current]: line(next) }, issues });
        return true;
      }
      if (p?.enum) return true;
      const next = editLine(v, k);
      if (next) {
        const issues = { ...w.issues };
        delete issues[current];
        set({ values: { ...w.values, [current]: next }, issues });
      }
    }
    return true;
  });

  const labelW = Math.min(28, Math.max(...names.map((n) => n.length + 2), 10));
  const blockH = (n: string) =>
    1 +
    (schema.properties[n]?.description ||
    schema.properties[n]?.enum ||
    schema.properties[n]?.default !== undefined ||
    schema.properties[n]?.["x-catwalk-secret"]
      ? 1
      : 0) +
    (errorOf(n) ? 1 : 0);
  const room = height - 6;
  if (focus < offset.current) offset.current = focus;
  const fits = (from: number) =>
    names.slice(from, Math.min(focus, names.length - 1) + 1).reduce((h, n) => h + blockH(n), 0) <= room - 1;
  while (offset.current < focus && !fits(offset.current)) offset.current++;
  const visible: string[] = [];
  let used = 0;
  for (const n of names.slice(offset.current)) {
    if (used + blockH(n) > room - 1) break;
    visible.push(n);
    used += blockH(n);
  }
  const formError = w.issues[""];
  return (
    <Box flexDirection="column" width={width} height={height}>
      <StepBar
        step="credentials"
        detail={`${names.length} field${names.length === 1 ? "" : "s"} · * required`}
      />
      <Text dimColor wrap="truncate">
        {truncate("Stored encrypted, never shown again; secrets are masked as you type.", width)}
      </Text>
      <Box flexDirection="column" height={room}>
        {visible.map((n) => (
          <FieldBlock
            key={n}
            schema={schema}
            name={n}
            w={w}
            focused={current === n}
            revealed={revealed}
            error={errorOf(n)}
            labelW={labelW}
            width={width}
          />
        ))}
        <Text bold={current === DEPLOY} color={color(current === DEPLOY ? "green" : undefined)}>
          {current === DEPLOY ? "› [ Deploy ]" : "  [ Deploy ]"}
          {visible.length < names.length ? (
            <Text dimColor>{`   (${names.length - visible.length} more fields ↕)`}</Text>
          ) : null}
        </Text>
      </Box>
      {formError ? (
        <Text color={color("red")} wrap="truncate">
          ✖ {formError}
        </Text>
      ) : (
        <Text> </Text>
      )}
      <StatusLine busy={action.busy} message={action.message} width={width} />
      <Footer
        hints={[
          ["tab ↓", "next"],
          ["↑", "previous"],
          ["enter", current === DEPLOY ? "deploy" : "next"],
          ["ctrl-r", "reveal"],
          ["← →", "choose"],
          ["esc", "back"],
        ]}
        width={width}
      />
    </Box>
  );
}
