// dump-core --checkpoint K needs to read the input twice (a pass to find the
// checkpoints, then the dump up to the one chosen): from a pipe it is a
// usage error, said before the rest of the stream is read. (A real process:
// the command stops reading a pipe the test still writes to.)
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {runXst, tempDir} from '../helpers/cli.js'
import {nativeBytes} from '../helpers/fixtures.js'

describe('dump-core --checkpoint from a pipe', () => {
  it('is refused in one line, exit 2: the input cannot be read twice', async () => {
    const r = await runXst(['dump-core', '--checkpoint', '1', '-', join(tempDir(), 'core')], {input: nativeBytes('remus-v2-pv3.gz')})
    expect(r.code).toBe(2)
    expect(r.stderr.trim().split('\n')).toEqual(['xst dump-core: --checkpoint: the input cannot be read twice (a pipe or gzip); give the file itself'])
  })
})
