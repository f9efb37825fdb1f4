// Random W3C trace and span ids, drawn from a pooled random buffer so one request costs no syscall.
import { randomFillSync } from 'node:crypto';

const POOL_SIZE = 4096;
const pool = Buffer.allocUnsafe(POOL_SIZE);
let offset = POOL_SIZE;

function take(bytes: number): string {
  if (offset + bytes > POOL_SIZE) {
    randomFillSync(pool);
    offset = 0;
  }
  const hex = pool.toString('hex', offset, offset + bytes);
  offset += bytes;
  return hex;
}

/** 32 lowercase hex digits, never all zero (W3C Trace Context 3.2.2.3). */
export function newTraceId(): string {
  const id = take(16);
  return id === '00000000000000000000000000000000' ? newTraceId() : id;
}

/** 16 lowercase hex digits, never all zero. */
export function newSpanId(): string {
  const id = take(8);
  return id === '0000000000000000' ? newSpanId() : id;
}
