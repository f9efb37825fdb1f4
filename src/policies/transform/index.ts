// Request and response transformation (transform phase): header, query and path edits on the way up;
// status and header edits on the way down; and body rewriting on both sides — JSON field operations,
// JSON⇄XML, wrap_json and add_pagination. Everything is compiled at load. Only a route with a body
// operation holds bodies in memory (up to max_body_bytes), and only bodies its rules apply to; every other
// body streams through untouched.
//
// This file wires the policy; compile-plans.ts compiles the config, request-body.ts and response-body.ts
// handle the bodies, wrap-and-paginate.ts the response envelope, body-problems.ts the answers to bodies that
// cannot be transformed, passed-warning.ts the warning for those let through.
import type { Exchange } from '../../pipeline/exchange.js';
import type { GatewayResponse } from '../../pipeline/gateway-response.js';
import {
  ConfigErrorCollector,
  definePolicy,
  type CompileContext,
  type Policy,
} from '../../pipeline/policy.js';
import { compileRequest, compileResponse } from './compile-plans.js';
import { applyRequestHeaderOps, applyResponseHeaderOps } from './header-ops.js';
import { warner } from './passed-warning.js';
import { rewritePath } from './path-rewrite.js';
import { applyQueryOps } from './query-ops.js';
import { transformRequestBody } from './request-body.js';
import { hasBody, transformResponseBody, withoutBody } from './response-body.js';
import { TransformSchema, type TransformConfig } from './schema.js';
import { resolveRequestPage } from './wrap-and-paginate.js';

export const transform = definePolicy({
  name: 'transform',
  phase: 'transform',
  summary:
    'Rewrite requests and responses: headers, query, path, JSON/XML bodies, wrapping, pagination, masking.',
  schema: TransformSchema,
  create(config: TransformConfig, ctx: CompileContext): Policy {
    const maxBytes = config.max_body_bytes;
    const reject = config.on_invalid_body === 'reject';
    // Every independent part compiles, so one load reports all of the route's transform mistakes.
    const issues = new ConfigErrorCollector();
    const request = config.request === undefined ? undefined : compileRequest(config.request, issues);
    const response = config.response === undefined ? undefined : compileResponse(config.response, issues);
    issues.check();
    const warnRequest = warner(ctx, 'request');
    const warnResponse = warner(ctx, 'response');
    const policy: Policy = {};

    if (request !== undefined || response?.pagination !== undefined) {
      const pagination = response?.pagination;
      policy.onRequest = (ex: Exchange): Promise<void> | undefined => {
        if (pagination !== undefined) resolveRequestPage(pagination, ex);
        if (request === undefined) return undefined;
        if (request.headers !== undefined) applyRequestHeaderOps(request.headers, ex);
        if (request.query !== undefined) ex.query = applyQueryOps(request.query, ex, ex.query);
        if (request.path !== undefined) {
          const path = rewritePath(request.path, ex.path);
          if (path !== undefined) ex.upstreamPath = path;
        }
        if (request.body === undefined || ex.requestBody === null) return undefined;
        return transformRequestBody(ex, request.body, maxBytes, reject, warnRequest);
      };
    }

    if (response !== undefined) {
      policy.onResponse = (
        ex: Exchange,
        res: GatewayResponse,
      ): GatewayResponse | Promise<GatewayResponse> => {
        if (res.source !== 'upstream') {
          if (response.headers !== undefined) applyResponseHeaderOps(response.headers, ex, res.headers);
          return res;
        }
        const status = res.status;
        const mapped = response.statusMap.get(status);
        if (mapped !== undefined) {
          res.status = mapped;
          // 204 and 304 carry no body (RFC 9110 15.3.5, 15.4.5): the upstream's is dropped, unread.
          if (mapped === 204 || mapped === 304) res = withoutBody(res);
        }
        if (response.statuses[status] === 1 && hasBody(ex, status, res)) {
          if (response.body !== undefined)
            return transformResponseBody(ex, res, response, maxBytes, reject, warnResponse);
        }
        if (response.headers !== undefined) applyResponseHeaderOps(response.headers, ex, res.headers);
        return res;
      };
    }
    return policy;
  },
});
