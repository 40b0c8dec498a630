import { Box, Text } from "ink";
import { useState } from "react";
import type { ConnectCode, ConnectedClient } from "../../api.ts";
import { Footer } from "../../components/Footer.tsx";
import { NoticeFrame } from "../../components/Notice.tsx";
import { type Column, Table } from "../../components/Table.tsx";
import { ago } from "../../format.ts";
import { useApi, useResource } from "../../hooks.tsx";
import { is } from "../../keys.ts";
import { useSubKeys } from "../../screen.tsx";
import { useColor } from "../../theme.tsx";
import type { TabProps } from "./tab.ts";

const COLUMNS: Column<ConnectedClient>[] = [
  { header: "CLIENT", min: 12, get: (c) => c.clientName ?? c.clientId },
  { header: "KIND", width: 4, priority: 1, get: (c) => c.kind },
  { header: "REDIRECTS TO", width: 16, priority: 2, get: (c) => c.redirectHosts.join(",") || "-" },
  { header: "CONNECTED", width: 9, priority: 3, get: (c) => ago(c.createdAt) },
  { header: "LAST USED", width: 9, priority: 4, get: (c) => ago(c.lastUsedAt) },
  { header: "GRANTS", width: 6, align: "right", priority: 5, get: (c) => String(c.activeGrants) },
];

function CodeNotice({ code, width }: { code: ConnectCode; width: number }) {
  const color = useColor();
  const minutes = Math.max(1, Math.round((Date.parse(code.expiresAt) - Date.now()) / 60_000));
  return (
    <NoticeFrame width={width}>
      <Text wrap="truncate">
        <Text bold color={color("yellow")}>
          Connect code {code.code}
        </Text>
        <Text dimColor>{`  one use, expires in ${minutes} min`}</Text>
      </Text>
      <Text wrap="wrap">
        In Claude: Settings → Connectors → Add custom connector, URL {code.resource}; on the consent page type
        this code. enter or esc dismisses.
      </Text>
    </NoticeFrame>
  );
}

/** OAuth clients (e.g. Claude connectors) holding grants for this deployment; revoke, or invite one. */
export function Clients({ dep, width, height, keys, events, act }: TabProps) {
  const api = useApi();
  const changed = events.filter((e) => e.type.startsWith("oauth.")).length;
  const res = useResource(() => api.oauthClients(dep.id), [dep.id, changed]);
  const clients = res.data ?? [];
  const [selected, setSelected] = useState(0);
  const [code, setCode] = useState<ConnectCode | undefined>(undefined);
  const index = Math.max(0, Math.min(selected, clients.length - 1));
  const current = clients[index];
  useSubKeys(keys, (k) => {
    if (code) {
      if (is.enter(k) || is.escape(k)) setCode(undefined);
      return k.ch !== "q" && k.ch !== "?";
    }
    if (is.up(k)) setSelected(Math.max(0, index - 1));
    else if (is.down(k)) setSelected(Math.min(clients.length - 1, index + 1));
    else if (k.ch === "c")
      void act.run("making a connect code…", () => api.connectCode(dep.id)).then(setCode);
    else if (k.ch === "x" && current) {
      const name = current.clientName ?? current.clientId;
      act.ask(`Revoke every grant of ${name}? It has to be approved again.`, () => {
        void act
          .run(
            `revoking ${name}…`,
            () => api.revokeOAuthClient(dep.id, current.clientId),
            (n) => `revoked ${n} grant${n === 1 ? "" : "s"} of ${name}`,
          )
          .then(() => res.reload());
      });
    } else return false;
    return true;
  });
  return (
    <Box flexDirection="column" width={width} height={height}>
      {code ? <CodeNotice code={code} width={width} /> : null}
      <Table
        columns={COLUMNS}
        rows={clients}
        selected={index}
        width={width}
        height={Math.max(2, height - 1 - (code ? 6 : 0))}
        rowKey={(c) => c.clientId}
        empty={res.loading ? "loading…" : "No OAuth clients connected. c makes a one-time connect code."}
      />
      <Footer
        hints={
          code
            ? [["enter", "dismiss"]]
            : [
                ["c", "connect code"],
                ["x", "revoke client"],
              ]
        }
        width={width}
      />
    </Box>
  );
}
