// Exact money: the API sends decimal strings (at most three decimals); sums are made in thousandths as
// BigInt, never in floating point, and turned back into a decimal string for display.
const SCALE = 3;

export const toMilli = (amount: string): bigint => {
  const [whole, fraction = ""] = amount.split(".");
  const negative = whole.startsWith("-");
  const milli = BigInt(whole.replace("-", "")) * 10n ** BigInt(SCALE) + BigInt((fraction + "000").slice(0, SCALE));
  return negative ? -milli : milli;
};

export const fromMilli = (milli: bigint): string => {
  const abs = milli < 0n ? -milli : milli;
  const fraction = (abs % 1000n).toString().padStart(SCALE, "0");
  return `${milli < 0n ? "-" : ""}${abs / 1000n}.${fraction}`;
};
