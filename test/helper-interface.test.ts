// `xst convert` run exactly as Xen's toolstacks run their conversion helper:
// libxl (LIBXL_CONVERT_HELPER) and XenServer's xenopsd hand it descriptors by
// number, with the input's offset already past what they read themselves,
// and go on using the input descriptor afterwards.
import {spawn} from 'node:child_process'
import {closeSync, openSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {BIN, runXst, tempDir} from './helpers/cli.js'

describe('helper interface: descriptor numbers the caller did not pass', () => {
  // Node opens its own descriptors (epoll, eventfd, wake-up pipes) at the
  // lowest free numbers, so with only 0-2 passed, 3 and 4 are Node's (3 an
  // epoll instance, 4 a wake-up pipe) and 5+ are Node's or closed. Using them
  // aborted Node (SIGABRT) or hung; each must be refused up front.
  for (const args of [
    ['--in', '3', '--out', '/dev/null'],
    ['--in', '4', '--out', '/dev/null'],
    ['--in', '5', '--out', '6'],
    ['--in', '0', '--out', '6'],
    ['--in', '0', '--out', '3'],
    ['--in', '250', '--out', '1'],
  ]) {
    it(`convert ${args.join(' ')} exits 2 naming the descriptor`, async () => {
      const r = await runXst(['convert', ...args, '--width', '64', '--guest', 'pv'], {stdio: ['ignore', 'pipe', 'pipe']})
      const bad = args[1] === '0' ? args[3] : args[1]
      expect(r.signal).toBeNull()
      expect(r.code).toBe(2)
      expect(r.stderr).toBe(`xst convert: descriptor ${bad} is not open\n`)
      expect(r.stdout).toBe('')
    })
  }

  it('--in 3 is used when the caller passed descriptor 3 (but 5, not passed, is still refused)', async () => {
    const dir = tempDir()
    const inFd = openSync('/dev/null', 'r')
    try {
      const r = await runXst(['convert', '--in', '3', '--out', '5', '--width', '64', '--guest', 'pv'], {stdio: ['ignore', 'pipe', 'pipe', inFd]})
      expect(r.code).toBe(2)
      expect(r.stderr).toBe('xst convert: descriptor 5 is not open\n')
      // Descriptor 3 itself was accepted: an empty input is a bad image (exit 1), not a usage error.
      const r2 = await runXst(['convert', '--in', '3', '--out', join(dir, 'out'), '--width', '64', '--guest', 'pv'], {stdio: ['ignore', 'pipe', 'pipe', inFd]})
      expect(r2.code).toBe(1)
      expect(r2.stderr).toMatch(/stream ends at byte 0/)
    } finally {
      closeSync(inFd)
    }
  })

  it('two read ends of one caller pipe (3<&0) are the caller\'s, not Node\'s', async () => {
    const out = join(tempDir(), 'out')
    const r = await new Promise<{code: number | null; stderr: string}>((resolve) => {
      const child = spawn('sh', ['-c', `"${process.execPath}" "${BIN}" convert --in 3 --out "${out}" --width 64 --guest pv 3<&0`], {stdio: ['pipe', 'ignore', 'pipe']})
      let stderr = ''
      child.stderr.on('data', (d) => (stderr += d))
      child.stdin.end()
      child.on('close', (code) => resolve({code, stderr}))
    })
    // An empty pipe is a bad image (exit 1): the descriptor was used.
    expect(r.stderr).toMatch(/stream ends at byte 0/)
    expect(r.code).toBe(1)
  })
})
