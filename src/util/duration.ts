// Durations as an operator reads them: milliseconds up to 10 s, then seconds
// (one decimal at most), then minutes. "30000 ms" makes people count zeros.

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (Math.abs(ms) < 10_000) return `${Math.round(ms)} ms`;
  const tidy = (v: number) => String(Math.round(v * 10) / 10);
  if (Math.abs(ms) < 600_000) return `${tidy(ms / 1000)} s`;
  return `${tidy(ms / 60_000)} min`;
}

/**
 * An age at a glance ("12 s", "3 min", "2 h 5 min"), for "since" and "ago"
 * in status: exact below a second, seconds below a minute, then minutes.
 */
export function formatAge(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  const v = Math.max(0, ms);
  if (v < 1000) return `${Math.round(v)} ms`;
  if (v < 10_000) return `${String(Math.round(v / 100) / 10)} s`;
  if (v < 60_000) return `${Math.round(v / 1000)} s`;
  if (v < 3_600_000) return `${Math.floor(v / 60_000)} min`;
  if (v < 172_800_000) {
    const m = Math.floor((v % 3_600_000) / 60_000);
    return `${Math.floor(v / 3_600_000)} h${m ? ` ${m} min` : ''}`;
  }
  return `${Math.floor(v / 86_400_000)} d`;
}
