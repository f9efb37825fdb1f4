// Cross-field checks of the gateway's own settings: what one key's schema cannot see because it depends on
// another (an admin listener beyond loopback needs a token; Redis needs a url; route names are unique).
import { isIP } from 'node:net';
import type { IssueCollector } from '../config/config-issue.js';
import type { GatewayConfig } from '../config/schema.js';
import { type Due, NEVER_DUE, runSteps, type Steps } from '../lib/steps.js';

export function checkConfig(config: GatewayConfig, issues: IssueCollector): void {
  runSteps(checkConfigSteps(config, issues, NEVER_DUE));
}

/** `checkConfig` in steps that yield when `due` (a pass over every route). */
export function* checkConfigSteps(config: GatewayConfig, issues: IssueCollector, due: Due): Steps<void> {
  const gw = config.gateway;
  if (gw.admin.enabled && !isLoopbackListen(gw.admin.listen) && gw.admin.token === undefined) {
    issues.error(
      ['gateway', 'admin', 'listen'],
      'the admin listener is reachable beyond loopback: set gateway.admin.token',
    );
  }
  if (gw.store.type === 'redis' && gw.store.url === undefined)
    issues.error(['gateway', 'store', 'url'], 'type: redis needs url (redis://host:port)', 'key');
  const seen = new Map<string, number>();
  for (let i = 0; i < config.routes.length; i++) {
    const name = config.routes[i]!.name;
    const first = seen.get(name);
    if (first !== undefined)
      issues.error(['routes', i, 'name'], `duplicate route name "${name}" (also routes[${first}])`);
    else seen.set(name, i);
    if (due()) yield;
  }
}

export function isLoopbackListen(listen: string): boolean {
  const host = listen.slice(0, listen.lastIndexOf(':')).replace(/^\[|\]$/g, '');
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}
