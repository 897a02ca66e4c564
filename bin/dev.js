#!/usr/bin/env node
// Development entry: runs the compiled commands without relying on the
// committed manifest, so a freshly built command is found at once.
import {recordStartDescriptors} from '../dist/io/descriptors.js'

recordStartDescriptors()
const {execute} = await import('@oclif/core')
await execute({development: true, dir: import.meta.url})
