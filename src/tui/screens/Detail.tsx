import { Box, Text } from "ink";
import { useEffect, useRef, useState } from "react";
import { ApiError } from "../../client/client.ts";
import type { Action, CatwalkEvent, Deployment, LogLine } from "../api.ts";
import { Footer, type Hint } from "../components/Footer.tsx";
import { ConfirmLine, StatusLine } from "../components/Notice.tsx";
import { StateBadge } from "../components/StateBadge.tsx";
import { TextInput } from "../components/TextInput.tsx";
import { ago, clock, joinArgs, ms, padEnd, plural, splitArgs, truncate } from "../format.ts";
import { errorText, useAction, useApi, useResource, useTick } from "../hooks.tsx";
import { editLine, is, type Keypress, type LineState, line } from "../keys.ts";
import type { KeyHandler } from "../screen.tsx";
import { type DetailTab, useKeys, useLayout, useNav, useSubKeys } from "../screen.tsx";
import { useColor } from "../theme.tsx";
import { Calls, callOutcome } from "./detail/Calls.tsx";
import { Clients } from "./detail/Clients.tsx";
import { Connect } from "./detail/Connect.tsx";
import { Tokens } from "./detail/Tokens.tsx";
import type { Act, TabProps } from "./detail/tab.ts";
import { useEventFeed } from "./Events.tsx";
import { useLogLines } from "./Logs.tsx";
import { HEADER_NAME } from "./wizard/model.ts";

const TABS: [DetailTab, string][] = [
  ["overview", "Overview"],
  ["tokens", "Tokens"],
  ["connect", "Connect"],
  ["calls", "Calls"],
  ["clients", "Clients"],
];

const HINTS: Hint[] = [
  ["1-5", "tab"],
  ["l", "logs"],
  ["e", "events"],
  ["S", "start"],
  ["X", "stop"],
  ["R", "restart"],
  ["D", "delete"],
  ["esc", "back"],
  ["?", "help"],
];

function Label({ children }: { children: string }) {
  return <Text bold>{padEnd(children, 11)}</Text>;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

type EnvPrompt =
  | { kind: "name"; line: LineState }
  | { kind: "value"; name: string; line: LineState; reveal: boolean }
  | { kind: "unset"; line: LineState }
  | { kind: "version"; line: LineState }
  | { kind: "args"; line: LineState };

/**
 * `v` sets a variable (name, then its value masked), `u` unsets one (for a remote deployment: the
 * headers it sends upstream); `V` changes the package
 * version, `A` the arguments (prefilled, quotes group words), `M` switches the session mode. Each
 * restarts a running deployment.
 */
function useEnvPrompt(dep: Deployment, act: Act) {
  const api = useApi();
  const [prompt, setPrompt] = useState<EnvPrompt | undefined>(undefined);
  const spec = dep.upstream;
  const remote = spec.kind === "remote";
  const update = (label: string, body: Parameters<typeof api.update>[1], done: string) =>
    void act.run(
      label,
      () => api.update(dep.id, body),
      () => done,
    );
  const finish = (p: EnvPrompt) => {
    if (p.kind === "version") {
      const version = p.line.value.trim();
      setPrompt(undefined);
      if (version)
        update(`changing the version to ${version}…`, { version }, `${dep.slug} runs ${version} now`);
      return;
    }
    if (p.kind === "args") {
      const args = splitArgs(p.line.value);
      setPrompt(undefined);
      update(
        "changing the arguments…",
        { args },
        `${dep.slug}: ${plural(args.length, "argument")}; it restarts`,
      );
      return;
    }
    const name = p.kind === "value" ? p.name : p.line.value.trim();
    if (!(remote ? HEADER_NAME : ENV_NAME).test(name)) {
      act.say(
        remote
          ? "A header name is letters, digits and - (e.g. Authorization, X-Api-Key)."
          : "A variable name is letters, digits and underscores, not starting with a digit.",
        true,
      );
      return;
    }
    if (p.kind === "name") return setPrompt({ kind: "value", name, line: line(), reveal: false });
    setPrompt(undefined);
    const value = p.kind === "value" ? p.line.value : undefined;
    // A remote deployment's credentials are the headers it sends upstream.
    const change = remote
      ? value !== undefined
        ? { headers: { [name]: value } }
        : { unsetHeaders: [name] }
      : value !== undefined
        ? { set: { [name]: value } }
        : { unset: [name] };
    const verb = value !== undefined ? "set" : "unset";
    const what = remote ? `header ${name}` : name;
    void act.run(
      `${verb}ting ${what}…`,
      () => api.setEnv(dep.id, change),
      () => `${what} ${verb}; ${dep.slug} restarts`,
    );
  };
  const handle = (k: Keypress): boolean => {
    if (!prompt) {
      if (k.ch === "v") setPrompt({ kind: "name", line: line() });
      else if (k.ch === "u") setPrompt({ kind: "unset", line: line() });
      else if (k.ch === "V") {
        if (spec.kind === "npm" || spec.kind === "pypi")
          setPrompt({ kind: "version", line: line(spec.version) });
        else act.say(`${dep.slug} runs no npm or PyPI package, so it has no version to change.`, true);
      } else if (k.ch === "A") {
        if (spec.kind === "remote") act.say("A remote deployment takes no arguments.", true);
        else setPrompt({ kind: "args", line: line(joinArgs(spec.args ?? [])) });
      } else if (k.ch === "M") {
        const mode = dep.sessionMode === "isolated" ? "shared" : "isolated";
        act.ask(`Switch ${dep.slug} to ${mode} sessions? It restarts and its sessions end.`, () =>
          update(
            `switching to ${mode} sessions…`,
            { sessionMode: mode },
            `${dep.slug} uses ${mode} sessions`,
          ),
        );
      } else return false;
      return true;
    }
    if (is.escape(k)) setPrompt(undefined);
    else if (is.enter(k)) finish(prompt);
    else if (prompt.kind === "value" && is.ctrl(k, "r")) setPrompt({ ...prompt, reveal: !prompt.reveal });
    else {
      const next = editLine(prompt.line, k);
      if (next) setPrompt({ ...prompt, line: next });
    }
    return true;
  };
  return { prompt, handle };
}

function EnvPromptLine({ prompt, width, remote }: { prompt: EnvPrompt; width: number; remote: boolean }) {
  const labels: Record<EnvPrompt["kind"], string> = {
    name: remote ? "Set header, name: " : "Set variable, name: ",
    unset: remote ? "Stop sending header: " : "Unset variable: ",
    value: prompt.kind === "value" ? `Value of ${prompt.name} (ctrl-r shows): ` : "",
    version: "Version (or range): ",
    args: "Arguments: ",
  };
  const label = labels[prompt.kind];
  return (
    <Text wrap="truncate">
      <Text bold>{label}</Text>
      <TextInput
        state={prompt.line}
        focused
        width={Math.max(8, width - label.length - 1)}
        mask={prompt.kind === "value" && !prompt.reveal}
      />
    </Text>
  );
}

function Overview({ dep, width, height, events, keys, act }: TabProps) {
  const color = useColor();
  const { lines } = useLogLines(dep.id);
  const env = useEnvPrompt(dep, act);
  useSubKeys(keys, env.handle);
  const calls = events
    .filter((e) => e.type === "mcp.call")
    .slice(-4)
    .reverse();
  const a = dep.activity;
  const names =
    dep.upstream.kind === "remote"
      ? dep.headers.map((h) => `${h} (header)`).join(" · ") || "no headers"
      : dep.env.map((e) => (e.secret ? `${e.name} (secret)` : e.name)).join(" · ") || "none";
  const reason = dep.stateReason ? dep.stateReason.split("\n")[0] : undefined;
  // A command's arguments are already in its source.
  const args =
    dep.upstream.kind !== "command" && dep.upstream.args?.length ? joinArgs(dep.upstream.args) : undefined;
  const fixed = 7 + (reason ? 1 : 0) + (args ? 1 : 0);
  const callRows = Math.max(1, calls.length);
  const logRows = Math.max(1, height - fixed - 2 - callRows);
  const row = (label: string, value: string, tone?: string) => (
    <Text wrap="truncate">
      <Label>{label}</Label>
      <Text color={color(tone)}>{truncate(value, width - 11)}</Text>
    </Text>
  );
  const runtime = `${dep.runtime} · ${dep.sessionMode} sessions · wants ${dep.desiredState}`;
  const restarts = dep.restarts ? ` · ${plural(dep.restarts, "restart")}` : "";
  const activity = `${plural(dep.sessions, "session")} · ${plural(a.calls, "call")} · ${plural(a.errors, "error")} · ${a.callsPerMinute}/min · last ${ago(a.lastActivity)}${restarts}`;
  return (
    <Box flexDirection="column" width={width} height={height}>
      {row("Endpoint", dep.url)}
      {row("Source", dep.source)}
      {args ? row("Arguments", args) : null}
      {row("Runtime", runtime)}
      {reason ? row("Reason", reason, "red") : null}
      {row("Activity", activity)}
      {row("Env", names)}
      <Text bold>Recent calls</Text>
      {calls.length === 0 ? <Text dimColor> none yet</Text> : null}
      {calls.map((e) => (
        <Text key={e.id} wrap="truncate">
          {`  ${clock(e.time)}  ${padEnd(`${String(e.data.method ?? "")} ${String(e.data.name ?? "")}`, width - 36)}`}
          {`${ms(Number(e.data.durationMs)).padStart(9)}  `}
          <Text color={color(e.data.ok ? "green" : "red")}>{callOutcome(e)}</Text>
        </Text>
      ))}
      <Text bold>Last log lines</Text>
      {lastLines(lines, logRows).map((l) => (
        <Text key={l.id} wrap="truncate" color={color(l.stream === "lifecycle" ? "cyan" : undefined)}>
          {`  ${clock(l.time)} ${l.stream === "lifecycle" ? "▸" : "│"} ${l.line}`}
        </Text>
      ))}
      {lines.length === 0 ? <Text dimColor> no log lines yet</Text> : null}
      <Box flexGrow={1} />
      {env.prompt ? (
        <EnvPromptLine prompt={env.prompt} width={width} remote={dep.upstream.kind === "remote"} />
      ) : (
        <Footer
          hints={[
            ["v", dep.upstream.kind === "remote" ? "set header" : "set variable"],
            ["u", "unset"],
            ["V", "version"],
            ["A", "arguments"],
            ["M", "session mode"],
          ]}
          width={width}
        />
      )}
    </Box>
  );
}

function lastLines(lines: LogLine[], n: number): LogLine[] {
  return lines.slice(-n);
}

/** The deployment, reloaded when one of its events arrives (at most every 250 ms) and every 3 s. */
function useDeployment(id: string, events: CatwalkEvent[]) {
  const api = useApi();
  const res = useResource(() => api.deployment(id), [id], 3000);
  const seen = events.filter((e) => e.type !== "mcp.call").length;
  const { reload } = res;
  const first = useRef(true);
  // biome-ignore lint/correctness/useExhaustiveDependencies: a new event (seen) reloads.
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    const t = setTimeout(reload, 250);
    return () => clearTimeout(t);
  }, [seen, reload]);
  return res;
}

function TabBar({ tab }: { tab: DetailTab }) {
  const color = useColor();
  return (
    <Text wrap="truncate">
      {TABS.map(([t, label], i) => {
        const on = t === tab;
        const text = on ? `[${i + 1} ${label}]` : ` ${i + 1} ${label} `;
        return (
          <Text key={t} bold={on} color={on ? color("cyan") : undefined} dimColor={!on}>
            {text}{" "}
          </Text>
        );
      })}
    </Text>
  );
}

export function Detail({ id, tab: initialTab }: { id: string; tab: DetailTab }) {
  const { width, height } = useLayout();
  const nav = useNav();
  const api = useApi();
  const [tab, setTab] = useState<DetailTab>(initialTab);
  const { events } = useEventFeed(id, 100);
  const res = useDeployment(id, events);
  const action = useAction();
  const [confirm, setConfirm] = useState<{ question: string; yes: () => void } | undefined>(undefined);
  const tabKeys = useRef<KeyHandler | undefined>(undefined);
  useTick(5000);
  const dep = res.data;

  const act: Act = {
    run: (label, fn, done) => action.run(label, fn, done),
    ask: (question, yes) => setConfirm({ question, yes }),
    say: (text, error = false) => action.setMessage({ text, error }),
  };
  const lifecycle = (d: Deployment, a: Action) =>
    void act
      .run(
        `${a} ${d.slug}…`,
        () => api.act(d.id, a),
        (r) => `${d.slug}: ${a} requested (${r.state})`,
      )
      .then(() => res.reload());

  useKeys((k) => {
    if (confirm) {
      setConfirm(undefined);
      if (k.ch === "y" || k.ch === "Y") confirm.yes();
      else act.say("cancelled", true);
      return true;
    }
    if (tabKeys.current?.(k)) return true;
    const n = Number(k.ch);
    const i = TABS.findIndex(([t]) => t === tab);
    if (n >= 1 && n <= TABS.length) setTab((TABS[n - 1] as [DetailTab, string])[0]);
    else if (k.name === "right" || k.name === "tab")
      setTab((TABS[(i + 1) % TABS.length] as [DetailTab, string])[0]);
    else if (k.name === "left") setTab((TABS[(i + TABS.length - 1) % TABS.length] as [DetailTab, string])[0]);
    else if (k.ch === "t") setTab("tokens");
    else if (!dep) return false;
    else if (k.ch === "l") nav.push({ name: "logs", id: dep.id, slug: dep.slug });
    else if (k.ch === "e") nav.push({ name: "events", deployment: { id: dep.id, slug: dep.slug } });
    else if (k.ch === "S") lifecycle(dep, "start");
    else if (k.ch === "X") lifecycle(dep, "stop");
    else if (k.ch === "R") lifecycle(dep, "restart");
    else if (k.ch === "D") {
      act.ask(`Delete ${dep.slug}? Its credentials, tokens and sessions go with it.`, () => {
        void act.run(`deleting ${dep.slug}…`, () => api.remove(dep.id)).then((r) => r && nav.pop());
      });
    } else return false;
    return true;
  });

  const gone = res.error instanceof ApiError && res.error.status === 404;
  if (!dep || gone) {
    return (
      <Box flexDirection="column" height={height}>
        <Text>{res.error ? `✖ ${errorText(res.error)}` : "loading…"}</Text>
        {gone ? <Text dimColor>It was removed. esc goes back.</Text> : null}
        <Footer hints={[["esc", "back"]]} width={width} />
      </Box>
    );
  }
  const body = height - 4;
  const props: TabProps = { dep, width, height: body, keys: tabKeys, events, act };
  return (
    <Box flexDirection="column" width={width} height={height}>
      <Text wrap="truncate">
        <Text bold>{dep.slug}</Text>
        <Text>{"  "}</Text>
        <StateBadge state={dep.state} />
        <Text
          dimColor
        >{`  ${dep.runtime} · ${dep.upstream.kind}${dep.desiredState === "stopped" ? " · stopped by operator" : ""}`}</Text>
      </Text>
      <TabBar tab={tab} />
      <Box height={body} flexDirection="column">
        {tab === "overview" ? <Overview {...props} /> : null}
        {tab === "tokens" ? <Tokens {...props} /> : null}
        {tab === "connect" ? <Connect {...props} /> : null}
        {tab === "calls" ? <Calls {...props} /> : null}
        {tab === "clients" ? <Clients {...props} /> : null}
      </Box>
      {confirm ? (
        <ConfirmLine question={confirm.question} width={width} />
      ) : (
        <StatusLine busy={action.busy} message={action.message} width={width} />
      )}
      <Footer hints={HINTS} width={width} />
    </Box>
  );
}
