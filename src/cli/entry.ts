// The bundle's entry (scripts/bundle.mjs builds dist/xst.cjs from it): what
// bin/run.js calls, and the command table oclif's explicit strategy reads
// (package.json oclif.commands.target points at the bundle, so the commands
// and the oclif that runs them are one copy).
export {execute} from '@oclif/core'
export {COMMANDS} from '../commands/index.js'
