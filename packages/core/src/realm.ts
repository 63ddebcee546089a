// Checks that hold across JavaScript realms. Next.js runs Edge routes in a separate context,
// where a Promise, Uint8Array or ArrayBuffer is not an instance of this realm's constructors.

export function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as PromiseLike<T>).then === 'function'
}

export function isArrayBuffer(value: unknown): value is ArrayBuffer {
  return Object.prototype.toString.call(value) === '[object ArrayBuffer]'
}

/** Body bytes as a Uint8Array, from any typed array, DataView or ArrayBuffer of any realm. */
export function toUint8Array(value: unknown): Uint8Array | undefined {
  if (value instanceof Uint8Array) return value
  if (isArrayBuffer(value)) return new Uint8Array(value)
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
  return undefined
}

/** A value, or a promise of it: what the pipeline's steps return, synchronous where they can be. */
export type MaybePromise<T> = T | Promise<T>
