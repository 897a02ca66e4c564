// The top-level fields of every --json document, declared once: the tables
// of them in docs/json.md are written from here (scripts/error-codes-readme.mjs) and
// the tests hold every document to them (test/golden-json.test.ts), so a
// field cannot be added, dropped or renamed without both showing it.
// Their names and shapes are the vocabulary of src/cli/vocabulary.ts (the
// JSON Schemas in docs/json-schema/); this file gives their prose.
// Scripts read these names: add fields; a rename goes in CHANGELOG.md.

export interface JsonField {
  readonly name: string
  readonly meaning: string
  /** Present only sometimes (a flag asks for it). */
  readonly optional?: boolean
}

const f = (name: string, meaning: string, optional = false): JsonField => ({name, meaning, ...(optional && {optional})})

const OK = f('ok', '`true` when the command succeeded (for `verify`: the stream is valid), `false` otherwise')
const WARNINGS = f('warnings', 'warnings about the input, as strings (`verify`: problem objects); in text mode they go to stderr')

export const JSON_DOCUMENTS = {
  error: {
    title: 'Any command that fails (exit 1 or 2)',
    fields: [
      OK,
      f(
        'error',
        '`{code, message, offset, index, context, expected, got}`, the same keys for every error of every command (usage errors too): the stable `code` (see [Error codes](#error-codes)) and where the defect is; fields not known are `null`',
      ),
      WARNINGS,
    ],
  },
  unreadable: {
    title: 'An image `identify` or `verify` cannot read (no such file, a directory it was not told of, permission denied): its entry in `images`',
    fields: [
      f('ok', "`false`; `verify`'s entries have it, `identify`'s do not", true),
      f('input', '`{path, size: null, bytes: null}`: the path as given'),
      f('verdict', '`"unreadable"`'),
      f('error', "the error, as the failure document's"),
    ],
  },
  'inspect-legacy': {
    title: '`xst inspect-legacy --json`',
    fields: [
      OK,
      f('container', 'the container summary every command reports: `kind`, `label`, `compressed`, and what the libvirt header, xend config, Xenops record and sections say'),
      f('input', '`{path, size, bytes}`: the path as given (`stdin` for `-`), its length as given (compressed, when gzip; `null` for a pipe), how many bytes the image has, decompressed'),
      f('xlHeader', '`null`, or `{mandatoryFlags, optionalFlags, flags[], optionalDataLength, config: {format: "json"|"xl", length, domainName}}`'),
      f('image', '`{offset, guest: "pv"|"hvm", guestWidth: 32|64|null, pagetableLevels, toolstackWidth: 32|64, detected: {toolstackWidth, guest}, p2mSize}` (`detected` false means given by a flag)'),
      f('extendedInfo', 'PV: `{offset, totalLength, blocks: [{id, offset, size}], extendedContext, xsaveLength}`; HVM: `null`'),
      f('p2mFrames', 'PV: `{offset, count}`; HVM: `null`'),
      f(
        'body',
        '`{chunks, pageBatches, emptyBatches, pages: {count, withData, dropped, byType}, pfnRange: {first, last}, passes, pagesResent, verifyMode, chunkCounts, vcpuInfo: {maxVcpuId, online[]}, tsc, hvmParams: [{param, name, value}], toolstack: {length, physmap: [...]}, notConvertible[]}`',
      ),
      f(
        'tail',
        'PV: `{kind: "pv", offset, unmappedPfns, vcpus: [{id, parts[], bytes}], sharedInfoOffset}`; HVM: `{kind: "hvm", offset, magicPfns, hvmContext: {offset, length}, qemu: {offset, signature, length}, qemuAbsent}`',
      ),
      f(
        'checkpoints',
        '`null` unless a Remus checkpoint follows the image (`body` and `tail` are then the first checkpoint\'s); else `{kind: "remus", complete, compressed, cut: {checkpoint, start, at}|null, list: [{index, start, end, pageBatches, pages, withData, compressedPages: {unchanged, whole, runs, bytes}|null, tailOffset, vcpus}]}`',
      ),
      f('trailing', '`null` or `{offset, length}` of bytes after the image'),
      WARNINGS,
      f('chunks', '`[{index, offset, what, size, detail}]`, one per chunk', true),
    ],
  },
  verify: {
    title: '`xst verify --json` (`{ok, images: [...]}`, one of these each; a file that cannot be read: the unreadable entry above)',
    fields: [
      OK,
      f(
        'input',
        '`{path, size, bytes}`: the path as given (`stdin` for `-`), its length as given (compressed, when gzip; `null` for a pipe), its length decompressed (`null` when not known: a pipe, or gzip; `summary.bytes` is where checking ended)',
      ),
      f('verdict', '`"valid"` or `"invalid"`'),
      f('valid', 'the same as `ok`'),
      f('errors', 'problems the restorer refuses: `{severity, code, message, offset, layer, index, record}` each; the first 1,000, then the first of each other code'),
      f('warnings', 'problems the restorer reads past, in the same form and with the same bound'),
      f('errorCount', 'every error found, kept or not'),
      f('warningCount', 'every warning found, kept or not'),
      f('stopped', '`null`, `"max-errors"`, `"fatal"` (truncation, or not a v2 stream) or `"big-endian"`'),
      f(
        'summary',
        '`{format, xlHeader, version: {libxl, libxc}, legacyConverted, guest: "pv"|"hvm"|"pvh"|null, guestWidth, pagetableLevels, xenVersion, records, pages: {count, withData, byType}, vcpus: {count, ids}, p2mEndPfn, emulator, checkpoints, tail, bytes}`; `bytes` is where checking ended (a legacy image: the first bytes, where it stopped); `xlHeader` is `null` or `{flags[], optionalDataLength, domainName, config: {deviceModel}|null}`; `emulator` is `{contexts, contextBytes, xenstoreKeys, firstId}` (the EMULATOR_* records); `checkpoints` is `null` for a plain stream, else `{kind: "remus"|"colo", complete, lastEnd, cut, list: [{index, start, end, pfns, withData, records}]}`; `tail` is `null` or `{kind, bytes}`: what follows the stream (a device-model record, xl\'s migration message)',
      ),
      f('container', "the container summary (as `inspect-legacy`'s); for a XenServer vGPU image, `stoppedAt` says where checking ended"),
      f(
        'restore',
        "for a stream that verifies, as `identify --json`'s: " +
          '`{by: [...], releases, needs: [...], refusedBy: [{host, why, current}], unknown: [{what, why}]}`: what restores it (most usual first), the Xen releases whose restorer reads its stream, what the restore needs that the image does not give, who refuses it and why (`current`: true when the newest Xen release is among them), and what the image does not tell (README, "Will it restore?")',
      ),
    ],
  },
  identify: {
    title: '`xst identify --json` (`{ok, images: [...]}`, one of these each)',
    fields: [
      f(
        'input',
        '`{path, size, bytes}`: the path as given (`stdin` for `-`), its length as given (compressed, when gzip; `null` for a pipe), its length decompressed (`null` when not known: a pipe, or gzip: identify reads headers only)',
      ),
      f('container', 'the container summary, or `null`'),
      f('foreign', 'what a file that is not a Xen image is (`{kind, label, advice}` and the facts its header gives: `libvirtQemu`, `qemuDeviceState` or `elf`), or `null`'),
      f('xlHeader', 'whether an xl header is in front'),
      f(
        'stream',
        '`{format: "legacy"|"libxc"|"libxl", libxcVersion, libxlVersion, checkpointed}`, or `null`; `checkpointed` is `{kind: "remus"|"colo", complete}` for a replication stream read from a file, else `null`',
      ),
      f('guest', '`"pv"`, `"hvm"`, `"pvh"` (where an xl config says so) or `null`'),
      f('guestWidth', "a PV guest's word size in bits, or `null`"),
      f('toolstackWidth', "the saving toolstack's word size (legacy streams), or `null`"),
      f('domainName', 'from the container, the xl config or the Xenops record, or `null`'),
      f(
        'verdict',
        '`"needs conversion"`, `"v2, restorable"`, `"v2 stream, not verified"` (a pipe or gzip: headers only), `"damaged"`, `"not a Xen image"`, or `"directory"` / `"broken symlink"` (named, not read: `note` says where the link points)',
      ),
      f(
        'restore',
        '`{by: [...], releases, needs: [...], refusedBy: [{host, why, current}], unknown: [{what, why}]}`: what restores it (most usual first), the Xen releases whose restorer reads its stream, what the restore needs that the image does not give, who refuses it and why (`current`: true when the newest Xen release is among them), and what the image does not tell (README, "Will it restore?")',
      ),
      f('note', 'why the verdict, when it is not plain, or `null`'),
      f('error', 'the defect behind `damaged` or `not a Xen image`, in the one error shape (`{code, message, offset, index, context, expected, got}`, `null` where not known), or `null`'),
    ],
  },
  convert: {
    title: '`xst convert --json`',
    fields: [
      OK,
      f('input', '`{path, size, guest, toolstackWidth, xlHeader, bytes, domainName}`: `size` as given (compressed, when gzip; `null` for a pipe), `bytes` decompressed, as read'),
      f('container', "the input's container summary, as `identify --json`'s (the output's family is `output.container`)"),
      f('output', '`{path, format, libxcVersion, bytes, container, written, gzip}`'),
      f('records', '`{libxc: {TYPE: count}, libxl: {TYPE: count}}` written'),
      f('pages', '`{count, withData, dropped, batches}`'),
      f('vcpus', '`{count, ids}`: the vcpus whose state was written'),
      f('qemu', '`{signature, bytes}` of the device state carried, or `null`'),
      f('checkpoint', 'a checkpointed v2 stream made plain: `{kind: "remus" | "colo", written, complete}`, the checkpoint written of how many the input completes; `null` for any other input'),
      WARNINGS,
      f('notes', 'what the conversion did around the stream (a container repaired or written)'),
      f('restore', "`{before, after}`, each as `identify --json`'s `restore`: OLD as it was, NEW as written; `null` with `--no-verify` (the verifier's facts of NEW are what it is made of)"),
      f('verify', 'the report of the verifier that watched the stream being written (`valid`, `errors`, `warnings`, `stopped`, `summary`, as `verify --json`), or `null` when not verified'),
    ],
  },
  'dump-core': {
    title: '`xst dump-core --json`',
    fields: [
      OK,
      f('input', '`{path, size, guest, guestWidth, xlHeader, domainName, bytes}`: `size` as given (compressed, when gzip; `null` for a pipe), `bytes` decompressed, as read'),
      f('container', "the container summary, as `identify --json`'s"),
      f('stream', '`{format: "legacy"|"libxc"|"libxl", libxcVersion, libxlVersion}`, as `identify --json`\'s (the versions `null` for a legacy image)'),
      f(
        'output',
        '`{path, format: "elf"|"vmcore"|"raw", bytes, written, sections, segments, notes}`: `sections` for ELF (as readelf -S lists them), `segments` (PT_LOAD count) and `notes` (`[{name, type, bytes}]`) for vmcore; `null` otherwise',
      ),
      f(
        'kernel',
        'the Linux kernel found in the guest\'s memory: `{release, kaslrOffset, physBase, from: {kaslrOffset, physBase}, vmcoreinfo: {pfn, offset, bytes}, pageTables: {vcpu, kaslrOffset, physBase}, problem, crashOptions, crashFile}`; addresses as `"0x…"` strings; `from` says where each came from (`"vmcoreinfo"`, `"page-tables"` or `null`); `problem` why something was not found; `crashOptions` what crash needs besides vmlinux to open this dump, and `crashFile` how it names the file (`"{core}@0x0"` for raw)',
      ),
      f('pages', '`{count, copies, pfnRange: {first, last}}`'),
      f('vcpus', '`{count, ids}`'),
      f('xenVersion', "from a native stream's domain header, or `null`"),
      f('method', 'how the pages travelled: `"positional"`, `"windows"` or `"spool"`'),
      f('passes', 'how many passes over the input'),
      f('checkpoint', 'a replication stream (Remus, COLO): `{kind, dumped, complete}`, the checkpoint dumped (the last complete one unless `--checkpoint K`); `null` for a plain stream'),
      f(
        'p2m',
        "a PV guest's own p2m pages: `{pages, rewritten}`, how many of the dump's pages are the guest's p2m leaf pages (X86_PV_P2M_FRAMES, the legacy p2m frame list) and whether they were rewritten to the identity as the restorer rewrites them (`false` with `--keep-p2m`, or when there are none); `null` for HVM",
      ),
      WARNINGS,
    ],
  },
} as const satisfies Record<string, {title: string; fields: readonly JsonField[]}>

export type JsonDocumentKind = keyof typeof JSON_DOCUMENTS
