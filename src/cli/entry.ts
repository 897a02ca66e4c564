// The bundle's entry (scripts/bundle.mjs builds dist/xst.cjs from it): what
// bin/run.js calls, and the command table oclif's explicit strategy reads
// (package.json oclif.commands.target points at the bundle, so the commands
// and the oclif that runs them are one copy).
import {Config, settings} from '@oclif/core'
import {nativeStatus} from '../io/native.js'

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

// `xst --version` (and help's VERSION) say whether the native addon is in
// use: oclif prints config.userAgent for both. Made a getter so that only
// they look for the addon, not every start.
const load = Config.load.bind(Config)
Config.load = async (...args: Parameters<typeof Config.load>) => {
  const config = await load(...args)
  const base = config.userAgent
  Object.defineProperty(config, 'userAgent', {configurable: true, enumerable: true, get: () => `${base} (${nativeStatus()})`})
  return config
}

export {execute} from '@oclif/core'
export {COMMANDS} from './commands.js'
