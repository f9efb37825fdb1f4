// Peer: nginx as a reverse proxy to the bench upstream. Not a node script: the harness writes an nginx.conf
// into its temp dir and runs `nginx -c <conf>` in the foreground as one process (daemon off, master_process
// off), so the pid it starts, pins and stops is the process that serves the requests.
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { findExecutable, ManagedProcess, verifyProcess, waitForHttp } from '../child-processes.js';

/** The nginx binary: on PATH, else Debian's /usr/sbin/nginx (not on every user's PATH), else null. */
export function nginxPath(): string | null {
  const onPath = findExecutable('nginx');
  if (onPath !== null) return onPath;
  return existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : null;
}

export function nginxMissingReason(): string | null {
  if (nginxPath() !== null) return null;
  return 'nginx is not installed (e.g. apt-get install nginx-light); the nginx peer was not measured';
}

/**
 * One foreground process with one event loop; every path under `dir`, so nothing outside the temp dir is
 * written. Keep-alive on both sides with no per-connection request cap (nginx closes a connection after
 * 1000 requests by default, which node:http and undici do not), HTTP/1.1 upstream with the client's
 * `Connection` header cleared so the upstream connections are reused.
 */
export function nginxConfig(dir: string, port: number, upstreamPort: number): string {
  const at = (name: string): string => path.join(dir, name);
  return `# Written by the Portico benchmark for one run; removed with its temp dir.
daemon off;
master_process off;
worker_processes 1;
pid ${at('nginx.pid')};
error_log ${at('error.log')} warn;

events {
    worker_connections 1024;
}

http {
    access_log off;
    client_body_temp_path ${at('client_body')};
    proxy_temp_path ${at('proxy')};
    fastcgi_temp_path ${at('fastcgi')};
    uwsgi_temp_path ${at('uwsgi')};
    scgi_temp_path ${at('scgi')};
    keepalive_timeout 65s;
    keepalive_requests 1000000000;

    upstream bench_upstream {
        server 127.0.0.1:${upstreamPort};
        keepalive 64;
        keepalive_requests 1000000000;
        keepalive_timeout 60s;
    }

    server {
        listen 127.0.0.1:${port};
        location / {
            proxy_pass http://bench_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
`;
}

export interface NginxStart {
  readonly dir: string;
  readonly port: number;
  readonly upstreamPort: number;
  readonly cpu: number | null;
  readonly tasksetPath: string | null;
  readonly readyTimeoutMs: number;
}

/**
 * Writes the config into `spec.dir`, starts nginx and waits until it answers HTTP. Returns the process and
 * a line for the report's notes; on failure the process is stopped (by pid) and the error rethrown.
 */
export async function startNginx(spec: NginxStart): Promise<{ proc: ManagedProcess; note: string }> {
  const exe = nginxPath();
  if (exe === null) throw new Error('nginx is not installed');
  await mkdir(spec.dir, { recursive: true });
  const conf = path.join(spec.dir, 'nginx.conf');
  await writeFile(conf, nginxConfig(spec.dir, spec.port, spec.upstreamPort));
  const proc = new ManagedProcess({
    name: 'nginx',
    command: exe,
    // -p: prefix for relative paths; -e: the error log nginx opens before it reads the config.
    args: ['-p', spec.dir, '-e', path.join(spec.dir, 'error.log'), '-c', conf],
    cpu: spec.cpu,
    tasksetPath: spec.tasksetPath,
    stdout: 'ignore',
    keepStdin: false,
  });
  try {
    await waitForHttp(proc, spec.port, spec.readyTimeoutMs);
    const affinity = verifyProcess(proc, exe);
    return {
      proc,
      note: `nginx: pid ${proc.pid}, port ${spec.port}, CPU affinity ${affinity}, config ${conf}`,
    };
  } catch (err: unknown) {
    await proc.stop();
    throw err;
  }
}
