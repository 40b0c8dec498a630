import { Box } from "ink";
import { type RefObject, useRef, useState } from "react";
import type { Analysis, Created, CredentialSchema } from "../api.ts";
import { type LineState, line } from "../keys.ts";
import { type KeyHandler, useKeys, useLayout } from "../screen.tsx";
import { AnalysisStep } from "./wizard/AnalysisStep.tsx";
import { CredentialsStep } from "./wizard/CredentialsStep.tsx";
import { DeployStep } from "./wizard/DeployStep.tsx";
import type { SourceKind } from "./wizard/model.ts";
import { ReviewStep } from "./wizard/ReviewStep.tsx";
import { SourceStep } from "./wizard/SourceStep.tsx";

export type StepName = "source" | "analysis" | "review" | "credentials" | "deploying";

/** Everything the operator decided so far; steps read it and move the wizard on. */
export interface WizardState {
  source: LineState;
  kind: SourceKind;
  /** Set when the source was analysed (absent for remote URLs and direct package deploys). */
  analysis: Analysis | undefined;
  schema: CredentialSchema | undefined;
  name: LineState;
  sessionMode: "isolated" | "shared";
  args: LineState;
  /** A header a remote server needs (name, and its value typed masked). */
  headerName: LineState;
  headerValue: LineState;
  values: Record<string, LineState>;
  /** Issues the server found in the credentials, by field ("" for the form as a whole). */
  issues: Record<string, string>;
  /** The new deployment with its token (shown once, at the end). */
  created: Created | undefined;
}

export interface StepProps {
  w: WizardState;
  set(patch: Partial<WizardState>): void;
  go(step: StepName): void;
  keys: RefObject<KeyHandler | undefined>;
  width: number;
  height: number;
}

/**
 * New deployment: source → analysis (live steps) → the manifest with evidence, accepted or edited
 * → a credential form generated from the credential schema → deploy progress → endpoint and token.
 * Remote URLs skip analysis; a package whose analysis fails can be deployed directly.
 */
export function Wizard() {
  const { width, height } = useLayout();
  const [step, setStep] = useState<StepName>("source");
  const [w, setW] = useState<WizardState>({
    source: line(),
    kind: "package",
    analysis: undefined,
    schema: undefined,
    name: line(),
    sessionMode: "isolated",
    args: line(),
    headerName: line(),
    headerValue: line(),
    values: {},
    issues: {},
    created: undefined,
  });
  const stepKeys = useRef<KeyHandler | undefined>(undefined);
  useKeys((k) => stepKeys.current?.(k) ?? false);
  const props: StepProps = {
    w,
    set: (patch) => setW((s) => ({ ...s, ...patch })),
    go: setStep,
    keys: stepKeys,
    width,
    height,
  };
  return (
    <Box flexDirection="column" width={width} height={height}>
      {step === "source" ? <SourceStep {...props} /> : null}
      {step === "analysis" ? <AnalysisStep {...props} /> : null}
      {step === "review" ? <ReviewStep {...props} /> : null}
      {step === "credentials" ? <CredentialsStep {...props} /> : null}
      {step === "deploying" ? <DeployStep {...props} /> : null}
    </Box>
  );
}
