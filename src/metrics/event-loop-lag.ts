/**
 * Event-loop lag as an operator reads it: how late this node's event loop
 * ran a timer due every LAG_SAMPLE_MS, over the time since the previous
 * scrape — its worst case and percentiles. A 300 ms synchronous block shows
 * as a max of about 0.3 s at the next scrape.
 *
 * Why not prom-client's `nodejs_eventloop_lag_*`: its main gauge is the
 * delay of one setImmediate scheduled while the previous scrape was being
 * collected (how long that scrape's own turn took), not the lag between
 * scrapes; its max and percentiles come from one histogram per process that
 * every node's scrape resets (several nodes can share a process), and they
 * include the sampling interval (an idle loop reads 10 ms). And
 * perf_hooks.monitorEventLoopDelay drops the first interval after each
 * reset, so a block right after a scrape could go unseen. Here each node
 * samples with its own unref'd timer and keeps the time of the last sample
 * across the reset of its window.
 */
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';

/** How often the loop is sampled. */
export const LAG_SAMPLE_MS = 10;

export interface LagSummary {
  /** Seconds; 0 when no sample was taken. */
  max: number;
  p99: number;
  p50: number;
  samples: number;
}

/** Samples of lag since the window was last taken. Pure: the caller gives the times. */
export class LagWindow {
  readonly #intervalMs: number;
  /** Microseconds of lag per sample (a histogram records integers >= 1). */
  readonly #micros: RecordableHistogram = createHistogram();
  #last: number;

  constructor(intervalMs: number, nowMs: number) {
    this.#intervalMs = intervalMs;
    this.#last = nowMs;
  }

  /** The timer ran at `nowMs`; it was due `intervalMs` after its previous run. */
  tick(nowMs: number): void {
    const lateMs = Math.max(0, nowMs - this.#last - this.#intervalMs);
    this.#last = nowMs;
    this.#micros.record(Math.max(1, Math.round(lateMs * 1000)));
  }

  /** The lag since the previous take, and a fresh window (the time of the last sample is kept). */
  take(): LagSummary {
    const h = this.#micros;
    const summary =
      h.count === 0
        ? { max: 0, p99: 0, p50: 0, samples: 0 }
        : { max: seconds(h.max), p99: seconds(h.percentile(99)), p50: seconds(h.percentile(50)), samples: h.count };
    h.reset();
    return summary;
  }
}

/** A recorded 1 µs is "no lag". */
function seconds(micros: number): number {
  return micros <= 1 ? 0 : micros / 1e6;
}

/** A LagWindow fed by a timer of its own; stop() ends the timer. */
export class EventLoopLag {
  readonly #window = new LagWindow(LAG_SAMPLE_MS, performance.now());
  // setInterval schedules each run from the start of the previous one, so the gap between runs is the interval plus the lag.
  readonly #timer = setInterval(() => this.#window.tick(performance.now()), LAG_SAMPLE_MS).unref();

  take(): LagSummary {
    return this.#window.take();
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
