import { Box, Text } from "ink";
import { useEffect, useState } from "react";
import type { StepEvent } from "../../api.ts";
import { Footer, type Hint } from "../../components/Footer.tsx";
import { Spinner } from "../../components/Spinner.tsx";
import { useConnection } from "../../connection.tsx";
import { padEnd, truncate } from "../../format.ts";
import { errorText, useApi } from "../../hooks.tsx";
import { is } from "../../keys.ts";
import { useSubKeys } from "../../screen.tsx";
import { useColor } from "../../theme.tsx";
import type { StepProps } from "../Wizard.tsx";
import { StepBar } from "./StepBar.tsx";

const STEPS: [StepEvent["step"], string][] = [
  ["fetching", "Fetching"],
  ["reading", "Reading"],
  ["asking_claude", "Asking Claude"],
  ["validating", "Validating"],
  ["verifying", "Verifying"],
];

interface Failure {
  message: string;
  hint?: string | undefined;
}

function StepLine({ label, last, width }: { label: string; last: StepEvent | undefined; width: number }) {
  const color = useColor();
  const icon = (() => {
    if (!last) return <Text dimColor>·</Text>;
    if (last.status === "started") return <Spinner />;
    if (last.status === "done") return <Text color={color("green")}>✔</Text>;
    if (last.status === "skipped") return <Text dimColor>–</Text>;
    return <Text color={color("red")}>✖</Text>;
  })();
  return (
    <Text wrap="truncate">
      {"  "}
      {icon}
      <Text bold={last?.status === "started"}>{` ${padEnd(label, 14)}`}</Text>
      <Text dimColor>{last ? truncate(last.message, width - 20) : ""}</Text>
    </Text>
  );
}

/**
 * Step 2: starts the analysis and shows its steps live (SSE), then moves on to the manifest. A
 * failure shows the server's message and hint; enter retries, `d` deploys a package without it.
 */
export function AnalysisStep({ w, set, go, keys, width, height }: StepProps) {
  const api = useApi();
  const color = useColor();
  const { report } = useConnection();
  const [steps, setSteps] = useState<StepEvent[]>([]);
  const [failure, setFailure] = useState<Failure | undefined>(undefined);
  const [attempt, setAttempt] = useState(0);
  const source = w.source.value.trim();

  // biome-ignore lint/correctness/useExhaustiveDependencies: runs once per attempt.
  useEffect(() => {
    const controller = new AbortController();
    const { signal } = controller;
    const run = async () => {
      let a = await api.startAnalysis(source);
      setSteps(a.steps);
      if (a.status === "pending" || a.status === "running") {
        setSteps([]);
        await api.stream(
          `/api/analyses/${encodeURIComponent(a.id)}/events`,
          {},
          (e) => {
            if (e.event === "step") setSteps((s) => [...s, JSON.parse(e.data) as StepEvent]);
          },
          signal,
        );
        a = await api.analysis(a.id);
      }
      if (signal.aborted) return;
      setSteps(a.steps);
      if (a.status !== "succeeded" || !a.manifest) {
        setFailure(a.error ?? { message: "The analysis did not finish." });
        return;
      }
      set({ analysis: a, schema: undefined });
      setTimeout(() => {
        if (!signal.aborted) go("review");
      }, 500);
    };
    run().catch((e: unknown) => {
      if (signal.aborted) return;
      report(e);
      setFailure({ message: errorText(e) });
    });
    return () => controller.abort();
  }, [attempt]);

  useSubKeys(keys, (k) => {
    if (is.escape(k)) go("source");
    else if (failure && is.enter(k)) {
      setFailure(undefined);
      setSteps([]);
      setAttempt((n) => n + 1);
    } else if (failure && k.ch === "d" && w.kind === "package") {
      set({ analysis: undefined, schema: undefined });
      go("review");
    } else return false;
    return true;
  });

  const lastOf = (s: StepEvent["step"]) => steps.filter((e) => e.step === s).at(-1);
  const shown = STEPS.filter(([s]) => s !== "verifying" || lastOf(s));
  const hints: Hint[] = failure
    ? [
        ["enter", "retry"],
        ...(w.kind === "package" ? ([["d", "deploy without analysis"]] as Hint[]) : []),
        ["esc", "back"],
      ]
    : [["esc", "back"]];
  return (
    <Box flexDirection="column" width={width} height={height}>
      <StepBar step="analysis" />
      <Text> </Text>
      <Text wrap="truncate">
        {failure ? "" : <Spinner />}
        <Text bold>{`${failure ? "" : " "}Analysing ${truncate(source, width - 12)}`}</Text>
      </Text>
      <Text> </Text>
      {shown.map(([s, label]) => (
        <StepLine key={s} label={label} last={lastOf(s)} width={width} />
      ))}
      <Text> </Text>
      {failure ? (
        <Box flexDirection="column">
          <Text color={color("red")} wrap="wrap">
            ✖ {failure.message}
          </Text>
          {failure.hint ? <Text wrap="wrap">{failure.hint}</Text> : null}
        </Box>
      ) : null}
      <Box flexGrow={1} />
      <Footer hints={hints} width={width} />
    </Box>
  );
}
