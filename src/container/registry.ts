// Every container xst reads, one module each (./kinds), behind one
// interface (ContainerModule, ./module.ts). Adding a container is one
// module and one line here: its kind joins ContainerKind and Container,
// and every map keyed by ContainerKind elsewhere stops compiling until it
// says what to do with it. The order is sniff's (what an input cut short
// inside two magics names first).
import type {ContainerModule} from './module.js'
import {libvirt} from './kinds/libvirt.js'
import {none} from './kinds/none.js'
import {xend} from './kinds/xend.js'
import {xenserverLegacy} from './kinds/xenserver-legacy.js'
import {xenserverStructured} from './kinds/xenserver-structured.js'

export const CONTAINERS = {
  none,
  libvirt,
  'xenserver-legacy': xenserverLegacy,
  'xenserver-structured': xenserverStructured,
  xend,
} as const

/** The container a module reads (its kind and what its header said). */
type ContainerOf<M> = M extends ContainerModule<infer C> ? C : never

export type ContainerKind = keyof typeof CONTAINERS

/** An opened container: one of the modules' own, told apart by `kind`. */
export type Container = {[K in ContainerKind]: ContainerOf<(typeof CONTAINERS)[K]>}[ContainerKind]

/** Each module is listed under its own kind. */
const _keyed: {[K in ContainerKind]: ContainerModule<Extract<Container, {kind: K}>>} = CONTAINERS
void _keyed

/** The module of a container kind: what a command calls for the container it opened. */
export function containerModule(kind: ContainerKind): ContainerModule<Container> {
  return CONTAINERS[kind]
}

/** The container kinds a magic marks (every one but 'none'). */
export type MarkedContainerKind = Exclude<ContainerKind, 'none'>

/** The module whose magic sniff found (`kind` is sniff's), if it is a container's. */
export function containerBySniff(kind: string): ContainerModule<Container> | undefined {
  const m = Object.hasOwn(CONTAINERS, kind) ? containerModule(kind as ContainerKind) : undefined
  return m?.detect ? m : undefined
}

/** A module sniff recognises by its magic. */
export type MarkedContainer = ContainerModule<Container> & {readonly kind: MarkedContainerKind; readonly detect: {magic: Buffer; family: string}}

/** The modules sniff recognises by their magics, in order. */
export function markedContainers(): MarkedContainer[] {
  const all: Array<ContainerModule<Container>> = Object.values(CONTAINERS)
  return all.filter((m): m is MarkedContainer => m.detect !== null)
}
