// Runs one request through a route's compiled pipeline: request steps in phase order, the upstream onion,
// response steps in reverse, then completion hooks. The only place where throws become problem responses.
// Awaits only when a step returned a thenable, so synchronous policies cost a function call.
import { discardBody } from './body.js';
import type { Exchange } from './exchange.js';
import type { GatewayResponse } from './gateway-response.js';
import type { Awaitable, Policy } from './policy.js';
import { Problem, PROBLEM_CONTENT_TYPE, problemBody } from '../problems/problem.js';
import { problems } from '../problems/catalog.js';
import { writeResponse } from './write-response.js';

/** A policy with its position in the route's phase-ordered policy list. */
export interface PipelineStep {
  readonly position: number;
  readonly policy: Policy;
}

/** A route's policies, split by hook at compile time; empty arrays cost nothing per request. */
export interface CompiledPipeline {
  readonly request: readonly PipelineStep[];
  /** Steps with onResponse, already in reverse phase order. */
  readonly response: readonly PipelineStep[];
  readonly complete: readonly ((ex: Exchange) => void)[];
  /** The upstream call with every onUpstream layer folded around it. */
  readonly upstream: (ex: Exchange) => Promise<GatewayResponse>;
  /** Reports an unexpected error (logged with the trace id; never sent to the client). */
  readonly onError: (ex: Exchange, err: unknown) => void;
}

/** Past every position: all response steps run. */
const REACHED_ALL = Number.MAX_SAFE_INTEGER;

export function runPipeline(ex: Exchange, p: CompiledPipeline): void {
  // on(), not once(): 'close' fires once anyway, and once() allocates a wrapper per call.
  ex.res.on('close', () => completeExchange(ex, p));
  const steps = p.request;
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i]!;
    let out: Awaitable<GatewayResponse | void>;
    try {
      out = step.policy.onRequest!(ex);
    } catch (err) {
      respond(ex, p, step.position, problemResponse(ex, p, err));
      return;
    }
    if (out !== undefined) {
      if (isThenable(out)) {
        void continueRequest(ex, p, i, out);
        return;
      }
      respond(ex, p, step.position, out);
      return;
    }
  }
  callUpstream(ex, p);
}

async function continueRequest(
  ex: Exchange,
  p: CompiledPipeline,
  index: number,
  pending: Promise<GatewayResponse | void>,
): Promise<void> {
  const steps = p.request;
  let i = index;
  try {
    let out = await pending;
    for (;;) {
      if (out !== undefined) {
        respond(ex, p, steps[i]!.position, out);
        return;
      }
      i++;
      if (i >= steps.length) break;
      out = await steps[i]!.policy.onRequest!(ex);
    }
  } catch (err) {
    respond(ex, p, steps[i]!.position, problemResponse(ex, p, err));
    return;
  }
  callUpstream(ex, p);
}

function callUpstream(ex: Exchange, p: CompiledPipeline): void {
  let pending: Promise<GatewayResponse>;
  try {
    pending = p.upstream(ex);
  } catch (err) {
    respond(ex, p, REACHED_ALL, problemResponse(ex, p, err));
    return;
  }
  pending.then(
    (res) => respond(ex, p, REACHED_ALL, res),
    (err: unknown) => respond(ex, p, REACHED_ALL, problemResponse(ex, p, err)),
  );
}

/** Runs onResponse for steps before `reached`, in reverse phase order, then writes the response. */
function respond(ex: Exchange, p: CompiledPipeline, reached: number, res: GatewayResponse): void {
  const steps = p.response;
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i]!;
    if (step.position >= reached) continue;
    let out: Awaitable<GatewayResponse | void>;
    try {
      out = step.policy.onResponse!(ex, res);
    } catch (err) {
      res = replaceWithProblem(ex, p, res, err);
      continue;
    }
    if (out !== undefined) {
      if (isThenable(out)) {
        void continueResponse(ex, p, reached, i, res, out);
        return;
      }
      if (out !== res) discardBody(res.body);
      res = out;
    }
  }
  writeResponse(ex, res);
}

async function continueResponse(
  ex: Exchange,
  p: CompiledPipeline,
  reached: number,
  index: number,
  current: GatewayResponse,
  pending: Promise<GatewayResponse | void>,
): Promise<void> {
  let res = current;
  const steps = p.response;
  for (let i = index; i < steps.length; i++) {
    const step = steps[i]!;
    if (step.position >= reached) continue;
    try {
      const out = i === index ? await pending : await step.policy.onResponse!(ex, res);
      if (out !== undefined) {
        if (out !== res) discardBody(res.body);
        res = out;
      }
    } catch (err) {
      res = replaceWithProblem(ex, p, res, err);
    }
  }
  writeResponse(ex, res);
}

function replaceWithProblem(
  ex: Exchange,
  p: CompiledPipeline,
  res: GatewayResponse,
  err: unknown,
): GatewayResponse {
  discardBody(res.body);
  return problemResponse(ex, p, err);
}

/** Turns anything thrown into a problem+json response; unknown errors become internal-error, logged. */
function problemResponse(ex: Exchange, p: CompiledPipeline, err: unknown): GatewayResponse {
  let problem: Problem;
  if (err instanceof Problem) {
    problem = err;
  } else {
    p.onError(ex, err);
    problem = problems.internalError();
  }
  return problemToResponse(ex, problem);
}

/** The response for a problem: RFC 9457 body, trace id included, never cached. */
export function problemToResponse(ex: Exchange, problem: Problem): GatewayResponse {
  const body = problemBody(problem, ex.traceId);
  const headers: Record<string, string> = {
    'content-type': PROBLEM_CONTENT_TYPE,
    'cache-control': 'no-store',
  };
  if (problem.headers !== undefined) Object.assign(headers, problem.headers);
  return { status: problem.status, headers, body, source: 'gateway', problem: problem.code };
}

function completeExchange(ex: Exchange, p: CompiledPipeline): void {
  if (!ex.res.writableFinished) ex.upstreamCall?.cancel();
  const hooks = p.complete;
  for (let i = 0; i < hooks.length; i++) {
    try {
      hooks[i]!(ex);
    } catch (err) {
      p.onError(ex, err);
    }
  }
  ex.onClose?.();
}

function isThenable<T>(v: unknown): v is Promise<T> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}
