// The optional native addon (native/xst_native.c), when it was built at
// install and XST_NO_NATIVE is not set. Everything it does has a JavaScript
// path: without it, xst is slower through pipes, never different in output.
import {existsSync, readFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import * as os from 'node:os'
import * as path from 'node:path'
import {fileURLToPath} from 'node:url'

export const TRANSFER_SPLICE = 0
export const TRANSFER_COPY = 1

export interface Native {
  /** Move `length` bytes from fdIn (at offIn, or through its own offset when offIn < 0) to fdOut: [bytes, errno]; fewer bytes only at the end of the input. */
  transfer(op: number, fdIn: number, offIn: number, fdOut: number, length: number): Promise<[number, number]>
  /** At least `min` bytes into buf[offset...]: [bytes, errno]; fewer only at the end of the input. */
  read(fd: number, buf: Uint8Array, offset: number, length: number, min: number): Promise<[number, number]>
  /** All of `bufs` (at most 64): [bytes, errno]. */
  write(fd: number, bufs: Uint8Array[]): Promise<[number, number]>
  /** What is there now, without waiting: bytes, 0 at the end of the input, -EAGAIN (nothing yet) or -errno. */
  tryRead(fd: number, buf: Uint8Array, offset: number, length: number): number
  /** What an O_NONBLOCK descriptor takes now (at most 64 buffers): bytes, -EAGAIN or -errno. */
  tryWrite(fd: number, bufs: Uint8Array[]): number
  /** F_SETPIPE_SZ: the new size, or -errno. */
  setPipeSize(fd: number, bytes: number): number
  /** O_NONBLOCK on: 0 or -errno. */
  setNonBlocking(fd: number): number
  /** Every wait of every call, now and later, ends with ECANCELED (before exiting on a signal). */
  cancelAll(): void
}

/** Pipes made this large (F_SETPIPE_SZ) when the addon moves data through them: fewer wake-ups. */
export const PIPE_SIZE = 1 << 20

let loaded: Native | null | undefined
/** Why the addon is not in use, once loadNative() found it is not. */
let notInUse = ''

/** The addon, or undefined (not built, not Linux, or XST_NO_NATIVE set). */
export function loadNative(): Native | undefined {
  if (loaded !== undefined) return loaded ?? undefined
  loaded = null
  if (process.env.XST_NO_NATIVE) notInUse = 'XST_NO_NATIVE is set'
  else if (process.platform !== 'linux') notInUse = `it is for Linux, this is ${process.platform}`
  if (notInUse) return undefined
  // From dist/io/ (tsc) or dist/ (the bundle): the package root is the first with native/.
  let dir = path.dirname(fileURLToPath(import.meta.url))
  const req = createRequire(import.meta.url)
  for (let up = 0; up < 3; up++, dir = path.dirname(dir)) {
    const build = path.join(dir, 'native', 'build')
    try {
      loaded = req(path.join(build, 'Release', 'xst_native.node')) as Native
      break
    } catch (err) {
      if (!existsSync(path.join(dir, 'native'))) continue
      // The install's own line (scripts/build-native.mjs), else what loading said.
      let result = ''
      try {
        result = readFileSync(path.join(build, 'result.txt'), 'utf8').trim()
      } catch {}
      const code = (err as NodeJS.ErrnoException).code
      notInUse = result.startsWith('native addon not built')
        ? result.replace(/^native addon /, '').replace(/; xst works without it.*$/, '')
        : code === 'MODULE_NOT_FOUND'
          ? 'not built at install'
          : `it does not load: ${String((err as Error).message).split('\n')[0]}`
      break
    }
  }
  if (!loaded && !notInUse) notInUse = 'not built at install'
  return loaded ?? undefined
}

/** For `xst --version`: whether the addon is in use and, if not, why. */
export function nativeStatus(): string {
  return loadNative() ? 'native I/O addon in use' : `native I/O addon not in use: ${notInUse}; xst uses its JavaScript I/O`
}

/** Ends every wait of the addon, if it was loaded (before exiting on a signal). */
export function cancelNative(): void {
  if (loaded) loaded.cancelAll()
}

/** The Node-style error for an errno the addon returned. */
export function errnoError(errno: number, syscall: string): NodeJS.ErrnoException {
  const code = Object.entries(os.constants.errno).find(([, n]) => n === errno)?.[0] ?? `E${errno}`
  const e: NodeJS.ErrnoException = new Error(`${code}: ${syscall} failed (errno ${errno})`)
  e.code = code
  e.errno = -errno
  e.syscall = syscall
  return e
}
