// What an input or output argument names: "-" is the standard stream (stdin
// for an input, stdout for an output); where descriptor numbers are accepted
// (--in/--out, as a toolstack passes them: see descriptors.ts) a decimal
// number is that open descriptor; anything else is a path. The one place
// this rule is written.

export type Spec = {kind: 'std'} | {kind: 'fd'; fd: number} | {kind: 'path'; path: string}

export function parseSpec(text: string, opts: {fdNumbers?: boolean} = {}): Spec {
  if (text === '-') return {kind: 'std'}
  if (opts.fdNumbers && /^\d+$/.test(text)) return {kind: 'fd', fd: Number(text)}
  return {kind: 'path', path: text}
}

/**
 * The descriptor "-" stands for: 0 as an input, 1 as an output; except in a
 * test that runs commands in its own process (test/helpers/in-process.ts),
 * which puts pipes of its own there for the length of a run.
 */
export function stdDescriptor(role: 'input' | 'output'): number {
  const swapped = (globalThis as {[STD]?: {input?: number; output?: number}})[STD]?.[role]
  return swapped ?? (role === 'input' ? 0 : 1)
}
const STD = Symbol.for('xst.test.std')

/** How messages name it: "stdin" or "stdout", "fd N", or the path as given. */
export function specName(spec: Spec, role: 'input' | 'output'): string {
  if (spec.kind === 'std') return role === 'input' ? 'stdin' : 'stdout'
  if (spec.kind === 'fd') return `fd ${spec.fd}`
  return spec.path
}

const STD_PATHS = new Map([
  ['/dev/stdin', 0],
  ['/dev/stdout', 1],
  ['/dev/stderr', 2],
])

/**
 * The descriptor an output path stands for by itself: /dev/stdout,
 * /dev/stderr, /dev/fd/N, /proc/self/fd/N (bash's >(cmd) is a /dev/fd/N).
 * Opened by name they lead through /proc to a pipe that cannot be reopened,
 * or to a file to be replaced; written as the descriptor they are, they
 * work as gzip -c > /dev/stdout does.
 */
export function descriptorPath(text: string): number | undefined {
  const std = STD_PATHS.get(text)
  if (std !== undefined) return std
  const m = /^\/(?:dev|proc\/self)\/fd\/(\d{1,9})$/.exec(text)
  return m ? Number(m[1]) : undefined
}

/** An output argument that is the standard output: "-", descriptor 1 (--out 1), or a path naming it (/dev/stdout, /dev/fd/1). */
export function namesStdout(text: string, opts: {fdNumbers?: boolean} = {}): boolean {
  const spec = parseSpec(text, opts)
  return spec.kind === 'std' || (spec.kind === 'fd' && spec.fd === 1) || descriptorPath(text) === 1
}

/** An output path named as gzip's (*.gz), which xst writes uncompressed unless told to compress (convert --gzip). */
export const namedGz = (spec: Spec): boolean => spec.kind === 'path' && /\.gz$/i.test(spec.path)
