// What an input is, from its first bytes: a container (gzip, libvirt,
// XenServer, xend), an xl header, a v2 stream, or none of these (then it
// is a legacy stream or not an image at all: src/legacy/detect.ts tells).
// A pure function over peeked bytes; the magics come from the modules that
// read each container (the registry lists them) and from stream.ts.
import {GZIP_KIND} from './gzip.js'
import {markedContainers, type MarkedContainerKind} from './registry.js'
import {STREAM_KINDS} from './stream.js'

export type InputKind = 'gzip' | MarkedContainerKind | 'xl' | 'libxc' | 'libxl' | 'empty' | 'unknown-or-legacy'

export interface KindInfo {
  readonly kind: Exclude<InputKind, 'empty' | 'unknown-or-legacy'>
  /** The bytes that mark it, from offset 0. */
  readonly magic: Buffer
  /** Container family (gzip, libvirt, xenserver, xend), or the stream it is (xl, v2). */
  readonly family: string
  readonly label: string
  /** A further check of the bytes when there are more than the magic (gzip's flags). */
  readonly check?: (head: Buffer) => boolean
}

/** Every kind sniff recognises, with its magic: gzip, the containers, the streams. */
export const KINDS: readonly KindInfo[] = [GZIP_KIND, ...markedContainers().map((m): KindInfo => ({kind: m.kind, magic: m.detect.magic, family: m.detect.family, label: m.label})), ...STREAM_KINDS]

/** Enough bytes for every magic above. */
export const SNIFF_LENGTH = Math.max(...KINDS.map((k) => k.magic.length))

export interface Sniffed {
  kind: InputKind
  info?: KindInfo
  /**
   * Kinds whose magic `head` is a strict prefix of. Meaningful only when
   * `head` is the whole input (it ended before SNIFF_LENGTH bytes): then the
   * input is that kind cut short, and a reader of it reports a truncation.
   */
  cut: InputKind[]
}

/**
 * What the input starting with `head` is. Give it SNIFF_LENGTH bytes (or
 * the whole input when shorter). gzip needs a plausible member header
 * (1f 8b, method 8 = deflate, no reserved flag bits), so that a legacy
 * image whose p2m_size happens to start 1f 8b is less likely taken for it.
 */
export function sniff(head: Buffer): Sniffed {
  if (head.length === 0) return {kind: 'empty', cut: []}
  for (const info of KINDS) {
    if (head.length < info.magic.length || !head.subarray(0, info.magic.length).equals(info.magic)) continue
    if (info.check && head.length > info.magic.length && !info.check(head)) continue
    return {kind: info.kind, info, cut: []}
  }
  const cut = KINDS.filter((k) => head.length < k.magic.length && k.magic.subarray(0, head.length).equals(head)).map((k) => k.kind)
  return {kind: 'unknown-or-legacy', cut}
}

export function kindInfo(kind: InputKind): KindInfo | undefined {
  return KINDS.find((k) => k.kind === kind)
}
