import { Text } from "ink";
import { width as textWidth } from "../format.ts";
import type { LineState } from "../keys.ts";
import { useColor } from "../theme.tsx";

/**
 * Shows a line being edited: masked (`•`) for secrets unless revealed, the cursor as an inverse
 * cell when focused, scrolled so the cursor stays visible in `width` columns.
 */
export function TextInput({
  state,
  focused,
  width,
  mask = false,
  placeholder,
}: {
  state: LineState;
  focused: boolean;
  width: number;
  mask?: boolean;
  placeholder?: string | undefined;
}) {
  const color = useColor();
  const chars = [...(mask ? "•".repeat([...state.value].length) : state.value)];
  if (chars.length === 0 && placeholder && !focused) {
    return <Text dimColor>{placeholder.slice(0, width)}</Text>;
  }
  const room = Math.max(1, width - 1);
  const start = Math.max(0, state.cursor - room + 1);
  const before = chars.slice(start, state.cursor).join("");
  const at = chars[state.cursor] ?? " ";
  const after = chars.slice(state.cursor + 1, start + room).join("");
  if (!focused) return <Text>{chars.slice(0, width).join("")}</Text>;
  const hint = chars.length === 0 && placeholder ? placeholder.slice(0, width - 1 - textWidth(at)) : "";
  return (
    <Text>
      {before}
      <Text inverse color={color("cyan")}>
        {at}
      </Text>
      {after}
      {hint ? <Text dimColor>{hint}</Text> : null}
    </Text>
  );
}
