#!/usr/bin/env node
// Development entry: runs the built commands without relying on the
// committed manifest, so a freshly built command is found at once.
'use strict'
require('../dist/start-descriptors.cjs').recordStartDescriptors()
const {loadBundle, LOAD_OPTIONS} = require('./load.js')
loadBundle().execute({development: true, loadOptions: LOAD_OPTIONS})
