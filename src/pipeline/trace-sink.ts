// What the request-id policy needs from span export: a head-sampling decision and a place to hand finished
// exchanges. Implemented by src/observability/tracing.ts; absent when no `gateway.tracing` is configured, so
// that a gateway without export pays nothing.
import type { Exchange } from './exchange.js';

export interface TraceSink {
  /** Whether a client's sampled flag decides (true) or the ratio decides for every trace (false). */
  readonly parentBased: boolean;
  /** Head sampling for a trace the gateway starts (or whose parent's decision it does not follow). */
  sampleNew(w3cTraceId: string): boolean;
  /**
   * Records a finished, sampled exchange: the gateway's server span and, when the upstream was called, the
   * client span of that call. Called once, after the response is complete. Must not throw.
   */
  record(ex: Exchange): void;
}
