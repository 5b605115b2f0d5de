/** How the bench prints: one line at a time on stdout, whole numbers with separators, ratios to two places. */
export const line = (text = ''): void => {
  process.stdout.write(`${text}\n`);
};
export const f0 = (n: number): string => Math.round(n).toLocaleString('en-US');
export const f2 = (n: number): string => n.toFixed(2);
