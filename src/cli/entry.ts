// The bundle's entry (scripts/bundle.mjs builds dist/xst.cjs from it): what
// bin/run.js calls, and the command table oclif's explicit strategy reads
// (package.json oclif.commands.target points at the bundle, so the commands
// and the oclif that runs them are one copy).
import {Config, execute as oclifExecute, settings} from '@oclif/core'
import {nativeStatus} from '../io/native.js'
import {COMMANDS} from './commands.js'
import {unknownCommandLine} from './unknown-command.js'

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

export {COMMANDS}

/**
 * oclif's execute(), with what comes before a command put in xst's words:
 * `-V` and `version` are `--version`, and an unknown command is one line
 * naming the nearest command (exit 2), not oclif's "command X not found".
 */
export async function execute(options: Parameters<typeof oclifExecute>[0]): Promise<unknown> {
  const args = options.args ?? process.argv.slice(2)
  const [first, ...rest] = args
  if (first === '-V' || first === 'version') return oclifExecute({...options, args: ['--version', ...rest]})
  if (first !== undefined && !first.startsWith('-') && !Object.hasOwn(COMMANDS, first)) {
    process.stderr.write(`${unknownCommandLine(first, Object.keys(COMMANDS))}\n`)
    process.exitCode = 2
    return undefined
  }
  return oclifExecute({...options, args})
}
