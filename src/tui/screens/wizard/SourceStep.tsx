import { Box, Text } from "ink";
import { useState } from "react";
import { Footer } from "../../components/Footer.tsx";
import { TextInput } from "../../components/TextInput.tsx";
import { editLine, is } from "../../keys.ts";
import { useNav, useSubKeys } from "../../screen.tsx";
import { useColor } from "../../theme.tsx";
import type { StepProps } from "../Wizard.tsx";
import { classify } from "./model.ts";
import { StepBar } from "./StepBar.tsx";

const EXAMPLES: [string, string][] = [
  ["https://github.com/<owner>/<repo>[/tree/<ref>/<dir>]", "analysed first"],
  ["npm:<package>[@<version>]", "analysed first"],
  ["pypi:<project>[==<version>]", "analysed first (uvx)"],
  ["https://<host>/<path>", "remote server, as is"],
];

/** Step 1: where the server comes from. Every key typed is text; enter goes on. */
export function SourceStep({ w, set, go, keys, width, height }: StepProps) {
  const nav = useNav();
  const color = useColor();
  const [error, setError] = useState<string | undefined>(undefined);
  useSubKeys(keys, (k) => {
    if (is.escape(k)) nav.pop();
    else if (is.enter(k)) {
      const c = classify(w.source.value);
      if ("error" in c) setError(c.error);
      else {
        set({ kind: c.kind, analysis: undefined, schema: undefined, issues: {} });
        go(c.kind === "remote" ? "review" : "analysis");
      }
    } else {
      const next = editLine(w.source, k);
      if (next) {
        set({ source: next });
        setError(undefined);
      }
    }
    return true;
  });
  return (
    <Box flexDirection="column" width={width} height={height}>
      <StepBar step="source" />
      <Text> </Text>
      <Text>
        <Text bold>Source </Text>
        <TextInput
          state={w.source}
          focused
          width={width - 8}
          placeholder="npm:@modelcontextprotocol/server-everything"
        />
      </Text>
      <Text> </Text>
      <Text dimColor>Accepted:</Text>
      {EXAMPLES.map(([src, what]) => (
        <Text key={src} wrap="truncate">
          {`  ${src.padEnd(Math.min(54, width - 20))}`}
          <Text dimColor>{what}</Text>
        </Text>
      ))}
      <Text> </Text>
      {error ? (
        <Text color={color("red")} wrap="wrap">
          ✖ {error}
        </Text>
      ) : null}
      <Box flexGrow={1} />
      <Footer
        hints={[
          ["enter", "next"],
          ["esc", "cancel"],
        ]}
        width={width}
      />
    </Box>
  );
}
