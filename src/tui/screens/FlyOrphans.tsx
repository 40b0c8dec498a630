import { Box, Text } from "ink";
import { useState } from "react";
import { Footer, type Hint } from "../components/Footer.tsx";
import { ConfirmLine, StatusLine } from "../components/Notice.tsx";
import { plural } from "../format.ts";
import { errorText, useAction, useApi, useResource } from "../hooks.tsx";
import { useKeys, useLayout } from "../screen.tsx";

const HINTS: Hint[] = [
  ["D", "delete all (asks)"],
  ["r", "refresh"],
  ["esc", "back"],
  ["?", "help"],
];

/**
 * Catwalk's apps on Fly that no deployment claims (`catwalk fly gc`): a deployment removed while
 * Fly was unreachable, a data dir that was reset. Listing deletes nothing; `D` deletes them all,
 * with their Machines, secrets and IPs, after a confirmation.
 */
export function FlyOrphans() {
  const { width, height } = useLayout();
  const api = useApi();
  const res = useResource(() => api.flyOrphans(), []);
  const action = useAction();
  const [confirm, setConfirm] = useState(false);
  const orphans = res.data?.orphaned ?? [];
  useKeys((k) => {
    if (confirm) {
      setConfirm(false);
      if (k.ch === "y" || k.ch === "Y") {
        void action
          .run(
            `deleting ${plural(orphans.length, "app")} on Fly…`,
            () => api.deleteFlyOrphans(),
            (r) => `deleted ${plural(r.deleted.length, "app")}: ${r.deleted.join(", ")}`,
          )
          .then(() => res.reload());
      } else action.setMessage({ text: "cancelled", error: true });
      return true;
    }
    if (k.ch === "r") res.reload();
    else if (k.ch === "D") {
      if (orphans.length) setConfirm(true);
      else action.setMessage({ text: "Nothing to delete.", error: false });
    } else return false;
    return true;
  });
  const body = height - 4;
  return (
    <Box flexDirection="column" width={width} height={height}>
      <Text wrap="truncate">
        <Text bold>Fly apps no deployment claims</Text>
        <Text dimColor> · deleted only when you say so</Text>
      </Text>
      <Box flexDirection="column" height={body}>
        {res.error ? (
          <Text wrap="wrap">{`✖ ${errorText(res.error)}`}</Text>
        ) : !res.data ? (
          <Text dimColor>asking Fly…</Text>
        ) : orphans.length === 0 ? (
          <Text>No orphaned Fly apps: every app with this server's prefix belongs to a deployment.</Text>
        ) : (
          orphans.slice(0, body).map((app) => <Text key={app} wrap="truncate">{`  ${app}`}</Text>)
        )}
      </Box>
      {confirm ? (
        <ConfirmLine
          question={`Delete ${plural(orphans.length, "app")} on Fly, with their Machines, secrets and IPs?`}
          width={width}
        />
      ) : (
        <StatusLine busy={action.busy} message={action.message} width={width} />
      )}
      <Footer hints={HINTS} width={width} />
    </Box>
  );
}
