// A problem found in a config file, with where it is (file, line, column, key path) and what was expected.

export type ConfigPath = readonly (string | number)[];

export interface ConfigIssue {
  readonly file: string;
  /** 1-based; 0 when the position is unknown. */
  readonly line: number;
  readonly column: number;
  readonly path: ConfigPath;
  readonly message: string;
  readonly severity: 'error' | 'warning';
}

/** Thrown when a config cannot be used; carries every issue found, not just the first. */
export class ConfigError extends Error {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    super(formatIssues(issues));
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/** `routes[2].match.path` */
export function formatPath(path: ConfigPath): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out === '' ? '(root)' : out;
}

/** `gateway.yaml:12:7 routes[2].upstream: expected ...` — one issue per line. */
export function formatIssue(issue: ConfigIssue): string {
  const where = issue.line > 0 ? `${issue.file}:${issue.line}:${issue.column}` : issue.file;
  const sev = issue.severity === 'warning' ? 'warning: ' : '';
  return `${where} ${sev}${formatPath(issue.path)}: ${issue.message}`;
}

export function formatIssues(issues: readonly ConfigIssue[]): string {
  const errors = issues.filter((i) => i.severity === 'error').length;
  const head = `${errors} error${errors === 1 ? '' : 's'} in configuration`;
  return [head, ...issues.map((i) => '  ' + formatIssue(i))].join('\n');
}

/** Where a key path points in the source file. */
export type Locator = (path: ConfigPath, at?: 'key' | 'value') => { line: number; column: number };

/** Collects issues with positions for one file. */
export class IssueCollector {
  readonly issues: ConfigIssue[] = [];
  constructor(
    readonly file: string,
    private readonly locate: Locator,
  ) {}

  error(path: ConfigPath, message: string, at: 'key' | 'value' = 'value'): void {
    this.add(path, message, at, 'error');
  }

  warning(path: ConfigPath, message: string, at: 'key' | 'value' = 'value'): void {
    this.add(path, message, at, 'warning');
  }

  /** A collector for a trial validation whose issues may be discarded. */
  fork(): IssueCollector {
    return new IssueCollector(this.file, this.locate);
  }

  get hasErrors(): boolean {
    return this.issues.some((i) => i.severity === 'error');
  }

  /** What `issues` holds (pushed directly too), as message, severity and path: one look per add, not a scan. */
  private readonly said = new Set<string>();
  private saidUpTo = 0;

  private add(path: ConfigPath, message: string, at: 'key' | 'value', severity: 'error' | 'warning'): void {
    // One mistake shared by several routes (a bad `defaults:` policy, a bad named upstream) is said once.
    for (; this.saidUpTo < this.issues.length; this.saidUpTo++) {
      const i = this.issues[this.saidUpTo]!;
      this.said.add(sayingOf(i.message, i.severity, formatPath(i.path)));
    }
    const saying = sayingOf(message, severity, formatPath(path));
    if (this.said.has(saying)) return;
    const { line, column } = this.locate(path, at);
    this.issues.push({ file: this.file, line, column, path: [...path], message, severity });
  }
}

function sayingOf(message: string, severity: string, where: string): string {
  return `${severity}\0${where}\0${message}`;
}
