import { Box, Text, useStdout } from "ink";
import { useEffect, useState } from "react";
import { ApiError } from "../../../client/client.ts";
import type { CreateBody, Deployment } from "../../api.ts";
import { copyToClipboard } from "../../clipboard.ts";
import { Footer, type Hint } from "../../components/Footer.tsx";
import { ConfirmLine, SecretNotice, StatusLine } from "../../components/Notice.tsx";
import { Spinner } from "../../components/Spinner.tsx";
import { StateBadge } from "../../components/StateBadge.tsx";
import { useConnection } from "../../connection.tsx";
import { clock, padEnd, splitArgs, truncate } from "../../format.ts";
import { errorText, useAction, useApi, useResource } from "../../hooks.tsx";
import { is } from "../../keys.ts";
import { useNav, useSubKeys } from "../../screen.tsx";
import { useColor } from "../../theme.tsx";
import type { StepProps, WizardState } from "../Wizard.tsx";
import { filledValues } from "./model.ts";
import { StepBar } from "./StepBar.tsx";

const STAGES = ["pending", "installing", "starting", "running"] as const;
const SETTLED = new Set(["running", "failed", "crashed", "stopped"]);

export function createBody(w: WizardState): CreateBody {
  const base = {
    name: w.name.value,
    sessionMode: w.sessionMode,
    args: splitArgs(w.args.value),
  };
  if (w.analysis) {
    const env = filledValues(Object.fromEntries(Object.entries(w.values).map(([k, v]) => [k, v.value])));
    return { ...base, analysis: w.analysis.id, env };
  }
  if (w.kind === "remote") {
    const name = w.headerName.value.trim();
    const { args: _none, ...rest } = base;
    return {
      ...rest,
      source: w.source.value.trim(),
      ...(name ? { headers: { [name]: w.headerValue.value } } : {}),
    };
  }
  return { ...base, source: w.source.value.trim() };
}

function Stage({ name, dep, width }: { name: (typeof STAGES)[number]; dep: Deployment; width: number }) {
  const color = useColor();
  const at = STAGES.indexOf(dep.state as (typeof STAGES)[number]);
  const me = STAGES.indexOf(name);
  const bad = dep.state === "failed" || dep.state === "crashed";
  const skipped = name === "installing" && dep.upstream.kind === "remote";
  const icon = skipped ? (
    <Text dimColor>–</Text>
  ) : me < at || dep.state === "running" ? (
    <Text color={color("green")}>✔</Text>
  ) : me === at && !bad ? (
    <Spinner />
  ) : (
    <Text dimColor>·</Text>
  );
  const note =
    name === "pending"
      ? dep.id
      : name === "installing"
        ? skipped
          ? "nothing to install for a remote server"
          : dep.source
        : name === "running"
          ? dep.url
          : "";
  return (
    <Text wrap="truncate">
      {"  "}
      {icon}
      {` ${padEnd(name === "pending" ? "created" : name, 11)}`}
      <Text dimColor>{truncate(note, width - 18)}</Text>
    </Text>
  );
}

/**
 * Step 5: creates the deployment, follows it through installing and starting, then shows the
 * endpoint and the token (shown once). A failure shows the reason and the last log lines.
 */
export function DeployStep({ w, set, go, keys, width, height }: StepProps) {
  const api = useApi();
  const nav = useNav();
  const color = useColor();
  const { stdout } = useStdout();
  const { report } = useConnection();
  const action = useAction();
  const [failure, setFailure] = useState<string | undefined>(undefined);
  const [leaving, setLeaving] = useState(false);
  const created = w.created;

  // biome-ignore lint/correctness/useExhaustiveDependencies: creates once when the step opens.
  useEffect(() => {
    if (created) return;
    api.create(createBody(w)).then(
      (c) => set({ created: c }),
      (e: unknown) => {
        report(e);
        if (e instanceof ApiError && e.code === "deployment.credentials_invalid" && w.schema) {
          set({ issues: { "": errorText(e) } });
          go("credentials");
          return;
        }
        setFailure(errorText(e));
      },
    );
  }, []);

  const [stop, setStop] = useState(false);
  const live = useResource(
    created ? () => api.deployment(created.id) : undefined,
    [created?.id],
    stop ? undefined : 400,
  );
  const dep = live.data ?? created;
  const done = dep !== undefined && SETTLED.has(dep.state);
  useEffect(() => {
    if (done) setStop(true);
  }, [done]);
  const logs = useResource(
    created ? () => api.logs(created.id, 4) : undefined,
    [created?.id, dep?.state],
    done ? undefined : 1000,
  );
  const snippet = useResource(created && done ? () => api.connect(created.id) : undefined, [
    created?.id,
    done,
  ]);
  const claudeCode =
    created && snippet.data ? snippet.data.claudeCode.replace("<TOKEN>", created.token) : undefined;

  useSubKeys(keys, (k) => {
    if (leaving) {
      setLeaving(false);
      if (k.ch === "y" || k.ch === "Y") nav.pop();
      return true;
    }
    if (!created) {
      if (failure && (is.escape(k) || is.enter(k))) go(w.analysis ? "review" : "source");
      return true;
    }
    if (k.ch === "y") {
      copyToClipboard(stdout, created.token);
      action.setMessage({ text: "token copied (if your terminal allows OSC 52)", error: false });
    } else if (k.ch === "c" && claudeCode) {
      copyToClipboard(stdout, claudeCode);
      action.setMessage({
        text: "Claude Code command copied (if your terminal allows OSC 52)",
        error: false,
      });
    } else if (is.enter(k) && done) nav.replace({ name: "detail", id: created.id });
    else if (k.ch === "l") nav.push({ name: "logs", id: created.id, slug: created.slug });
    else if (is.escape(k)) {
      if (done) nav.pop();
      else setLeaving(true);
    }
    return true;
  });

  const hints: Hint[] = !created
    ? [["esc", "back"]]
    : done
      ? [
          ["y", "copy token"],
          ["c", "copy Claude Code command"],
          ["enter", "open"],
          ["l", "logs"],
          ["esc", "dashboard"],
        ]
      : [
          ["l", "logs"],
          ["esc", "leave"],
        ];
  return (
    <Box flexDirection="column" width={width} height={height}>
      <StepBar step="deploying" />
      <Text> </Text>
      {!created ? (
        failure ? (
          <Text color={color("red")} wrap="wrap">
            ✖ {failure}
          </Text>
        ) : (
          <Text>
            <Spinner /> creating {w.name.value}…
          </Text>
        )
      ) : null}
      {dep ? (
        <Box flexDirection="column">
          <Text wrap="truncate">
            <Text bold>{dep.slug} </Text>
            <StateBadge state={dep.state} />
            {dep.stateReason ? (
              <Text
                color={color("red")}
              >{`  ${truncate(dep.stateReason.split("\n")[0] ?? "", width - 30)}`}</Text>
            ) : null}
          </Text>
          {STAGES.map((s) => (
            <Stage key={s} name={s} dep={dep} width={width} />
          ))}
        </Box>
      ) : null}
      {created && done ? (
        <Box flexDirection="column">
          <Text> </Text>
          <Text wrap="truncate">
            <Text bold>Endpoint </Text>
            {created.url}
          </Text>
          <SecretNotice
            title={`Token for ${created.slug}`}
            secret={created.token}
            width={width}
            keysText="enter opens the deployment, esc the dashboard"
          />
          {claudeCode ? (
            <Text dimColor wrap="wrap">
              Claude Code: {claudeCode}
            </Text>
          ) : null}
        </Box>
      ) : null}
      {created && !done ? (
        <Box flexDirection="column" marginTop={1}>
          {(logs.data ?? []).map((l) => (
            <Text key={l.id} dimColor wrap="truncate">
              {`  ${clock(l.time)} ${l.line}`}
            </Text>
          ))}
        </Box>
      ) : null}
      <Box flexGrow={1} />
      {leaving ? (
        <ConfirmLine
          question="Leave? The token is shown only when this finishes (tab 2 of the deployment makes new ones)."
          width={width}
        />
      ) : (
        <StatusLine busy={action.busy} message={action.message} width={width} />
      )}
      <Footer hints={hints} width={width} />
    </Box>
  );
}
