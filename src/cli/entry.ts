// The bundle's entry (scripts/bundle.mjs builds dist/xst.cjs from it): what
// bin/run.js calls, and the command table oclif's explicit strategy reads
// (package.json oclif.commands.target points at the bundle, so the commands
// and the oclif that runs them are one copy).
import {settings} from '@oclif/core'

// xst ships compiled JavaScript. With NODE_ENV=development or test (common in
// a developer's shell, and set by test runners) oclif would otherwise look
// for TypeScript sources and a transpiler to run them with, which more than
// doubled the CPU time of every start.
settings.enableAutoTranspile = false

// stderr to a pipe is written blocking, as a C program writes it: node
// queues what a full pipe does not take, and an image with a warning in each
// of 300,000 page batches, its stderr read slowly, grew xst to 369 MB. A
// terminal is blocking already; a file is written synchronously.
const stderrHandle = (process.stderr as {_handle?: {setBlocking?: (on: boolean) => unknown}})._handle
if (!process.stderr.isTTY && typeof stderrHandle?.setBlocking === 'function') stderrHandle.setBlocking(true)

export {execute} from '@oclif/core'
export {COMMANDS} from './commands.js'
