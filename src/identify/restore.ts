// What restores an image, from what identify saw of it: the container, an
// xl header, the stream. Each answer is the program that reads that exact
// layout (FORMAT.md §1, §4, §6; the `restorable_by` of the conformance
// vectors): xl needs its own header in front of a libxl stream, libvirt
// its own header, xenopsd its suspend image; a bare libxc stream is read
// only by a toolstack's helper through libxenguest. A legacy stream is
// restored by Xen <= 4.5, and by Xen 4.6+ only through a conversion.
import type {ContainerKind} from '../container/open.js'

export interface RestoreFacts {
  container: ContainerKind | null
  xlHeader: boolean
  stream: 'legacy' | 'libxc' | 'libxl' | null
}

/** The programs that restore such an image, most usual first; empty when none does (or it is not known). */
export function restoredBy(f: RestoreFacts): string[] {
  const {container, xlHeader, stream} = f
  if (stream === null) return []
  switch (container ?? 'none') {
    case 'libvirt':
      return stream === 'legacy'
        ? ['virsh restore on Xen <= 4.5 (libvirt libxl driver)', 'virsh restore on Xen 4.6+ after `xst convert` (libvirt runs no converter on a version 1 image it cannot read)']
        : ['virsh restore / managedsave resume (libvirt libxl driver)']
    case 'xenserver-legacy':
      return ['xenopsd (XenServer / XCP-ng VM resume; the legacy stream is converted on the way)']
    case 'xenserver-structured':
      return stream === 'legacy' ? ['xenopsd (XenServer / XCP-ng VM resume; its Libxc_legacy section is converted on the way)'] : ['xenopsd (XenServer / XCP-ng VM resume)']
    case 'xend':
      return ['xm restore (xend, Xen <= 4.4)', 'xl restore CONFIG on Xen 4.6+ after `xst convert` (xl needs its own header and a config)']
    case 'none':
      if (stream === 'legacy')
        return xlHeader
          ? ['xl restore (Xen <= 4.5; Xen 4.6+ runs the legacy converter)']
          : ['a toolstack helper through libxenguest of Xen <= 4.5', 'xl restore after `xst convert` gives it an xl header']
      if (stream === 'libxl') return xlHeader ? ['xl restore'] : ['libxl_domain_create_restore() (the libxl API; xl restore needs an xl header in front)']
      return xlHeader ? [] : ["xc_domain_restore() (libxenguest: a toolstack helper such as XenServer's xenguest; xl restore needs a libxl stream)"]
  }
}
