// Every signal whose default action would end xst is handled as Ctrl-C is:
// a conversion under way removes its temporary file, says so in one line
// and exits with 128 + the signal's number. (A real process: signals are
// the point.)
import {spawn} from 'node:child_process'
import {existsSync, readdirSync} from 'node:fs'
import {constants} from 'node:os'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {BIN, tempDir} from '../helpers/cli.js'
import {vectorBytes} from '../helpers/fixtures.js'

/** Resolves once `dir` holds the conversion's temporary file (polled: a directory has no event to wait on here). */
async function partialAppears(dir: string, child: {exitCode: number | null}): Promise<boolean> {
  for (;;) {
    if (readdirSync(dir).some((f) => f.endsWith('.xst-partial'))) return true
    if (child.exitCode !== null) return false
    await new Promise((r) => setImmediate(r))
  }
}

describe('signals during a conversion', () => {
  it.each(['SIGQUIT', 'SIGUSR2', 'SIGALRM', 'SIGXCPU', 'SIGHUP'] as const)('%s: the partial output is removed, one line says so, exit 128 + its number', async (signal) => {
    const dir = tempDir()
    const out = join(dir, 'out.v2')
    const image = vectorBytes('legacy', 'pv64-multipass.legacy.gz')
    const child = spawn(process.execPath, [BIN, 'convert', '-', out], {stdio: ['pipe', 'pipe', 'pipe']})
    let stderr = ''
    child.stderr.on('data', (d) => (stderr += d))
    child.stdin.on('error', () => {})
    const closed = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (code, sig) => resolve([code, sig])))
    // Half the image: the conversion is under way and waits for the rest.
    child.stdin.write(image.subarray(0, image.length >> 1))
    expect(await partialAppears(dir, child)).toBe(true)
    child.kill(signal)
    expect(await closed).toEqual([128 + constants.signals[signal], null])
    expect(stderr.trim().split('\n')).toEqual([`xst convert: interrupted by ${signal}; ${out} was not written`])
    expect(readdirSync(dir)).toEqual([])
    expect(existsSync(out)).toBe(false)
  })
})
