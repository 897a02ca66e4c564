// xend's `xm save` file (`LinuxGuestRecord`): the signature, an SXP domain
// config (layout and reader: ../xend.ts), then a legacy stream with no xl
// header; for HVM, qemu state to the end of the file. convert writes an xl
// save file in its place (xl restore needs an xl header).
import {XEND_QEMU_RECORDS} from '../../legacy/qemu-record.js'
import {readXendHeader, XEND_SIGNATURE, type XendHeaderInfo} from '../xend.js'
import type {ContainerModule} from '../module.js'
import {streamFollowsHeader} from './stream-follows.js'

export interface XendContainer {
  kind: 'xend'
  header: XendHeaderInfo
}

const around = streamFollowsHeader<XendContainer>()

export const xend: ContainerModule<XendContainer> = {
  ...around,
  kind: 'xend',
  label: 'xend (xm save) image',
  detect: {magic: Buffer.from(XEND_SIGNATURE, 'latin1'), family: 'xend'},
  async open(reader) {
    return {kind: 'xend', header: await readXendHeader(reader)}
  },
  qemuRecords: XEND_QEMU_RECORDS,
  restoredBy: () => ['xm restore (xend, Xen <= 4.4)', 'xl restore CONFIG on Xen 4.6+ after `xst convert` (xl needs its own header and a config)'],

  describe(c) {
    const x = c.header.config
    return {xend: {configLength: c.header.configLength, domainName: x.name ?? null, memoryMiB: x.memoryMiB ?? null, vcpus: x.vcpus ?? null, imageKind: x.imageKind ?? null}}
  },
  domainName: (s) => s.xend?.domainName ?? null,
  words: (s) => s.label,
  lines(s, pad) {
    const x = s.xend
    if (!x) return []
    const facts = [`SXP config ${x.configLength} bytes`]
    if (x.domainName) facts.push(`domain "${x.domainName}"`)
    if (x.memoryMiB !== null) facts.push(`memory ${x.memoryMiB} MiB`)
    if (x.vcpus !== null) facts.push(`${x.vcpus} vcpus`)
    if (x.imageKind) facts.push(`image ${x.imageKind}`)
    return [pad('xend config') + facts.join(', ')]
  },
  /**
   * The config's `(image (hvm ...))` or `(image (linux ...))` is a claim
   * about the guest: the stream decides, and a warning says when they differ.
   */
  guestClaim(c, guest) {
    const kind = c.header.config.imageKind
    const claims = kind === 'hvm' ? 'hvm' : kind === 'linux' ? 'pv' : undefined
    if (!claims || claims === guest) return undefined
    return `the xend config says the guest is ${claims.toUpperCase()} (image ${kind}), but the stream is a${guest === 'hvm' ? 'n HVM' : ' PV'} image: the stream is what is read`
  },

  convert: {...around.convert, keep: 'xl'},
}
