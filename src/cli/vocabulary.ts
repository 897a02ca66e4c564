// One vocabulary for every --json document, declared once, as JSON Schema
// (draft 2020-12, plain objects): the shapes the commands share (`input`,
// `container`, `stream`, `guest`, `pages`, `vcpus`, `error`, `foreign`, `warnings`,
// `problem`, `restore`) and, built from them, one schema per command's
// document. scripts/json-schema.mjs publishes them as docs/json-schema/*.json
// (test/json-schema.test.ts fails when the files and this module differ),
// and the tests validate every document a command prints against its
// schema (test/golden/*.json and live runs). The prose for each top-level
// field is in json-fields.ts (docs/json.md's tables); a field's name and
// shape are here.
//
// A shared shape means the same thing under the same name in every command:
// `input.bytes` is always the decompressed length of the input, `input.size`
// always its length as given; `guest` always "pv", "hvm" or "pvh"; `pages.count`
// always how many pfns; `vcpus` always `{count, ids}`; `error` always the
// seven keys of ErrorJson (src/errors.ts), and partialOutput or foreign
// where an error has them.
//
// Every object is declared with its properties and closed
// (additionalProperties: false) where its keys are fixed; a map keyed by
// names (`counts`: record type -> count) says what its values are. The one
// open shape is the shared `pages`, a base each use closes (pagesWith) with
// the command's own counts. test/json-schema.test.ts holds the published
// schemas to this.

/** A JSON Schema, as a plain object. */
export type Schema = {readonly [key: string]: unknown}

export const SCHEMA_DIALECT = 'https://json-schema.org/draft/2020-12/schema'
/** Where the published schemas live, relative to the repository: $id's base. */
export const SCHEMA_BASE = 'https://github.com/xst-project/xst/blob/main/docs/json-schema/'

const ref = (name: string): Schema => ({$ref: `#/$defs/${name}`})
const nullable = (s: Schema): Schema => ({anyOf: [s, {type: 'null'}]})
const int: Schema = {type: 'integer'}
const count: Schema = {type: 'integer', minimum: 0}
const str: Schema = {type: 'string'}
const bool: Schema = {type: 'boolean'}
const intOrNull: Schema = {type: ['integer', 'null']}
const strOrNull: Schema = {type: ['string', 'null']}
const strings: Schema = {type: 'array', items: str}
const counts: Schema = {type: 'object', additionalProperties: count}
/** An object with these fields, all of them there; `more`: other fields allowed. */
const obj = (properties: Record<string, Schema>, more = false, optional: string[] = []): Schema => ({
  type: 'object',
  required: Object.keys(properties).filter((k) => !optional.includes(k)),
  properties,
  additionalProperties: more,
})
const width: Schema = {enum: [32, 64, null]}
/** A 64-bit address or offset, as 0x-prefixed hex (a JSON number cannot hold every one). */
const hexAddress: Schema = {type: 'string', pattern: '^0x[0-9a-f]{1,16}$'}
const kernelSource: Schema = {enum: ['vmcoreinfo', 'page-tables', null]}
/** A number shown as 0x-prefixed hex (an HVM param's value, a physmap address). */
const hex: Schema = {type: 'string', pattern: '^0x[0-9a-f]+$'}
const countOrNull: Schema = {type: ['integer', 'null'], minimum: 0}
const byteOrder: Schema = {enum: ['little', 'big', null]}
/** The shared `pages`, with the command's own counts beside count and withData (and no others). */
const pagesWith = (more: Record<string, Schema>): Schema => ({...ref('pages'), ...obj({count, withData: count, ...more})})
/** Where a checkpointed stream is cut: in which checkpoint, where that starts, where the stream ends. */
const checkpointCut: Schema = obj({checkpoint: count, start: count, at: count})
const replication: Schema = {enum: ['remus', 'colo']}

/** The shapes every command shares, under these names in each schema's $defs. */
export const SHARED: Record<string, Schema> = {
  guest: {description: 'the guest type: "pvh" only where an xl config says so (the stream calls a PVH guest HVM)', enum: ['pv', 'hvm', 'pvh']},
  warnings: {description: 'warnings about the input, as sentences', type: 'array', items: str},
  error: {
    description:
      'an error, the same keys for every error of every command (null where not known); some errors add keys: partialOutput (bytes of the output already written), foreign (what a file that is not a Xen image is)',
    ...obj(
      {
        code: {description: 'the stable code (docs/error-codes.md)', type: 'string'},
        message: str,
        offset: {description: 'the byte, in the decompressed input, where the defect is', type: ['integer', 'null']},
        index: {description: 'the chunk (legacy) or record (v2) index', type: ['integer', 'null']},
        context: {description: 'what was being read', type: ['string', 'null']},
        expected: strOrNull,
        got: strOrNull,
        partialOutput: obj({output: str, bytes: count}),
        foreign: ref('foreign'),
      },
      false,
      ['partialOutput', 'foreign'],
    ),
  },
  foreign: {
    description: 'a file that is not a Xen save image but of a format xst knows: its kind, a label, advice, and the facts its header gives (one of libvirtQemu, qemuDeviceState, elf)',
    ...obj(
      {
        kind: {enum: ['libvirt-qemu-save', 'qemu-device-state', 'xen-dump-core', 'elf-core', 'elf']},
        label: str,
        advice: str,
        libvirtQemu: obj({
          complete: bool,
          version: countOrNull,
          byteOrder: byteOrder,
          formatCode: countOrNull,
          memoryFormat: strOrNull,
          wasRunning: {type: ['boolean', 'null']},
          dataLength: countOrNull,
          cookie: {type: ['boolean', 'null']},
          domainName: strOrNull,
        }),
        qemuDeviceState: obj({version: count}),
        elf: obj({
          class: width,
          byteOrder: byteOrder,
          type: {enum: ['relocatable', 'executable', 'shared', 'core', 'other']},
          typeCode: countOrNull,
          machine: countOrNull,
          notes: strings,
          sections: nullable(strings),
          producer: {enum: ['xen-dump-core', 'qemu', 'xen-host', 'linux-kernel', null]},
          xen: nullable(
            obj({
              guest: {enum: ['pv', 'hvm', null]},
              vcpus: countOrNull,
              pages: countOrNull,
              pageSize: countOrNull,
              formatVersion: strOrNull,
              xenVersion: strOrNull,
            }),
          ),
        }),
      },
      false,
      ['libvirtQemu', 'qemuDeviceState', 'elf'],
    ),
  },
  problem: {
    description: 'a problem verify found: an error (the restorer refuses the stream) or a warning (it reads past it)',
    ...obj({
      severity: {enum: ['error', 'warning']},
      code: str,
      message: str,
      offset: intOrNull,
      layer: strOrNull,
      index: intOrNull,
      record: strOrNull,
    }),
  },
  container: {
    description: 'the container around the stream: kind, label, whether gzip-compressed, then what its headers say',
    ...obj(
      {
        kind: {enum: ['none', 'libvirt', 'xenserver-legacy', 'xenserver-structured', 'xend']},
        label: str,
        compressed: bool,
        libvirt: obj({version: count, claims: {enum: ['legacy', 'libxl']}, xmlLength: count, domainName: strOrNull, emulator: strOrNull}),
        xend: obj({configLength: count, domainName: strOrNull, memoryMiB: countOrNull, vcpus: countOrNull, imageKind: strOrNull}),
        xenops: obj({
          time: str,
          wordSize: count,
          vmStrLength: countOrNull,
          xsSubtreeEntries: countOrNull,
          unknownFields: strings,
          vmName: strOrNull,
          vmUuid: strOrNull,
        }),
        sections: {type: 'array', items: obj({name: str, offset: count, length: countOrNull})},
        stoppedAt: obj({section: str, offset: count}),
        afterEnd: count,
      },
      false,
      ['libvirt', 'xend', 'xenops', 'sections', 'stoppedAt', 'afterEnd'],
    ),
  },
  input: {
    description: 'the input: `path` as given (`-` for stdin), `size` its length as given (compressed, when gzip; null for a pipe), `bytes` its length decompressed (null when not read to the end)',
    ...obj({path: str, size: intOrNull, bytes: intOrNull}),
  },
  pages: {
    description: 'page counts: `count` pfns, `withData` of them with a page of data; other counts as the command has them',
    ...obj({count, withData: count}, true),
  },
  vcpus: {description: 'the vcpus: how many, and their ids', ...obj({count, ids: {type: 'array', items: count}})},
  restore: {
    description: 'will it restore: what restores it, the Xen releases whose restorer reads it, what the restore needs, who refuses it and why, what the image does not tell',
    ...obj({
      by: strings,
      releases: str,
      needs: strings,
      refusedBy: {type: 'array', items: obj({host: str, why: str, current: bool}, false, ['current'])},
      unknown: {type: 'array', items: obj({what: str, why: str})},
    }),
  },
}

/** Any command that fails (exit 1 or 2). */
const failure = obj({ok: {const: false}, error: ref('error'), warnings: ref('warnings')})

const verifySummary = obj({
  format: {enum: ['libxc', 'libxl', null]},
  xlHeader: nullable(
    obj({
      flags: strings,
      optionalDataLength: count,
      domainName: strOrNull,
      config: nullable(obj({deviceModel: {description: 'the device model the xl config asks for, or null when it does not say', enum: ['qemu-xen-traditional', 'qemu-xen', null]}})),
    }),
  ),
  version: obj({libxl: intOrNull, libxc: intOrNull}),
  legacyConverted: {type: ['boolean', 'null']},
  guest: nullable(ref('guest')),
  guestWidth: width,
  pagetableLevels: intOrNull,
  xenVersion: nullable(obj({major: int, minor: int})),
  records: obj({libxl: counts, libxc: counts}),
  pages: pagesWith({byType: counts}),
  vcpus: ref('vcpus'),
  p2mEndPfn: intOrNull,
  emulator: {
    description: 'the EMULATOR_* records: how many device-model contexts and their bytes, xenstore keys, the emulator id of the first context (null before one)',
    ...obj({contexts: count, contextBytes: count, xenstoreKeys: count, firstId: intOrNull}),
  },
  checkpoints: nullable(
    obj({
      kind: replication,
      complete: count,
      lastEnd: countOrNull,
      cut: nullable(checkpointCut),
      list: {type: 'array', items: obj({index: count, start: count, end: count, pfns: count, withData: count, records: count})},
    }),
  ),
  tail: nullable({description: 'bytes after the stream: what they are, how many', ...obj({kind: str, bytes: count})}),
  bytes: count,
})

/** A verify report: its verdict, problems and summary (also convert's `verify`). */
const verifyReport = {
  valid: bool,
  errors: {type: 'array', items: ref('problem')},
  warnings: {type: 'array', items: ref('problem')},
  stopped: {enum: [null, 'max-errors', 'fatal', 'big-endian']},
  summary: verifySummary,
}

const verifyImage = obj({
  ok: bool,
  input: ref('input'),
  verdict: {enum: ['valid', 'invalid']},
  ...verifyReport,
  errorCount: count,
  warningCount: count,
  container: nullable(ref('container')),
  restore: nullable(ref('restore')),
})

const identifyImage = obj({
  input: ref('input'),
  container: nullable(ref('container')),
  foreign: nullable(ref('foreign')),
  xlHeader: bool,
  stream: nullable(
    obj(
      {
        format: {enum: ['legacy', 'libxc', 'libxl']},
        libxcVersion: intOrNull,
        libxlVersion: intOrNull,
        checkpointed: nullable(obj({kind: replication, complete: count})),
      },
      false,
      ['checkpointed'],
    ),
  ),
  guest: nullable(ref('guest')),
  guestWidth: width,
  toolstackWidth: width,
  domainName: strOrNull,
  verdict: {enum: ['needs conversion', 'v2, restorable', 'v2 stream, not verified', 'damaged', 'not a Xen image', 'directory', 'broken symlink']},
  restore: ref('restore'),
  note: strOrNull,
  error: nullable(ref('error')),
})

/** One schema per command: its document on success, or the failure document. */
const DOCUMENTS: Record<string, {title: string; document: Schema}> = {
  identify: {
    title: 'xst identify --json',
    document: obj({
      ok: bool,
      images: {
        type: 'array',
        items: {anyOf: [identifyImage, obj({input: ref('input'), verdict: {const: 'unreadable'}, error: ref('error')})]},
      },
    }),
  },
  'inspect-legacy': {
    title: 'xst inspect-legacy --json',
    document: obj(
      {
        ok: {const: true},
        container: ref('container'),
        input: ref('input'),
        xlHeader: nullable(
          obj({
            mandatoryFlags: count,
            optionalFlags: count,
            flags: strings,
            optionalDataLength: count,
            config: nullable(obj({format: {enum: ['json', 'xl']}, length: count, domainName: strOrNull})),
          }),
        ),
        image: obj({
          offset: count,
          guest: {enum: ['pv', 'hvm']},
          guestWidth: width,
          pagetableLevels: {enum: [3, 4, null]},
          toolstackWidth: {enum: [32, 64]},
          detected: obj({toolstackWidth: bool, guest: bool}),
          p2mSize: count,
        }),
        extendedInfo: nullable(
          obj({
            offset: count,
            totalLength: count,
            blocks: {type: 'array', items: obj({id: str, offset: count, size: count})},
            extendedContext: bool,
            xsaveLength: countOrNull,
          }),
        ),
        p2mFrames: nullable(obj({offset: count, count})),
        body: obj({
          chunks: count,
          pageBatches: count,
          emptyBatches: count,
          pages: pagesWith({dropped: count, byType: counts}),
          pfnRange: nullable(obj({first: count, last: count})),
          passes: count,
          pagesResent: count,
          verifyMode: bool,
          chunkCounts: counts,
          vcpuInfo: nullable(obj({maxVcpuId: count, online: {type: 'array', items: count}})),
          tsc: nullable(obj({mode: count, nsec: {description: 'a 64-bit count, in decimal', type: 'string', pattern: '^[0-9]+$'}, khz: count, incarnation: count})),
          hvmParams: {type: 'array', items: obj({param: count, name: str, value: hex})},
          toolstack: nullable(obj({length: count, physmap: {type: 'array', items: obj({physOffset: hex, startAddr: hex, size: hex, name: str})}})),
          notConvertible: strings,
        }),
        tail: {
          anyOf: [
            obj({
              kind: {const: 'pv'},
              offset: count,
              unmappedPfns: count,
              vcpus: {type: 'array', items: obj({id: count, parts: strings, bytes: count})},
              sharedInfoOffset: countOrNull,
            }),
            obj({
              kind: {const: 'hvm'},
              offset: count,
              magicPfns: nullable(obj({ioreq: hex, bufioreq: hex, store: hex})),
              hvmContext: nullable(obj({offset: count, length: count})),
              qemu: nullable(obj({offset: count, signature: str, length: countOrNull})),
              qemuAbsent: {enum: ['eof', 'skipped', null]},
            }),
          ],
        },
        checkpoints: nullable(
          obj({
            kind: {const: 'remus'},
            complete: count,
            compressed: bool,
            cut: nullable(checkpointCut),
            list: {
              type: 'array',
              items: obj({
                index: count,
                start: count,
                end: countOrNull,
                pageBatches: count,
                pages: count,
                withData: count,
                compressedPages: nullable(obj({unchanged: count, whole: count, runs: count, bytes: count})),
                tailOffset: countOrNull,
                vcpus: count,
              }),
            },
          }),
        ),
        trailing: nullable(obj({offset: count, length: count})),
        warnings: ref('warnings'),
        chunks: {type: 'array', items: obj({index: intOrNull, offset: count, what: str, size: intOrNull, detail: str})},
      },
      false,
      ['chunks'],
    ),
  },
  verify: {
    title: 'xst verify --json',
    document: obj({
      ok: bool,
      images: {
        type: 'array',
        items: {anyOf: [verifyImage, obj({ok: {const: false}, input: ref('input'), verdict: {const: 'unreadable'}, error: ref('error')})]},
      },
    }),
  },
  convert: {
    title: 'xst convert --json',
    document: obj({
      ok: {const: true},
      input: obj({path: str, size: intOrNull, bytes: count, guest: ref('guest'), toolstackWidth: width, xlHeader: bool, domainName: strOrNull}),
      container: ref('container'),
      output: obj({path: str, format: {enum: ['libxc', 'libxl']}, libxcVersion: int, bytes: count, container: str, written: count, gzip: bool}),
      records: obj({libxc: counts, libxl: counts}),
      pages: pagesWith({dropped: count, batches: count}),
      vcpus: ref('vcpus'),
      qemu: nullable(obj({signature: str, bytes: count})),
      checkpoint: nullable(obj({kind: {enum: ['remus', 'colo']}, written: count, complete: count})),
      warnings: ref('warnings'),
      notes: strings,
      restore: nullable(obj({before: ref('restore'), after: ref('restore')})),
      verify: nullable(obj(verifyReport)),
    }),
  },
  'dump-core': {
    title: 'xst dump-core --json',
    document: obj({
      ok: {const: true},
      input: obj({
        path: str,
        size: intOrNull,
        bytes: count,
        guest: ref('guest'),
        guestWidth: width,
        xlHeader: bool,
        domainName: strOrNull,
      }),
      container: ref('container'),
      stream: obj({format: {enum: ['legacy', 'libxc', 'libxl']}, libxcVersion: intOrNull, libxlVersion: intOrNull}),
      output: obj({
        path: str,
        format: {enum: ['elf', 'vmcore', 'raw']},
        bytes: count,
        written: count,
        sections: nullable({type: 'array', items: obj({name: str, type: count, offset: count, size: count, addralign: count, entsize: count})}),
        segments: {type: ['integer', 'null'], minimum: 0},
        notes: nullable({type: 'array', items: obj({name: str, type: count, bytes: count})}),
      }),
      kernel: obj({
        release: strOrNull,
        kaslrOffset: nullable(hexAddress),
        physBase: nullable(hexAddress),
        from: obj({kaslrOffset: kernelSource, physBase: kernelSource}),
        vmcoreinfo: nullable(obj({pfn: count, offset: count, bytes: count})),
        pageTables: nullable(obj({vcpu: count, kaslrOffset: hexAddress, physBase: hexAddress})),
        problem: strOrNull,
        crashOptions: strings,
        crashFile: {enum: ['{core}', '{core}@0x0']},
      }),
      pages: obj({count, copies: count, pfnRange: nullable(obj({first: count, last: count}))}),
      vcpus: ref('vcpus'),
      xenVersion: nullable(obj({major: int, minor: int})),
      method: {enum: ['positional', 'windows', 'spool']},
      passes: count,
      checkpoint: nullable(obj({kind: {enum: ['remus', 'colo']}, dumped: count, complete: count})),
      p2m: nullable(obj({pages: count, rewritten: bool})),
      warnings: ref('warnings'),
    }),
  },
}

export const SCHEMA_COMMANDS = Object.keys(DOCUMENTS)

/** The published schema of a command's --json output (docs/json-schema/<command>.json): its document, or the failure document. */
export function commandSchema(command: string): Schema {
  const d = DOCUMENTS[command]
  if (!d) throw new Error(`no JSON schema for ${command}`)
  return {
    $schema: SCHEMA_DIALECT,
    $id: `${SCHEMA_BASE}${command}.json`,
    title: d.title,
    description: `What \`xst ${command} --json\` prints: its document (exit 0; for identify and verify also exit 1 or 2, each image with its verdict), or, when the command fails, {ok: false, error, warnings}. Generated from src/cli/vocabulary.ts by scripts/json-schema.mjs.`,
    anyOf: [ref('document'), ref('failure')],
    $defs: {...SHARED, document: d.document, failure},
  }
}
