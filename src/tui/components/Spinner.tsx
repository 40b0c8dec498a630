import { Text } from "ink";
import { useTick } from "../hooks.tsx";
import { useColor } from "../theme.tsx";

const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/** A braille spinner that turns while mounted. */
export function Spinner() {
  const n = useTick(100);
  const color = useColor();
  return <Text color={color("cyan")}>{FRAMES[n % FRAMES.length]}</Text>;
}
