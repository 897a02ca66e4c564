// Output side: an fd written in order. Small writes are gathered into one
// buffer; large ones (page data) go straight to the kernel, so page bytes
// are never copied between reading and writing.
import * as fs from 'node:fs'
import {outputSystemError} from '../errors.js'

const GATHER = 1 << 20

function writeAsync(fd: number, buf: Uint8Array, off: number, len: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.write(fd, buf, off, len, null, (err, n) => (err ? reject(err) : resolve(n)))
  })
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

export interface ByteSink {
  write(buf: Uint8Array): Promise<void>
  flush(): Promise<void>
  readonly bytesWritten: number
}

export class FdSink implements ByteSink {
  private gather = Buffer.allocUnsafe(GATHER)
  private used = 0
  private written = 0

  constructor(readonly fd: number, readonly name: string) {}

  get bytesWritten(): number {
    return this.written + this.used
  }

  async write(buf: Uint8Array): Promise<void> {
    if (buf.length < GATHER / 4) {
      if (this.used + buf.length > GATHER) await this.flush()
      this.gather.set(buf, this.used)
      this.used += buf.length
      return
    }
    await this.flush()
    await this.writeAll(buf)
  }

  async flush(): Promise<void> {
    if (this.used === 0) return
    const n = this.used
    this.used = 0
    await this.writeAll(this.gather.subarray(0, n))
  }

  private async writeAll(buf: Uint8Array): Promise<void> {
    let off = 0
    while (off < buf.length) {
      let n: number
      try {
        n = await writeAsync(this.fd, buf, off, buf.length - off)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
          await sleep(2)
          continue
        }
        throw outputSystemError(err, this.name)
      }
      off += n
      this.written += n
    }
  }
}

/** Collects everything in memory (tests, small outputs). */
export class MemorySink implements ByteSink {
  private parts: Buffer[] = []
  private n = 0
  get bytesWritten(): number {
    return this.n
  }
  async write(buf: Uint8Array): Promise<void> {
    this.parts.push(Buffer.from(buf))
    this.n += buf.length
  }
  async flush(): Promise<void> {}
  get data(): Buffer {
    return Buffer.concat(this.parts)
  }
}
