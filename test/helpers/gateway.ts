// Starts Portico in-process for a test: writes the YAML to a temp file, listens on ephemeral loopback
// ports, collects log lines in memory, and stops everything afterwards.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPortico, type Portico } from '../../src/process/start-portico.js';

export interface TestGateway {
  readonly portico: Portico;
  /** "http://127.0.0.1:PORT" of the first listener. */
  readonly url: string;
  readonly port: number;
  readonly adminUrl: string | undefined;
  readonly configFile: string;
  /** Every log line written so far, parsed. */
  readonly logs: Record<string, unknown>[];
  /** Access lines (those with a `method`). */
  accessLines(): Record<string, unknown>[];
  /** Rewrites the config file (does not reload by itself unless watch is on). */
  writeConfig(yaml: string): void;
  stop(): Promise<void>;
}

/**
 * `yaml` is the config; the `gateway:` section gets listen 127.0.0.1:0 and admin 127.0.0.1:0 unless the
 * YAML sets them. Write `{{listen}}` to place the listen address yourself.
 */
export async function startTestGateway(
  yaml: string,
  opts: { env?: Record<string, string>; watch?: boolean } = {},
): Promise<TestGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'portico-test-'));
  const configFile = join(dir, 'gateway.yaml');
  const withDefaults = (text: string) =>
    /^gateway:/m.test(text)
      ? text
      : `gateway:\n  listen: "127.0.0.1:0"\n  admin: { listen: "127.0.0.1:0" }\n${text}`;
  writeFileSync(configFile, withDefaults(yaml));
  const logs: Record<string, unknown>[] = [];
  const destination = {
    write(line: string) {
      for (const l of line.split('\n'))
        if (l.trim() !== '') logs.push(JSON.parse(l) as Record<string, unknown>);
      return true;
    },
  };
  let portico: Portico;
  try {
    portico = await startPortico({
      configFile,
      env: { ...process.env, ...opts.env },
      logDestination: destination,
      watch: opts.watch ?? false,
    });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const address = portico.gateway.addresses[0]!;
  const port = Number(address.slice(address.lastIndexOf(':') + 1));
  return {
    portico,
    url: `http://127.0.0.1:${port}`,
    port,
    adminUrl: portico.admin ? `http://${portico.admin.address}` : undefined,
    configFile,
    // Access lines are batched; reading the logs writes what is pending first.
    get logs() {
      portico.flushAccessLog();
      return logs;
    },
    accessLines: () => {
      portico.flushAccessLog();
      return logs.filter((l) => 'method' in l && 'status' in l);
    },
    writeConfig: (text) => writeFileSync(configFile, withDefaults(text)),
    async stop() {
      await portico.stop('test done');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
