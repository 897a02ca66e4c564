#!/usr/bin/env node
// Before anything else opens a descriptor: note which ones the caller gave
// this process, so --in N / --out N can refuse a number it did not pass
// (see src/io/descriptors.ts). oclif is loaded only afterwards, from the
// bundle (see load.js, and why bin/ is CommonJS).
'use strict'
require('../dist/start-descriptors.cjs').recordStartDescriptors()
// oclif checks the Node version against our package.json at every start
// (loading semver for it, ~4 ms); npm checks "engines" when installing.
process.env.OCLIF_DISABLE_ENGINE_WARNING ??= 'true'
const {loadBundle, LOAD_OPTIONS} = require('./load.js')
loadBundle().execute({loadOptions: LOAD_OPTIONS})
