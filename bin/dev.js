#!/usr/bin/env node
// Development entry: runs the built commands without relying on the
// committed manifest, so a freshly built command is found at once.
import {recordStartDescriptors} from '../dist/io/descriptors.js'

recordStartDescriptors()
const {loadBundle} = await import('./load.js')
await loadBundle().execute({development: true, dir: import.meta.url})
