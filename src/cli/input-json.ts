// The vocabulary's `input` (src/cli/vocabulary.ts) as the commands make it:
// small, apart from the schemas, since every command loads it.

/** The vocabulary's `input`, as the commands make it. */
export type InputJson = {
  /** As given; "stdin" for `-`. */
  path: string
  /** Its length as given (compressed, when gzip); null for a pipe. */
  size: number | null
  /** Its length decompressed; null when not known (a pipe, or gzip not read to its end). */
  bytes: number | null
}

/** The input's length decompressed, when the command did not read it to its end: a file's size unless it is gzip-compressed. */
export const knownBytes = (size: number | null, compressed: boolean | undefined): number | null => (compressed === false ? size : null)
