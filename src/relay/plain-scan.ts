// WebAssembly SIMD for the JSON string hot loop: finding the end of a run of plain
// string bytes (anything but '"', '\' and controls below 0x20), 32 bytes per step.
// A 1 KiB frame is mostly one string, so this loop is most of the codec's time.
//
// Owns: the module instance and its memory, and which message is in that memory.
// A scan opens a scope on one message (beginScope); the first long string copies
// the message into linear memory (one memcpy), and later strings of the same
// message scan there. endScope forgets it, so a caller reusing the Buffer can never
// be answered from stale bytes.
//
// Where WebAssembly or its SIMD is unavailable (e.g. node --jitless), available is
// false and json-scan.ts keeps its four-bytes-at-a-time JavaScript loop.
import { PLAIN_SCAN_WASM_BASE64 } from './plain-scan.wasm.js';

// The few WebAssembly JS-API members used here (@types/node 20 does not declare them).
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}

interface PlainScanExports {
  memory: WasmMemory;
  skip(pos: number, end: number): number;
}

const PAGE = 65536;
/** Messages above this are scanned in JavaScript rather than growing memory further. */
const MAX_BYTES = 16 * 1024 * 1024;

function instantiate(): PlainScanExports | undefined {
  const api = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (api === undefined) return undefined; // node --jitless
  try {
    const mod = new api.Module(Buffer.from(PLAIN_SCAN_WASM_BASE64, 'base64'));
    return new api.Instance(mod, {}).exports as PlainScanExports;
  } catch {
    return undefined;
  }
}

const wasm = instantiate();
let memory = wasm === undefined ? new Uint8Array(0) : new Uint8Array(wasm.memory.buffer);
let scope: Buffer | undefined;
let copied = false;

/** True when the SIMD scan is in use. */
export const available = wasm !== undefined;

/** Opens a scan scope on `buf`: skipPlain may then be called with it. */
export function beginScope(buf: Buffer): void {
  scope = buf;
  copied = false;
}

/** Closes the scope: nothing of the message is reused afterwards. */
export function endScope(): void {
  scope = undefined;
}

function fits(len: number): boolean {
  if (len <= memory.length) return true;
  if (wasm === undefined || len > MAX_BYTES) return false;
  try {
    wasm.memory.grow(Math.ceil((len - memory.length) / PAGE));
  } catch {
    return false; // no memory to grow into: scan this message in JavaScript
  }
  memory = new Uint8Array(wasm.memory.buffer); // growing detaches the old view
  return true;
}

/**
 * Index of the first non-plain byte of buf[pos, end), or `end`; -1 when `buf` is not
 * the open scope's message (or it cannot be scanned here) and the caller must scan
 * in JavaScript.
 */
export function skipPlain(buf: Buffer, pos: number, end: number): number {
  if (buf !== scope) return -1;
  if (!copied) {
    if (!fits(buf.length)) return -1;
    memory.set(buf, 0);
    copied = true;
  }
  return wasm!.skip(pos, end);
}
