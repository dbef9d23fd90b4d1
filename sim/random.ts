/**
 * The distributions the simulation draws from, over the seeded mulberry32
 * {@link Prng} of `./memory-aws`. Written here rather than taken from a
 * library: a dozen lines, no dependency to vet, and the sequence for a seed
 * can never change under us with a library's version (a run must be
 * reproducible from its seed for as long as its report is read).
 */
import type { Prng } from './memory-aws';

/** A standard normal draw (Box-Muller; one of the pair is dropped to keep the stream simple). */
export function normal(prng: Prng): number {
  const u = 1 - prng.next();
  const v = prng.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** A log-normal draw with the given median and shape (σ of the log): copy times and sizes are skewed like this. */
export function logNormal(prng: Prng, median: number, sigma: number): number {
  return sigma <= 0 ? median : median * Math.exp(sigma * normal(prng));
}

/** An exponential draw with the given mean: delays between independent events. */
export function exponential(prng: Prng, mean: number): number {
  return mean <= 0 ? 0 : -mean * Math.log(1 - prng.next());
}

/**
 * Integer weights following Zipf's law (rank^-s), scaled to sum to `total`,
 * every one at least 1: how a few accounts hold most of a fleet's snapshots.
 */
export function zipfCounts(n: number, total: number, s: number): number[] {
  const weights = Array.from({ length: n }, (_, i) => 1 / (i + 1) ** s);
  const sum = weights.reduce((a, b) => a + b, 0);
  const counts = weights.map((w) => Math.max(1, Math.floor((w / sum) * total)));
  // Hand out what flooring left over (or take back the excess) round-robin from the largest.
  let diff = total - counts.reduce((a, b) => a + b, 0);
  for (let i = 0; diff !== 0; i = (i + 1) % n) {
    if (diff > 0) {
      counts[i] += 1;
      diff -= 1;
    } else if (counts[i] > 1) {
      counts[i] -= 1;
      diff += 1;
    }
  }
  return counts;
}
