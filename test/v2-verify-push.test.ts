// The verifier as `convert` uses it: shown every record as V2Writer writes
// it, with no reading back. Every legacy conformance image, converted to both
// formats, is checked this way and agrees with reading the output back.
import {describe, expect, it} from 'vitest'
import {convertLegacy} from '../src/convert/convert.js'
import {ByteReader} from '../src/io/reader.js'
import {MemorySink} from '../src/io/sink.js'
import {BufferSource} from '../src/io/source.js'
import {V2Verifier} from '../src/v2/verify/verifier.js'
import {legacyVectors, vectorBytes} from './helpers/fixtures.js'
import {verifyBytes} from './builders/v2.js'

describe('verifying a conversion as it is written', () => {
  for (const v of legacyVectors().filter((x) => x.valid)) {
    for (const format of ['libxc', 'libxl'] as const) {
      it(`${v.name} -> ${format}`, async () => {
        const verifier = new V2Verifier()
        const sink = new MemorySink()
        const reader = new ByteReader(new BufferSource(vectorBytes('legacy', v.input)))
        await convertLegacy(reader, sink, {format, observer: verifier})
        const pushed = verifier.finish(sink.bytesWritten)
        expect(pushed.errors).toEqual([])
        expect(pushed.valid).toBe(true)
        // Reading the output back finds the same stream, xl header flags
        // included: a libxl output's header has STREAMv2 set.
        const read = await verifyBytes(sink.data)
        expect(read.errors).toEqual([])
        expect(pushed.summary).toEqual(read.summary)
        if (v.xl_header) expect(pushed.summary.xlHeader?.flags.includes('stream-v2')).toBe(format === 'libxl')
        else expect(pushed.summary.xlHeader).toBeNull()
      })
    }
  }
})
