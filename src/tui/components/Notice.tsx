import { Box, Text, useStdout } from "ink";
import type { ReactNode } from "react";
import { copyToClipboard } from "../clipboard.ts";
import { truncate } from "../format.ts";
import type { Keypress } from "../keys.ts";
import { useColor } from "../theme.tsx";
import { Spinner } from "./Spinner.tsx";

/** The yellow frame of something the operator must act on now (a secret, a connect code). */
export function NoticeFrame({ width, children }: { width: number; children: ReactNode }) {
  const color = useColor();
  return (
    <Box
      flexDirection="column"
      borderStyle="round"
      borderColor={color("yellow")}
      paddingX={1}
      width={width}
      flexShrink={0}
    >
      {children}
    </Box>
  );
}

/**
 * A secret shown exactly once (a new access token): framed, with what to do now. The caller keeps
 * the value only while this is on screen and drops it on dismiss.
 */
export function SecretNotice({
  title,
  secret,
  width,
  keysText = "enter or esc dismisses",
}: {
  title: string;
  secret: string;
  width: number;
  keysText?: string;
}) {
  const color = useColor();
  return (
    <NoticeFrame width={width}>
      <Text bold color={color("yellow")} wrap="truncate">
        {truncate(`${title} — shown only once`, width - 4)}
      </Text>
      <Text bold>{secret}</Text>
      <Text dimColor wrap="wrap">
        Copy it now: it is never shown again. y copies it to your clipboard (OSC 52); {keysText}.
      </Text>
    </NoticeFrame>
  );
}

/** Keys of a shown secret: `y` copies, enter/esc dismiss. Returns true when it used the key. */
export function useSecretKeys(): (
  k: Keypress,
  secret: string,
  dismiss: () => void,
  copied: () => void,
) => boolean {
  const { stdout } = useStdout();
  return (k, secret, dismiss, copied) => {
    if (k.ch === "y") {
      copyToClipboard(stdout, secret);
      copied();
      return true;
    }
    if (k.name === "return" || k.name === "escape") {
      dismiss();
      return true;
    }
    // Everything else is swallowed while the secret is on screen, except quitting and help.
    return k.ch !== "q" && k.ch !== "?";
  };
}

/** One status line: a spinner with what is running, or the last result or error. */
export function StatusLine({
  busy,
  message,
  width,
}: {
  busy?: string | undefined;
  message?: { text: string; error: boolean } | undefined;
  width: number;
}) {
  const color = useColor();
  if (busy) {
    return (
      <Text wrap="truncate">
        <Spinner /> {truncate(busy, width - 2)}
      </Text>
    );
  }
  if (!message) return <Text> </Text>;
  return (
    <Text color={color(message.error ? "red" : "green")} wrap="truncate">
      {truncate(`${message.error ? "✖" : "✔"} ${message.text}`, width)}
    </Text>
  );
}

/** A yes/no question on one line; y confirms, anything else cancels. */
export function ConfirmLine({ question, width }: { question: string; width: number }) {
  const color = useColor();
  return (
    <Text bold color={color("yellow")} wrap="truncate">
      {truncate(`${question} y/N`, width)}
    </Text>
  );
}
