// dump-core of a v2 replication stream read once (a pipe): the checkpoint
// to dump is known only at the end, so what each checkpoint after the
// first sends is held until that checkpoint is complete. --checkpoint K
// works from a pipe as from a file, and one beyond the stream's complete
// checkpoints is refused once the stream has been read. (A real process:
// stdin as a pipe.)
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {runXst, tempDir} from '../helpers/cli.js'
import {rawPagesNotIn} from '../helpers/dump.js'
import {nativeBytes, nativeCases} from '../helpers/fixtures.js'

const remus = nativeCases().find((c) => c.name === 'remus-v2-pv3')!

describe('dump-core --checkpoint from a pipe', () => {
  it("checkpoint 1 of a Remus stream on stdin: the first checkpoint's memory", async () => {
    const core = join(tempDir(), 'core.raw')
    const r = await runXst(['dump-core', '--json', '--format', 'raw', '--checkpoint', '1', '-', core], {input: nativeBytes(remus.input)})
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout).checkpoint).toEqual({kind: 'remus', dumped: 1, complete: remus.checkpoints})
    expect(rawPagesNotIn(readFileSync(core), remus.memory_first_checkpoint!)).toEqual([])
  })

  it('a checkpoint the stream does not complete: exit 2, one line, no core', async () => {
    const dir = tempDir()
    const r = await runXst(['dump-core', '--checkpoint', String(remus.checkpoints! + 1), '-', join(dir, 'core')], {input: nativeBytes(remus.input)})
    expect(r.code).toBe(2)
    expect(r.stderr.trim().split('\n')).toEqual([`xst dump-core: --checkpoint ${remus.checkpoints! + 1}: the stream completes ${remus.checkpoints} checkpoints`])
  })
})
