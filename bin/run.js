#!/usr/bin/env node
// Before anything else opens a descriptor: note which ones the caller gave
// this process, so --in N / --out N can refuse a number it did not pass
// (see src/io/descriptors.ts). oclif is loaded only afterwards.
import {recordStartDescriptors} from '../dist/io/descriptors.js'

recordStartDescriptors()
const {execute} = await import('@oclif/core')
await execute({dir: import.meta.url})
