import { Text } from "ink";
import { Fragment } from "react";
import { useColor } from "../../theme.tsx";
import type { StepName } from "../Wizard.tsx";

const STEPS: [StepName, string][] = [
  ["source", "Source"],
  ["analysis", "Analysis"],
  ["review", "Manifest"],
  ["credentials", "Credentials"],
  ["deploying", "Deploy"],
];

/** Where the wizard is: `Source › [Analysis] › Manifest › Credentials › Deploy`. */
export function StepBar({ step, detail }: { step: StepName; detail?: string | undefined }) {
  const color = useColor();
  return (
    <Text wrap="truncate">
      {STEPS.map(([s, label], i) => (
        <Fragment key={s}>
          {i > 0 ? <Text dimColor> › </Text> : null}
          {s === step ? (
            <Text bold color={color("cyan")}>
              [{label}]
            </Text>
          ) : (
            <Text dimColor>{label}</Text>
          )}
        </Fragment>
      ))}
      {detail ? <Text dimColor>{`  ${detail}`}</Text> : null}
    </Text>
  );
}
