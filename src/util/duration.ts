// Durations as an operator reads them: milliseconds up to 10 s, then seconds
// (one decimal at most), then minutes. "30000 ms" makes people count zeros.

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (Math.abs(ms) < 10_000) return `${Math.round(ms)} ms`;
  const tidy = (v: number) => String(Math.round(v * 10) / 10);
  if (Math.abs(ms) < 600_000) return `${tidy(ms / 1000)} s`;
  return `${tidy(ms / 60_000)} min`;
}
