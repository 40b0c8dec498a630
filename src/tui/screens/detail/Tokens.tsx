import { Box, Text } from "ink";
import { useState } from "react";
import type { NewToken, TokenInfo } from "../../api.ts";
import { Footer } from "../../components/Footer.tsx";
import { SecretNotice, useSecretKeys } from "../../components/Notice.tsx";
import { type Column, Table } from "../../components/Table.tsx";
import { TextInput } from "../../components/TextInput.tsx";
import { ago } from "../../format.ts";
import { useApi, useResource } from "../../hooks.tsx";
import { editLine, is, type LineState, line } from "../../keys.ts";
import { useSubKeys } from "../../screen.tsx";
import type { TabProps } from "./tab.ts";

const COLUMNS: Column<TokenInfo>[] = [
  { header: "NAME", min: 12, get: (t) => t.name },
  { header: "CREATED", width: 9, priority: 2, get: (t) => ago(t.createdAt) },
  { header: "LAST USED", width: 9, priority: 3, get: (t) => ago(t.lastUsedAt) },
  {
    header: "STATUS",
    width: 17,
    priority: 5,
    get: (t) => (t.revokedAt ? `revoked ${ago(t.revokedAt)}` : "active"),
    color: (t) => (t.revokedAt ? "gray" : "green"),
  },
];

const TOKEN_NAME = /^[\w.@-]{1,64}$/;

/**
 * Access tokens: list, create (`c`), rotate (`r`), revoke (`x`). A new token is shown once, in a
 * notice the operator dismisses; the value is kept in this component's state only until then.
 */
export function Tokens({ dep, width, height, keys, events, act }: TabProps) {
  const api = useApi();
  const changed = events.filter((e) => e.type.startsWith("token.")).length;
  const res = useResource(() => api.tokens(dep.id), [dep.id, changed]);
  const tokens = res.data ?? [];
  const [selected, setSelected] = useState(0);
  const [naming, setNaming] = useState<LineState | undefined>(undefined);
  const [shown, setShown] = useState<NewToken | undefined>(undefined);
  const secretKeys = useSecretKeys();
  const index = Math.max(0, Math.min(selected, tokens.length - 1));
  const current = tokens[index];

  const reveal = (t: NewToken | undefined) => {
    if (!t) return;
    setShown(t);
    res.reload();
  };
  const create = (name: string) => {
    if (!TOKEN_NAME.test(name)) {
      act.say("A token name is 1–64 letters, digits, . _ - or @.", true);
      return;
    }
    setNaming(undefined);
    void act.run(`creating token ${name}…`, () => api.createToken(dep.id, name)).then(reveal);
  };

  useSubKeys(keys, (k) => {
    if (shown) {
      return secretKeys(
        k,
        shown.token,
        () => setShown(undefined),
        () => act.say("copied to the clipboard (if your terminal allows OSC 52)"),
      );
    }
    if (naming) {
      if (is.enter(k)) create(naming.value.trim());
      else if (is.escape(k)) setNaming(undefined);
      else {
        const next = editLine(naming, k);
        if (next) setNaming(next);
      }
      return true;
    }
    if (is.up(k)) setSelected(Math.max(0, index - 1));
    else if (is.down(k)) setSelected(Math.min(tokens.length - 1, index + 1));
    else if (k.ch === "c") setNaming(line());
    else if (k.ch === "r" && current) {
      act.ask(`Rotate token ${current.name}? The old value stops working at once.`, () => {
        void act.run(`rotating ${current.name}…`, () => api.rotateToken(dep.id, current.id)).then(reveal);
      });
    } else if (k.ch === "x" && current && !current.revokedAt) {
      act.ask(`Revoke token ${current.name}? Clients using it are cut off.`, () => {
        void act
          .run(
            `revoking ${current.name}…`,
            () => api.revokeToken(dep.id, current.id),
            () => `revoked ${current.name}`,
          )
          .then(() => res.reload());
      });
    } else return false;
    return true;
  });

  const notice = shown ? (
    <SecretNotice title={`New token "${shown.name}" for ${dep.slug}`} secret={shown.token} width={width} />
  ) : null;
  const tableHeight = Math.max(2, height - (shown ? 6 : 0) - (naming ? 1 : 0) - 1);
  return (
    <Box flexDirection="column" width={width} height={height}>
      {notice}
      {naming ? (
        <Text>
          <Text bold>New token name: </Text>
          <TextInput state={naming} focused width={40} placeholder="e.g. laptop, ci" />
        </Text>
      ) : null}
      <Table
        columns={COLUMNS}
        rows={tokens}
        selected={index}
        width={width}
        height={tableHeight}
        rowKey={(t) => t.id}
        empty={res.loading ? "loading…" : "No tokens."}
      />
      <Footer
        hints={
          shown
            ? [
                ["y", "copy"],
                ["enter", "dismiss"],
              ]
            : naming
              ? [
                  ["enter", "create"],
                  ["esc", "cancel"],
                ]
              : [
                  ["c", "create"],
                  ["r", "rotate"],
                  ["x", "revoke"],
                ]
        }
        width={width}
      />
    </Box>
  );
}
