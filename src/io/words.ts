// Little-endian u32 words over bytes read or written, for the per-pfn loops
// (page batch pfn lists, PAGE_DATA pfn words): a Uint32Array view is read
// and written without a call per word. Save images are little-endian; on a
// big-endian host the words are swapped in place after reading and before
// writing.

export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

/** Make the first `n` words hold the little-endian values of their bytes (after reading; a no-op on little-endian hosts). */
export function wordsFromLE(words: Uint32Array, n: number): void {
  if (LITTLE_ENDIAN) return
  for (let i = 0; i < n; i++) {
    const w = words[i]
    words[i] = ((w & 0xff) << 24) | ((w & 0xff00) << 8) | ((w >>> 8) & 0xff00) | (w >>> 24)
  }
}

/** Make the bytes of the first `n` words little-endian (before writing; a no-op on little-endian hosts). */
export const wordsToLE = wordsFromLE

/**
 * The `n` little-endian u32 words at byte `offset` of `buf`, for reading: a
 * view of `buf` when the offset is 4-byte aligned on a little-endian host,
 * else a copy (swapped on a big-endian host).
 */
export function u32Words(buf: Uint8Array, offset: number, n: number): Uint32Array {
  const at = buf.byteOffset + offset
  if (LITTLE_ENDIAN && at % 4 === 0) return new Uint32Array(buf.buffer, at, n)
  const copy = new Uint32Array(n)
  new Uint8Array(copy.buffer).set(buf.subarray(offset, offset + n * 4))
  wordsFromLE(copy, n)
  return copy
}
