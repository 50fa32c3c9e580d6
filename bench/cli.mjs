// What the bench scripts share: their command line as { name: value } ("--runs 5" -> runs: "5",
// a flag alone -> true), and the median.

export const args = Object.fromEntries(process.argv.slice(2).reduce((pairs, a, i, all) => {
  if (a.startsWith('--')) pairs.push([a.slice(2), all[i + 1] === undefined || all[i + 1].startsWith('--') ? true : all[i + 1]]);
  return pairs;
}, []));

/// A tab that is already open, as a person's is when they open the page: `page` shows
/// about:blank and settles for 0.5 s (bench/run.mjs's page_open_to_ready).
export async function settledBlankTab(page) {
  await page.goto('about:blank');
  await page.waitForTimeout(500);
}

/// The median of the defined values of `xs`; undefined if there are none.
export function median(xs) {
  const s = xs.filter((x) => x !== undefined).sort((a, b) => a - b);
  if (!s.length) return undefined;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
