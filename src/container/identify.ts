// What an input is, from its first bytes: a container (gzip, libvirt,
// XenServer, xend), an xl header, a v2 stream, or none of these (then it
// is a legacy stream or not an image at all: src/legacy/detect.ts tells).
// A pure function over peeked bytes; the magics come from the modules that
// read each container.
import {XL_MAGIC} from '../xl/layout.js'
import {isGzip} from '../io/gzip-source.js'
import {LIBVIRT_MAGIC} from './libvirt.js'
import {XENSERVER_LEGACY_SIGNATURE, XENSERVER_STRUCTURED_SIGNATURE} from './xenserver.js'
import {XEND_SIGNATURE} from './xend.js'

export type InputKind =
  | 'gzip'
  | 'libvirt'
  | 'xenserver-legacy'
  | 'xenserver-structured'
  | 'xend'
  | 'xl'
  | 'libxc'
  | 'libxl'
  | 'empty'
  | 'unknown-or-legacy'

export interface KindInfo {
  readonly kind: Exclude<InputKind, 'empty' | 'unknown-or-legacy'>
  /** The bytes that mark it, from offset 0. */
  readonly magic: Buffer
  /** Container family, or the stream it is. */
  readonly family: 'gzip' | 'libvirt' | 'xenserver' | 'xend' | 'xl' | 'v2'
  readonly label: string
}

const LIBXC_MAGIC = Buffer.concat([Buffer.alloc(8, 0xff), Buffer.from('XENF', 'latin1')])

/** Every kind sniff recognises, with its magic. */
export const KINDS: readonly KindInfo[] = [
  {kind: 'gzip', magic: Buffer.from([0x1f, 0x8b, 0x08]), family: 'gzip', label: 'gzip-compressed data'},
  {kind: 'libvirt', magic: Buffer.from(LIBVIRT_MAGIC, 'latin1'), family: 'libvirt', label: 'libvirt libxl-driver save image'},
  {kind: 'xenserver-legacy', magic: Buffer.from(XENSERVER_LEGACY_SIGNATURE, 'latin1'), family: 'xenserver', label: 'XenServer legacy suspend image'},
  {kind: 'xenserver-structured', magic: Buffer.from(XENSERVER_STRUCTURED_SIGNATURE, 'latin1'), family: 'xenserver', label: 'XenServer structured suspend image'},
  {kind: 'xend', magic: Buffer.from(XEND_SIGNATURE, 'latin1'), family: 'xend', label: 'xend (xm save) image'},
  {kind: 'xl', magic: Buffer.from(XL_MAGIC, 'latin1'), family: 'xl', label: 'xl save file'},
  {kind: 'libxc', magic: LIBXC_MAGIC, family: 'v2', label: 'libxc v2 stream'},
  {kind: 'libxl', magic: Buffer.from('LibxlFmt', 'latin1'), family: 'v2', label: 'libxl v2 stream'},
]

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
    if (info.kind === 'gzip' && head.length > info.magic.length && !isGzip(head)) continue
    return {kind: info.kind, info, cut: []}
  }
  const cut = KINDS.filter((k) => head.length < k.magic.length && k.magic.subarray(0, head.length).equals(head)).map((k) => k.kind)
  return {kind: 'unknown-or-legacy', cut}
}

export function kindInfo(kind: InputKind): KindInfo | undefined {
  return KINDS.find((k) => k.kind === kind)
}
