// Every command, for oclif's explicit command strategy (package.json
// oclif.commands: {"strategy": "explicit", "target":
// "./dist/xst.cjs", "identifier": "COMMANDS"}; the bundle re-exports this
// table, see src/cli/entry.ts): oclif reads it instead of searching
// dist/commands for files. It lives outside src/commands, which holds only
// the commands themselves.
//
// To add a command: import its class here and add one entry (key = the
// command id) below, then `npm run build` (which regenerates the manifest).
// Keep command modules light: the class and its flags load with every run of
// any command, so a command imports what its run() needs inside run()
// (`await import(...)`), not at the top of the module; `import type` is free.
import Convert from '../commands/convert.js'
import DumpCore from '../commands/dump-core.js'
import Help from '../commands/help.js'
import Identify from '../commands/identify.js'
import InspectLegacy from '../commands/inspect-legacy.js'
import Verify from '../commands/verify.js'

export const COMMANDS = {
  convert: Convert,
  'dump-core': DumpCore,
  help: Help,
  identify: Identify,
  'inspect-legacy': InspectLegacy,
  verify: Verify,
}
