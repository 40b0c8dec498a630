import { Text } from "ink";
import { stateStyle, useColor } from "../theme.tsx";

/** A deployment state as symbol and name (`● running`), coloured when colour is on. */
export function StateBadge({ state }: { state: string }) {
  const color = useColor();
  const s = stateStyle(state);
  return (
    <Text color={color(s.color)}>
      {s.symbol} {state}
    </Text>
  );
}

export function stateLabel(state: string): string {
  return `${stateStyle(state).symbol} ${state}`;
}
