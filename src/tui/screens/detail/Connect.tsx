import { Box, Text, useStdout } from "ink";
import { copyToClipboard } from "../../clipboard.ts";
import { Footer } from "../../components/Footer.tsx";
import { errorText, useApi, useResource } from "../../hooks.tsx";
import { useSubKeys } from "../../screen.tsx";
import type { TabProps } from "./tab.ts";

/** Ready-to-paste client configuration, with the `<TOKEN>` placeholder (tokens are shown once). */
export function Connect({ dep, width, height, keys, act }: TabProps) {
  const api = useApi();
  const { stdout } = useStdout();
  const res = useResource(() => api.connect(dep.id), [dep.id]);
  const info = res.data;
  const desktop = info ? JSON.stringify(info.claudeDesktop.config) : "";
  useSubKeys(keys, (k) => {
    if (!info) return false;
    if (k.ch === "y" || k.ch === "Y") {
      copyToClipboard(stdout, k.ch === "y" ? info.claudeCode : desktop);
      act.say(
        `copied the Claude ${k.ch === "y" ? "Code command" : "Desktop entry"} (if your terminal allows OSC 52)`,
      );
      return true;
    }
    return false;
  });
  if (!info) {
    return (
      <Box height={height}>
        <Text>{res.error ? errorText(res.error) : "loading…"}</Text>
      </Box>
    );
  }
  return (
    <Box flexDirection="column" width={width} height={height}>
      <Box flexDirection="column" height={height - 1} overflow="hidden">
        <Text wrap="truncate">
          <Text bold>Endpoint </Text>
          {info.url}
        </Text>
        <Text> </Text>
        <Text bold>Claude Code</Text>
        <Text wrap="wrap">{info.claudeCode}</Text>
        <Text> </Text>
        <Text wrap="wrap">
          <Text bold>Claude Desktop</Text>
          <Text dimColor> (merge into claude_desktop_config.json)</Text>
        </Text>
        <Text wrap="wrap">{desktop}</Text>
        <Text> </Text>
        <Text dimColor wrap="wrap">
          {"<TOKEN>"} is an access token of this deployment (tab 2: c creates one, shown once). Claude
          connectors that sign in with OAuth need none: tab 5 makes a one-time connect code.
        </Text>
      </Box>
      <Footer
        hints={[
          ["y", "copy Claude Code command"],
          ["Y", "copy Claude Desktop entry"],
        ]}
        width={width}
      />
    </Box>
  );
}
