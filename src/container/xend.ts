// xend `xm save` files (Xen <= 4.4; tools/python/xen/xend/XendCheckpoint.py
// writes them): `LinuxGuestRecord`, an i32 big-endian length, the domain
// config as SXP text, then a legacy stream with no xl header; for HVM,
// after the HVM tail, the 21-byte
// `QemuDeviceModelRecord` signature and qemu state to the end of the file
// (the QEMU_TO_END variant in qemu-record.ts).
//
// `xl restore` wants an xl header, so a conversion writes one (STREAMv2,
// no optional data: the SXP is not an xl config) in front of the libxl
// stream.
import {FormatError} from '../errors.js'
import type {ByteReader} from '../io/reader.js'
import {chars, layout, type Token} from '../format/layout.js'
import {XL_BYTEORDER, XL_MAGIC, XL_MANDATORY_STREAM_V2, XlHeader} from '../xl/layout.js'
import {atomValue, children, head, parseXendSxp, type Sexp, SexpError} from './sexpr.js'

export const XEND_SIGNATURE = 'LinuxGuestRecord'
/** Bound on the SXP config before it is read. */
export const MAX_XEND_CONFIG = 16 << 20

/** xend packs the length with Python's "!i": a signed 32-bit big-endian integer. */
const i32be: Token<number> = {
  size: 4,
  get: (b, o) => b.readInt32BE(o),
  put: (b, o, v) => void b.writeInt32BE(v, o),
}

export const XendHeader = layout('xend save header', {signature: chars(16), configLength: i32be})

export interface XendConfig {
  /** Domain name, `(name ...)`. */
  name?: string
  /** Memory in MiB, `(memory ...)`, when it is a number. */
  memoryMiB?: number
  vcpus?: number
  uuid?: string
  /**
   * `(image (hvm ...))`: what the config says the guest is. A claim, not a
   * fact: the stream decides (the guest type is detected from it).
   */
  hvm: boolean
  /** Image kind, the head of the first list inside `(image ...)`: linux, hvm... */
  imageKind?: string
  tree: Sexp
}

export interface XendHeaderInfo {
  offset: number
  configLength: number
  /** The SXP text as stored (latin1). */
  configText: string
  config: XendConfig
  /** Signature, length and config exactly as read. */
  headerBytes: Buffer
  streamOffset: number
}

export function isXendHeader(head: Buffer): boolean {
  return head.length >= XEND_SIGNATURE.length && head.toString('latin1', 0, XEND_SIGNATURE.length) === XEND_SIGNATURE
}

/** Read the xend signature, length and SXP config at the reader's position. */
export async function readXendHeader(reader: ByteReader): Promise<XendHeaderInfo> {
  const offset = reader.offset
  const fixed = await reader.read(XendHeader.size, 'xend save header')
  const h = XendHeader.get(fixed)
  if (h.signature !== XEND_SIGNATURE) {
    throw new FormatError('xend-bad-signature', 'not an xend save file: the signature is wrong', {
      offset,
      context: 'xend header',
      expected: JSON.stringify(XEND_SIGNATURE),
      got: JSON.stringify(h.signature),
    })
  }
  const lenAt = offset + XendHeader.offsets.configLength
  if (h.configLength <= 0) {
    throw new FormatError('xend-config-length', `xend config length ${h.configLength} is not a length`, {
      offset: lenAt,
      context: 'xend header',
      expected: 'a positive length',
      got: String(h.configLength),
    })
  }
  reader.checkLength(h.configLength, 'xend config', MAX_XEND_CONFIG, 'MAX_XEND_CONFIG', {offset: lenAt})
  const configAt = reader.offset
  const configBytes = await reader.read(h.configLength, 'xend config')
  const configText = configBytes.toString('latin1')
  return {
    offset,
    configLength: h.configLength,
    configText,
    config: parseXendConfig(configText, configAt),
    headerBytes: Buffer.concat([fixed, configBytes]),
    streamOffset: reader.offset,
  }
}

/**
 * Parse xend's SXP domain config (`offset`: where the text starts in the
 * image, for messages). It must be a `(domain ...)` list: xend refuses to
 * restore anything else.
 */
export function parseXendConfig(text: string, offset = 0): XendConfig {
  let tree: Sexp
  try {
    tree = parseXendSxp(text).value
  } catch (err) {
    if (err instanceof SexpError) {
      if (err.tooMany) throw new FormatError('too-many-elements', `xend config holds ${err.message}`, {offset: offset + err.at, context: 'xend config'})
      throw new FormatError('xend-config-syntax', `xend config is not a well-formed s-expression: ${err.message}`, {offset: offset + err.at, context: 'xend config'})
    }
    throw err
  }
  if (head(tree) !== 'domain') {
    throw new FormatError('xend-config-not-domain', 'xend config is not a (domain ...) list', {
      offset: offset + tree.offset,
      context: 'xend config',
      expected: '(domain ...)',
      got: tree.kind === 'atom' ? JSON.stringify(tree.value) : `(${head(tree) ?? '...'} ...)`,
    })
  }
  const num = (key: string) => {
    const v = atomValue(tree, key)
    return v !== undefined && /^[0-9]+$/.test(v) ? Number(v) : undefined
  }
  const image = children(tree, 'image')[0]
  const kind = image?.items.slice(1).find((c) => c.kind === 'list')
  const imageKind = kind ? head(kind) : undefined
  return {
    name: atomValue(tree, 'name'),
    memoryMiB: num('memory'),
    vcpus: num('vcpus'),
    uuid: atomValue(tree, 'uuid'),
    hvm: imageKind === 'hvm',
    imageKind,
    tree,
  }
}

/** A new xend header around `configText` (for building test images). */
export function encodeXendHeader(configText: string): Buffer {
  const config = Buffer.from(configText, 'latin1')
  return Buffer.concat([XendHeader.encode({signature: XEND_SIGNATURE, configLength: config.length}), config])
}

/**
 * The xl save-file header a conversion of an xend file writes (xl restore
 * needs one): mandatory flags = STREAMv2 only, no optional flags, no
 * optional data (the SXP config is not an xl config).
 */
export function xlHeaderForXend(): Buffer {
  return XlHeader.encode({magic: XL_MAGIC, byteorder: XL_BYTEORDER, mandatoryFlags: XL_MANDATORY_STREAM_V2, optionalFlags: 0, optionalDataLen: 0})
}
