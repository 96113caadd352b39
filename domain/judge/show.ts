/** A number for a reason text: six significant digits, no float dust. */
export function show(n: number): string {
  return String(Number(n.toPrecision(6)));
}
