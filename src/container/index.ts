// Containers around the streams (listed in docs/containers.md): one module per container behind one interface (./kinds,
// ./module.ts, listed in ./registry.ts), their layouts, readers and
// writers, the qemu record variants they accept, the s-expression readers
// their text needs, and the sniffer that tells them apart. gzip is a layer
// over any of them (./gzip.ts; decompressing: src/io/gzip-source.ts).
export * from './identify.js'
export * from './libvirt.js'
export * from '../legacy/qemu-record.js'
export * from './registry.js'
export * from './sexpr.js'
export * from './xend.js'
export * from './xenserver.js'
export {GzipSource, isGzip} from '../io/gzip-source.js'
