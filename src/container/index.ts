// Containers around the streams (listed in the README's "Containers"
// section): one module per container (layout, reader, writer), the qemu
// record variants they accept, the s-expression readers their text needs,
// and the sniffer that tells them apart. gzip is an io concern: src/io/gzip-source.ts.
export * from './identify.js'
export * from './libvirt.js'
export * from './qemu-record.js'
export * from './sexpr.js'
export * from './xend.js'
export * from './xenserver.js'
export {GzipSource, isGzip} from '../io/gzip-source.js'
