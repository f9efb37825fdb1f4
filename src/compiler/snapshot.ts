// The compiled, immutable gateway: what a request walks. Built once per config load; never mutated.
import type { GatewayConfig } from '../config/schema.js';
import type { NormalizedMatch } from '../config/normalize-config.js';
import type { IngressSettings } from '../http/read-request.js';
import type { CompiledPipeline } from '../pipeline/run-pipeline.js';
import type { Policy } from '../pipeline/policy.js';
import type { AdminEntry } from './compile-context.js';
import type { Router } from '../router/router.js';
import type { PathEscapes } from '../lib/normalize-path.js';
import type { CarryOverScope } from './carry-over.js';
import type { UpstreamGroup } from '../proxy/upstream-group.js';

export interface CompiledRoute {
  readonly name: string;
  /** Index in the config's routes list (-1 for the gateway's own system route). */
  readonly index: number;
  readonly match: NormalizedMatch;
  readonly priority: number;
  /** Where the route forwards, for `portico routes` (no credentials). */
  readonly upstreamLabel: string;
  readonly policyNames: readonly string[];
  readonly pipeline: CompiledPipeline;
  readonly policies: readonly Policy[];
  /** What an encoded "/" or "\" in the path does on this route (route key `path_escapes`). */
  readonly pathEscapes: PathEscapes;
  /** Client method-override headers go upstream (route key `method_override`). */
  readonly methodOverride: boolean;
  /** Upstreams besides its own that its policies send requests to (`CompileContext.upstream`). */
  readonly otherUpstreams?: readonly string[];
}

export interface GatewaySnapshot {
  /**
   * The config hash (`configHash`): sha256 of the config text, combined with the digest of the input files
   * when there are any (the consumers file). Unchanged text and inputs are not reloaded.
   */
  readonly hash: string;
  readonly file: string;
  readonly config: GatewayConfig;
  readonly router: Router<CompiledRoute>;
  readonly routes: readonly CompiledRoute[];
  /** Answers requests no route takes, and requests refused before routing, through the same policies. */
  readonly system: CompiledRoute;
  readonly ingress: IngressSettings;
  /** Resources (pools…) this snapshot uses; released when it is retired. */
  readonly resources: CarryOverScope;
  readonly warnings: readonly string[];
  /**
   * Files besides the config this snapshot was built from (consumers file…), and the digest of the content
   * the build read from them.
   */
  readonly inputs: readonly string[];
  readonly inputsDigest: string;
  /** Named upstreams routes use, by name (admin `/upstreams`). */
  readonly upstreams: ReadonlyMap<string, UpstreamGroup>;
  /** Admin paths of the policies (the cache purge), with the action a route registered, by path. */
  readonly admin: ReadonlyMap<string, AdminEntry>;
}
