// Which libxc stream version a conversion writes, by the Xen release that
// will restore it. Xen 4.6 to 4.13 restore version 2 only (their
// xc_sr_restore.c read_headers() refuses any other); 4.14 and later take 2
// and 3, and Xen's own converter writes 3 since 4.14. So a conversion for a
// 4.6-4.13 host writes version 2 (as that release's convert-legacy-stream
// did), and otherwise version 3.
import * as fs from 'node:fs'
import {UsageError} from '../errors.js'

export interface XenRelease {
  major: number
  minor: number
}

/** A release as an operator writes it ("4.13", "4.13.5", "4.21"); a usage error otherwise. */
export function parseXenRelease(text: string, flag = '--target-xen'): XenRelease {
  const m = /^(\d+)\.(\d+)(?:\.\d+)?$/.exec(text.trim())
  if (!m) throw new UsageError(`${flag}: expected a Xen release such as 4.13 or 4.19, not ${JSON.stringify(text)}`)
  const r = {major: Number(m[1]), minor: Number(m[2])}
  if (before(r, {major: 4, minor: 6})) throw new UsageError(`${flag} ${text}: Xen before 4.6 restores legacy images itself; there is nothing to convert for it`)
  return r
}

const before = (a: XenRelease, b: XenRelease) => a.major < b.major || (a.major === b.major && a.minor < b.minor)

/** The libxc stream version `xen`'s restorer takes (the newest it takes). */
export function libxcVersionFor(xen: XenRelease): 2 | 3 {
  return before(xen, {major: 4, minor: 14}) ? 2 : 3
}

/**
 * The release of the hypervisor this host runs, from /sys/hypervisor/version
 * (Xen's sysfs, in dom0); undefined when it is not there (not Xen, or no
 * sysfs), or says something else.
 */
export function runningXen(root = '/sys/hypervisor'): XenRelease | undefined {
  try {
    if (fs.readFileSync(`${root}/type`, 'utf8').trim() !== 'xen') return undefined
    const major = Number(fs.readFileSync(`${root}/version/major`, 'utf8').trim())
    const minor = Number(fs.readFileSync(`${root}/version/minor`, 'utf8').trim())
    return Number.isInteger(major) && Number.isInteger(minor) ? {major, minor} : undefined
  } catch {
    return undefined
  }
}
