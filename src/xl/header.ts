// Reading the optional xl save-file header (layout.ts) in front of a legacy
// or v2 stream. Shared by every command.
import {FormatError, TruncatedError} from '../errors.js'
import type {ByteReader} from '../io/reader.js'
import {hex} from '../text.js'
import {MAX_XL_OPTIONAL_DATA, XL_BYTEORDER, XL_MAGIC, XL_MANDATORY_CONFIG_JSON, XL_MANDATORY_KNOWN, XL_MANDATORY_STREAM_V2, XlHeader, xlFlagNames} from './layout.js'

export interface XlHeaderInfo {
  offset: number
  /** Header plus optional data, exactly as read (copied unchanged by convert). */
  raw: Buffer
  mandatoryFlags: number
  optionalFlags: number
  flags: string[]
  streamV2: boolean
  optionalDataLength: number
  config?: DomainConfig
}

export interface DomainConfig {
  format: 'json' | 'xl'
  length: number
  text: string
  /** Domain name from the config, when it names one. */
  name?: string
  /** The domain type the config asks for (c_info.type, or xl's `type =`), when it says: a libxc stream calls PVH HVM. */
  type?: 'pv' | 'hvm' | 'pvh'
  /**
   * The device model the config asks for (libxl's JSON b_info.device_model_version,
   * or xl's `device_model_version =`), when it says; libxl picks its default otherwise.
   */
  deviceModel?: DeviceModel
}

/** The two device models libxl knows (xl's spelling). */
export type DeviceModel = 'qemu-xen-traditional' | 'qemu-xen'

/**
 * True when the next bytes are an xl header's magic. A stream that ends
 * part way through the magic is a truncated xl header.
 */
export async function hasXlHeader(reader: ByteReader): Promise<boolean> {
  const head = await reader.peek(XL_MAGIC.length)
  if (head.length > 0 && head.length < XL_MAGIC.length && XL_MAGIC.startsWith(head.toString('latin1'))) {
    throw new TruncatedError(reader.offset + head.length, 'xl header', XL_MAGIC.length - head.length)
  }
  return head.length === XL_MAGIC.length && head.toString('latin1') === XL_MAGIC
}

/** Read an xl header at the reader's position (the caller checked hasXlHeader). */
export async function readXlHeader(reader: ByteReader): Promise<XlHeaderInfo> {
  const offset = reader.offset
  const fixed = await reader.read(XlHeader.size, 'xl header')
  const h = XlHeader.get(fixed)
  if (h.byteorder !== XL_BYTEORDER) {
    const be = h.byteorder === 0x04030201
    throw new FormatError(be ? 'xl-big-endian' : 'xl-byteorder', be ? 'xl header was written by a big-endian host; xst reads little-endian images only' : 'xl header byte-order mark is wrong', {
      offset: offset + XlHeader.offsets.byteorder,
      context: 'xl header',
      expected: '0x01020304',
      got: hex(h.byteorder, 8),
    })
  }
  const unknown = h.mandatoryFlags & ~XL_MANDATORY_KNOWN
  if (unknown) {
    throw new FormatError(
      'xl-unknown-mandatory-flag',
      `xl header sets unknown mandatory flag bits ${hex(unknown)}, so the image cannot be read safely (xl refuses to restore an image with a mandatory flag it does not know; Xen's converter copies the flags without looking)`,
      {offset: offset + XlHeader.offsets.mandatoryFlags, context: 'xl header', expected: `only bits ${hex(XL_MANDATORY_KNOWN)}`, got: hex(h.mandatoryFlags)},
    )
  }
  reader.checkLength(h.optionalDataLen, 'xl optional data', MAX_XL_OPTIONAL_DATA, 'MAX_XL_OPTIONAL_DATA', {offset: offset + XlHeader.offsets.optionalDataLen})
  const optional = await reader.read(h.optionalDataLen, 'xl optional data')
  return {
    offset,
    raw: Buffer.concat([fixed, optional]),
    mandatoryFlags: h.mandatoryFlags,
    optionalFlags: h.optionalFlags,
    flags: xlFlagNames(h.mandatoryFlags),
    streamV2: (h.mandatoryFlags & XL_MANDATORY_STREAM_V2) !== 0,
    optionalDataLength: h.optionalDataLen,
    config: parseConfig(optional, (h.mandatoryFlags & XL_MANDATORY_CONFIG_JSON) !== 0, offset + XlHeader.size),
  }
}

/** The optional data holds `u32 config_len` and the domain config. */
function parseConfig(optional: Buffer, json: boolean, offset: number): DomainConfig | undefined {
  if (optional.length < 4) return undefined
  const len = optional.readUInt32LE(0)
  if (len > optional.length - 4) {
    throw new FormatError('xl-config-length', 'xl domain config is longer than the optional data holding it', {
      offset,
      context: 'xl header',
      expected: `at most ${optional.length - 4} bytes`,
      got: `${len}`,
    })
  }
  const text = optional.toString('utf8', 4, 4 + len).replace(/\0+$/, '')
  const {name, type, deviceModel} = json ? jsonFacts(text) : xlFacts(text)
  return {format: json ? 'json' : 'xl', length: len, text, name, type, deviceModel}
}

const DOMAIN_TYPES = new Set(['pv', 'hvm', 'pvh'])
const domainType = (t: unknown) => (typeof t === 'string' && DOMAIN_TYPES.has(t) ? (t as DomainConfig['type']) : undefined)

type ConfigFacts = Pick<DomainConfig, 'name' | 'type' | 'deviceModel'>

/** What a domain config's text says (name, type, device model), JSON or xl's own syntax. */
export function configFacts(text: string, json: boolean): ConfigFacts {
  return json ? jsonFacts(text) : xlFacts(text)
}

/** libxl's JSON names of the device models (libxl_types.idl's device_model_version enum). */
const JSON_DEVICE_MODELS: Record<string, DeviceModel> = {qemu_xen_traditional: 'qemu-xen-traditional', qemu_xen: 'qemu-xen'}
/** xl's spellings (parse_config_data(): any other value is refused). */
const XL_DEVICE_MODELS = new Set<string>(['qemu-xen-traditional', 'qemu-xen'])

/** Name, type and device model from libxl's JSON domain config (c_info, b_info). */
function jsonFacts(text: string): ConfigFacts {
  try {
    const config = JSON.parse(text)
    const info = config?.c_info
    const dm = config?.b_info?.device_model_version
    return {
      name: typeof info?.name === 'string' ? info.name : undefined,
      type: domainType(info?.type),
      deviceModel: typeof dm === 'string' ? JSON_DEVICE_MODELS[dm] : undefined,
    }
  } catch {
    return {}
  }
}

/** Name, type and device model from an xl config file's `name =`, `type =` and `device_model_version =` lines. */
function xlFacts(text: string): ConfigFacts {
  const setting = (key: string) => new RegExp(`^\\s*${key}\\s*=\\s*(["'])(.*?)\\1`, 'm').exec(text)?.[2]
  const dm = setting('device_model_version')
  return {name: setting('name'), type: domainType(setting('type')), deviceModel: dm !== undefined && XL_DEVICE_MODELS.has(dm) ? (dm as DeviceModel) : undefined}
}
