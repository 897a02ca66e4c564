// Every --json document xst prints, pinned: each command, on success and on
// failure, for each kind of input, is compared with a reviewed file in
// test/golden/. A change to a field is then a visible diff in review, not a
// silent one (mutating a field of a report used to pass every test).
//
// The documents are taken as a user gets them (the built CLI); the only
// things normalised are the temporary directory the inputs sit in and the
// Xenops record's save time (SOURCE_DATE_EPOCH fixes it). After a deliberate
// change: `UPDATE_GOLDEN=1 npx vitest run test/golden-json.test.ts`, then
// review the diff of test/golden/.
import {existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {gzipSync} from 'node:zlib'
import {describe, expect, it} from 'vitest'
import {JSON_DOCUMENTS, type JsonDocumentKind} from '../src/cli/json-fields.js'
import {containerBytes} from './helpers/containers.js'
import {tempDir} from './helpers/cli.js'
import {runXstInProcess as runXst} from './helpers/in-process.js'
import {schemaErrors} from './helpers/json-schema.js'
import {nativeBytes, ROOT, vectorBytes} from './helpers/fixtures.js'

const GOLDEN = join(ROOT, 'test', 'golden')
const UPDATE = process.env.UPDATE_GOLDEN === '1'

/** An input file of a case: its name in the temp directory, and its bytes. */
type Input = [name: string, bytes: () => Buffer]

interface Case {
  /** Also the golden file's name: test/golden/<name>.json. */
  name: string
  /** The command line; IN, IN2 are the inputs' paths, OUT an output path in the same directory. */
  args: string[]
  inputs: Input[]
  /** Read from stdin instead of a file (`-` in args). */
  stdin?: () => Buffer
  exit: 0 | 1 | 2
}

const legacy = (file: string): Input => [file.replace(/\.gz$/, ''), () => vectorBytes('legacy', file)]
const v2 = (file: string): Input => [file.replace(/\.gz$/, ''), () => vectorBytes('v2', file)]
const native = (file: string): Input => [file.replace(/\.gz$/, ''), () => nativeBytes(file)]
const container = (file: string): Input => [file.replace(/\.gz$/, ''), () => containerBytes(file)]
const junk: Input = ['notes.txt', () => Buffer.from('just some text, nothing like a save image\n'.repeat(20))]

const CASES: Case[] = [
  // inspect-legacy
  {name: 'inspect-legacy-pv-xl', args: ['inspect-legacy', '--json', 'IN'], inputs: [legacy('pv64-xl.legacy.gz')], exit: 0},
  {name: 'inspect-legacy-hvm-physmap', args: ['inspect-legacy', '--json', 'IN'], inputs: [legacy('hvm64-xl-physmap.legacy.gz')], exit: 0},
  {name: 'inspect-legacy-xenserver-legacy', args: ['inspect-legacy', '--json', 'IN'], inputs: [container('xenserver-legacy-hvm32.img.gz')], exit: 0},
  {name: 'inspect-legacy-verbose-pipe', args: ['inspect-legacy', '--json', '--verbose', '-'], inputs: [], stdin: () => vectorBytes('legacy', 'pv32-tw32.legacy.gz'), exit: 0},
  {name: 'inspect-legacy-remus-compressed-cut', args: ['inspect-legacy', '--json', 'IN'], inputs: [native('legacy-remus-pv-compressed-cut.gz')], exit: 0},
  {name: 'inspect-legacy-bad', args: ['inspect-legacy', '--json', 'IN'], inputs: [legacy('bad-duplicate-pfn-in-batch.legacy.gz')], exit: 1},
  {name: 'inspect-legacy-v2', args: ['inspect-legacy', '--json', 'IN'], inputs: [v2('pv3.v2.gz')], exit: 1},
  // verify
  {name: 'verify-libxl-converted', args: ['verify', '--json', 'IN'], inputs: [legacy('pv64-xl.libxl.v2.gz')], exit: 0},
  {name: 'verify-hvm-native-order', args: ['verify', '--json', 'IN'], inputs: [v2('hvm3-native-order.v2.gz')], exit: 0},
  {name: 'verify-optional-record', args: ['verify', '--json', 'IN'], inputs: [v2('optional-rec.v2.gz')], exit: 0},
  {name: 'verify-xl-migrate-capture', args: ['verify', '--json', 'IN'], inputs: [native('xl-migrate-capture-pv3.gz')], exit: 0},
  {name: 'verify-xenserver-vgpu', args: ['verify', '--json', 'IN'], inputs: [native('xs-vgpu-uefi-hvm3.gz')], exit: 0},
  {name: 'verify-remus-cut', args: ['verify', '--json', 'IN'], inputs: [native('remus-v2-hvm3-cut.gz')], exit: 0},
  {name: 'verify-colo', args: ['verify', '--json', 'IN'], inputs: [native('colo-hvm3.gz')], exit: 0},
  {name: 'verify-bad', args: ['verify', '--json', 'IN'], inputs: [v2('bad-hvm-params-count-wrong.v2.gz')], exit: 1},
  {name: 'verify-truncated', args: ['verify', '--json', 'IN'], inputs: [v2('bad-truncated-mid-record.v2.gz')], exit: 1},
  {name: 'verify-legacy', args: ['verify', '--json', 'IN'], inputs: [legacy('pv64-xl.legacy.gz')], exit: 1},
  {name: 'verify-several', args: ['verify', '--json', 'IN', 'IN2'], inputs: [v2('pv2.v2.gz'), v2('bad-pfn-type-5.v2.gz')], exit: 1},
  {name: 'verify-with-unreadable', args: ['verify', '--json', 'IN', 'OUT'], inputs: [v2('pv2.v2.gz')], exit: 2},
  {name: 'verify-verbose', args: ['verify', '--json', '--verbose', 'IN'], inputs: [v2('libxl-pv3.v2.gz')], exit: 0},
  // identify
  {
    name: 'identify-kinds',
    args: ['identify', '--json', 'IN', 'IN2', 'IN3', 'IN4', 'IN5'],
    inputs: [
      legacy('pv64-xl.legacy.gz'),
      native('xl-pvh3-save.gz'),
      native('xs-bios-hvm3.gz'),
      container('libvirt-v1-holding-v2.img.gz'),
      ['web01.save.gz', () => gzipSync(vectorBytes('legacy', 'pv64-xl.legacy.gz'))],
    ],
    exit: 0,
  },
  {name: 'identify-damaged-and-foreign', args: ['identify', '--json', 'IN', 'IN2'], inputs: [container('bad-xenserver-v2-no-end.img.gz'), junk], exit: 1},
  {name: 'identify-with-unreadable', args: ['identify', '--json', 'IN', 'OUT'], inputs: [v2('pv2.v2.gz')], exit: 2},
  // convert
  {name: 'convert-pv-libxl', args: ['convert', '--json', 'IN', 'OUT'], inputs: [legacy('pv64-xl.legacy.gz')], exit: 0},
  {name: 'convert-hvm-libxc', args: ['convert', '--json', '--format', 'libxc', 'IN', 'OUT'], inputs: [legacy('hvm64-xl-physmap.legacy.gz')], exit: 0},
  {name: 'convert-xenserver-legacy', args: ['convert', '--json', 'IN', 'OUT'], inputs: [container('xenserver-legacy-hvm32.img.gz')], exit: 0},
  {name: 'convert-libvirt-repair', args: ['convert', '--json', 'IN', 'OUT'], inputs: [container('libvirt-v1-holding-v2.img.gz')], exit: 0},
  {name: 'convert-checkpointed-cut', args: ['convert', '--json', 'IN', 'OUT'], inputs: [native('remus-v2-hvm3-cut.gz')], exit: 0},
  {name: 'convert-bad', args: ['convert', '--json', 'IN', 'OUT'], inputs: [legacy('bad-unknown-chunk.legacy.gz')], exit: 1},
  {name: 'convert-usage', args: ['convert', '--json', '--format', 'libxc', '--container', 'libvirt', 'IN', 'OUT'], inputs: [legacy('pv64-xl.legacy.gz')], exit: 2},
  // dump-core
  {name: 'dump-core-legacy-pv-elf', args: ['dump-core', '--json', 'IN', 'OUT'], inputs: [legacy('pv64-smp-xsave.legacy.gz')], exit: 0},
  {name: 'dump-core-native-hvm-raw', args: ['dump-core', '--json', '--format', 'raw', 'IN', 'OUT'], inputs: [native('xl-hvm3-save.gz')], exit: 0},
  {name: 'dump-core-native-pv-vmcore', args: ['dump-core', '--json', '--format', 'vmcore', 'IN', 'OUT'], inputs: [native('xl-pv3-save.gz')], exit: 0},
  {name: 'dump-core-xenserver-vgpu', args: ['dump-core', '--json', 'IN', 'OUT'], inputs: [native('xs-vgpu-uefi-hvm3.gz')], exit: 0},
  {name: 'dump-core-bad', args: ['dump-core', '--json', 'IN', 'OUT'], inputs: [v2('bad-pfn-type-5.v2.gz')], exit: 1},
  {name: 'dump-core-foreign', args: ['dump-core', '--json', 'IN', 'OUT'], inputs: [junk], exit: 1},
]

/** The documents (or parts) of a command's output that json-fields.ts declares, with their kind. */
function documents(command: string, doc: Record<string, unknown>): Array<[JsonDocumentKind, Record<string, unknown>]> {
  if ('error' in doc && doc.ok === false && !('images' in doc)) return [['error', doc]]
  if (command === 'identify' || command === 'verify') return (doc.images as Array<Record<string, unknown>>).map((x) => [x.verdict === 'unreadable' ? 'unreadable' : command, x])
  return [[command as JsonDocumentKind, doc]]
}

/** The document with the run's temporary directory written as <tmp>. */
function normalise(stdout: string, dir: string): unknown {
  return JSON.parse(stdout.split(dir).join('<tmp>'))
}

describe.concurrent('--json documents are pinned (test/golden/)', () => {
  it.for(CASES.map((c) => [c.name, c] as const))('%s', async ([name, c], {expect}) => {
    const dir = tempDir('xst-golden-')
    const paths = c.inputs.map(([file, bytes]) => {
      const p = join(dir, file)
      writeFileSync(p, bytes())
      return p
    })
    const args = c.args.map((a) => (a === 'OUT' ? join(dir, 'out') : /^IN\d*$/.test(a) ? paths[a === 'IN' ? 0 : Number(a.slice(2)) - 1] : a))
    const r = await runXst(args, {input: c.stdin?.(), env: {SOURCE_DATE_EPOCH: '1700000000'}})
    expect(r.code, r.stderr).toBe(c.exit)
    const doc = normalise(r.stdout, dir)
    // As printed, it is valid against the command's JSON Schema (src/cli/vocabulary.ts, docs/json-schema/).
    expect(schemaErrors(c.args[0], doc), `${name}: not valid against docs/json-schema/${c.args[0]}.json`).toBe('')
    const file = join(GOLDEN, `${name}.json`)
    if (UPDATE) {
      mkdirSync(GOLDEN, {recursive: true})
      writeFileSync(file, JSON.stringify(doc, null, 2) + '\n')
    }
    expect(existsSync(file), `${file} is missing: UPDATE_GOLDEN=1 writes it`).toBe(true)
    expect(doc).toEqual(JSON.parse(readFileSync(file, 'utf8')))
    // Its fields are the ones src/cli/json-fields.ts declares (the README's tables).
    for (const [kind, part] of documents(c.args[0], doc as Record<string, unknown>)) {
      const declared = JSON_DOCUMENTS[kind].fields as ReadonlyArray<{name: string; optional?: boolean}>
      const keys = Object.keys(part)
      expect(
        keys.filter((k) => !declared.some((d) => d.name === k)),
        `${name}: fields not declared for ${kind}`,
      ).toEqual([])
      expect(
        declared.filter((d) => !d.optional && !keys.includes(d.name)).map((d) => d.name),
        `${name}: declared fields missing`,
      ).toEqual([])
    }
  })

  it('every golden file belongs to a case', () => {
    const names = new Set(CASES.map((c) => `${c.name}.json`))
    expect(readdirSync(GOLDEN).filter((f) => !names.has(f))).toEqual([])
  })
})
