// A response body that streams to the client as usual and keeps a copy on the side, up to a limit, for the
// cache to store once it has ended: a miss costs the client no extra latency, and a body past the limit
// (or one that fails) is simply not stored.
import type { BodySink, StreamingBody } from '../../pipeline/gateway-response.js';

export class TeeBody implements StreamingBody {
  private chunks: Buffer[] | null = [];
  private size = 0;
  private settled = false;

  constructor(
    private readonly inner: StreamingBody,
    private readonly maxBytes: number,
    /** Called once: the whole body when it ended within the limit, otherwise null. */
    private readonly done: (body: Buffer | null) => void,
  ) {}

  pipeTo(dest: BodySink): void {
    const sink: BodySink = {
      write: (chunk) => {
        this.copy(chunk);
        return dest.write(chunk);
      },
      end: (chunk) => {
        if (chunk !== undefined) this.copy(chunk);
        dest.end(chunk);
        this.settle(true);
      },
      destroy: () => {
        dest.destroy();
        this.settle(false);
      },
      on: (event, listener) => dest.on(event, listener),
    };
    this.inner.pipeTo(sink);
  }

  collect(maxBytes: number): Promise<Buffer> {
    return this.inner.collect(maxBytes).then(
      (body) => {
        if (body.length <= this.maxBytes) {
          this.chunks = [body];
          this.size = body.length;
        } else this.chunks = null;
        this.settle(true);
        return body;
      },
      (err: unknown) => {
        this.settle(false);
        throw err;
      },
    );
  }

  destroy(): void {
    this.inner.destroy();
    this.settle(false);
  }

  private copy(chunk: Buffer): void {
    if (this.chunks === null) return;
    this.size += chunk.length;
    if (this.size > this.maxBytes) this.chunks = null;
    else this.chunks.push(chunk);
  }

  private settle(ended: boolean): void {
    if (this.settled) return;
    this.settled = true;
    const chunks = this.chunks;
    this.chunks = null;
    this.done(ended && chunks !== null ? Buffer.concat(chunks, this.size) : null);
  }
}
